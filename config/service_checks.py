"""Checks of each service against its server's pinned version and the GPU of its pool."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import catalog
from catalog.servers import NoImage
from config.compute_classes import ComputeClassConfig
from config.expansion import platform_secret_env, secret_reference_problems
from config.platform import GatewayConfig, NodePoolConfig
from config.services import ServiceConfig, gpus_per_replica, load_of, replica_range
from config.shapes import Shape
from loads import load_path
from runtimes import Runtime, runtime_of
from settings.base import closest
from settings.mirror import COMMIT
from settings.problems import Problem
from settings.service_base import ServiceBase
from sizing.models import checkpoint_quantization, is_gated

P = "gke-serving"
AMPERE, BLACKWELL = 8.0, 10.0  # compute capabilities of the fp8 KV kernels and of the nvfp4 formats


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_services(
    services: dict[str, ServiceConfig],
    pools: dict[str, NodePoolConfig],
    gateway: GatewayConfig,
    classes: Mapping[str, ComputeClassConfig] | None = None,
    shapes: Mapping[str, tuple[Shape, ...]] | None = None,
) -> Findings:
    """`shapes`: per service on a compute class, the node shapes it may land on (Environment.shapes); each must
    serve it."""
    found = Findings()
    for name, service in services.items():
        path = f"{P}:services.{name}"
        missing = _unplaced(path, service, pools, classes or {})
        if missing is not None:
            found.problems.append(missing)
            continue
        found.problems.extend(runtime_of(service).check(path, service, found.warnings))
        if service.pool is not None:
            found.problems.extend(_gpu_fit(path, service, pools[service.pool], f"pool {service.pool!r}"))
        else:
            found.problems.extend(_options_fit(path, service, (shapes or {}).get(name, ())))
        found.problems.extend(_checkpoint_format(path, service, found.warnings))
        found.problems.extend(_auth(path, service, gateway))
        found.problems.extend(secret_reference_problems(path, _user_strings(service), _secret_env(service)))
        if runtime_of(service).facts_for(service).hf_home and is_gated(service.model):
            found.warnings.append(
                f"{path}.model: {service.model} is gated on the Hugging Face Hub — accept its license at "
                f"https://huggingface.co/{service.model} with the account that owns hfToken, or the download "
                "fails with 403"
            )
        if not service.auth and runtime_of(service).facts_for(service).api_key_env is not None:
            found.warnings.append(f"{path}.auth: false — the service answers anyone who reaches the gateway")
    _capacity(services, pools, found)
    return found


def _unplaced(
    path: str, service: ServiceConfig, pools: Mapping[str, NodePoolConfig], classes: Mapping[str, ComputeClassConfig]
) -> Problem | None:
    """The service's pool or class when the environment does not define it."""
    if service.pool is not None and service.pool not in pools:
        return Problem(
            f"{path}.pool",
            f"no GPU pool named {service.pool!r}",
            f"use one of {', '.join(pools) or '(none: add a nodePools entry)'}",
        )
    if service.compute_class is not None and service.compute_class not in classes:
        hint = closest(service.compute_class, list(classes))
        return Problem(
            f"{path}.computeClass",
            f"no compute class named {service.compute_class!r}",
            f"did you mean '{hint}'?"
            if hint
            else f"use one of {', '.join(classes) or '(none: add a computeClasses entry)'}",
        )
    return None


def _options_fit(path: str, service: ServiceConfig, shapes: tuple[Shape, ...]) -> Iterator[Problem]:
    """Each option of the service's class, as if it were the only one: a fallback that cannot serve the model
    is refused with its position, not found out during a stockout."""
    for i, shape in enumerate(shapes):
        for problem in _gpu_fit(path, service, shape.pool, shape.where):
            yield Problem(
                # The service names a class, not a pool: a problem with its GPU (no image for it) is the class's.
                problem.path.removesuffix(".pool") + ".computeClass"
                if problem.path.endswith(".pool")
                else problem.path,
                problem.what if shape.where in problem.what else f"on {shape.where}: {problem.what}",
                f"{problem.fix}; or remove option {i} from class {service.compute_class}",
            )
    yield from _one_image(path, service, shapes)


def _one_image(path: str, service: ServiceConfig, shapes: tuple[Shape, ...]) -> Iterator[Problem]:
    """One Deployment runs one image: options whose GPUs need different builds of the server (TEI builds one
    image per compute capability) cannot share a class."""
    images: dict[str, list[str]] = {}
    for shape in shapes:
        gpu = catalog.gpus().get(shape.pool.gpu.type)
        if gpu is not None and _has_image(service, gpu):
            images.setdefault(runtime_of(service).image(service, gpu), []).append(shape.where)
    if len(images) > 1:
        needs = "; ".join(
            f"{', '.join(where)} {'needs' if len(where) == 1 else 'need'} {image}" for image, where in images.items()
        )
        yield Problem(
            f"{path}.computeClass",
            f"{runtime_of(service).title} needs a different image per GPU architecture, and one Deployment runs one "
            f"image: {needs}",
            "keep the class's options on GPUs of one compute capability, or serve the service through a class per "
            "architecture",
        )


def _secret_env(service: ServiceConfig) -> tuple[str, ...]:
    """The variables of the service's container that hold a secret: the platform's, and its API key's."""
    key_env = runtime_of(service).facts_for(service).api_key_env
    return (*platform_secret_env(), *([key_env] if key_env else []))


def _user_strings(service: ServiceConfig) -> Iterator[tuple[str, str]]:
    """(config path below the service, text) of every string value the service gives, whichever field
    it is: extraArgs, a custom server's args, command and env values, and any field a runtime renders
    into an argument (a repository path, a served name). Map keys are names, never expanded."""
    stack: list[tuple[str, Any]] = [("", service.model_dump(by_alias=True, exclude_none=True))]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):  # pushed in reverse, so problems come in the file's order
            stack.extend(reversed([(f"{where}.{key}" if where else str(key), child) for key, child in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{where}.{i}", child) for i, child in enumerate(value)]))


def gpus_where(test: Callable[[catalog.Gpu], bool]) -> str:
    """The catalog GPUs that pass `test`, by name: messages list what the catalog holds, not a fixed set."""
    return ", ".join(g.name for g in catalog.gpus().values() if test(g))


def or_pool_of(fix: str, test: Callable[[catalog.Gpu], bool]) -> str:
    """`fix`, or a pool of the catalog GPUs that pass `test` when there are any."""
    names = gpus_where(test)
    return f"{fix}, or a pool of {names}" if names else fix


def _gpu_fit(path: str, s: ServiceConfig, pool: NodePoolConfig, where: str) -> Iterator[Problem]:
    """The service on a node of `pool` (`where` names it in messages): GPU count, image, hardware features."""
    gpu = catalog.gpus().get(pool.gpu.type)
    if gpu is None:
        return  # reported on the pool
    runtime = runtime_of(s)
    needed = gpus_per_replica(s)
    if needed > pool.gpu.count:
        bigger = catalog.machine_for(gpu.accelerator, needed)
        fit = f"a pool of {bigger}" if bigger else f"a pool with {needed} GPUs per node"
        yield Problem(
            f"{path}.{runtime.parallelism_key}",
            f"one replica needs {needed} GPUs but a node of {where} has {pool.gpu.count}",
            f"use {fit}, or lower the parallelism to {pool.gpu.count}",
        )
    try:
        runtime.image(s, gpu)
    except NoImage as e:
        fix = or_pool_of("set the service's image", lambda g: _has_image(s, g))
        yield Problem(f"{path}.pool", f"{runtime.title} {e}", fix)
    for need in _hardware_needs(runtime, s):
        if need.applies and not need.met(gpu):
            what = need.what.format(gpu=gpu.name, cc=gpu.compute_capability)
            yield Problem(f"{path}.{need.key}", what, or_pool_of(need.fix, need.met) if need.other_pool else need.fix)


@dataclass(frozen=True)
class _Need:
    """A setting that needs some GPU: the key it is set by, whether the service sets it, what a GPU must have,
    the message ({gpu} and {cc} filled in) and the fix (with the pools that would do, when `other_pool`)."""

    key: str
    applies: bool
    met: Callable[[catalog.Gpu], bool]
    what: str
    fix: str
    other_pool: bool = True


def _hardware_needs(runtime: Runtime[ServiceBase], s: ServiceConfig) -> list[_Need]:
    facts = runtime.facts_for(s)
    dtype, kv, quant = runtime.dtype(s), runtime.kv_cache_dtype(s), runtime.quantization(s)
    qkey = runtime.quantization_key or "quantization"
    floor = facts.quantization_min_compute_capability.get(quant) if quant else None
    kernel_floor = floor if floor is not None else 0.0
    bf16 = "{gpu} has no bf16 support (compute capability {cc} < 8.0)"
    return [
        *(
            _Need(key, value == "bfloat16", lambda g: g.supports_bf16, bf16, "use float16")
            for key, value in (("dtype", dtype), ("kvCacheDtype", kv))
        ),
        _Need(
            qkey,
            floor is not None,
            lambda g: g.compute_capability >= kernel_floor,
            f"{runtime.title}'s {quant} kernels need compute capability {floor}, {{gpu}} has {{cc}}",
            # awq_marlin -> awq: the same checkpoint through the server's plain kernel, which runs lower.
            f"use {(quant or '').split('_')[0]}",
        ),
        _Need(
            qkey,
            quant in facts.fp8_quantize,
            lambda g: g.supports_fp8,
            "FP8 weights need FP8 tensor cores, which {gpu} lacks",
            "use awq or gptq (4-bit)",
        ),
        _Need(
            "kvCacheDtype",
            bool(kv and kv.startswith("nvfp4")),
            lambda g: g.compute_capability >= BLACKWELL,
            f"{kv} needs Blackwell GPUs (compute capability 10.0)",
            "use fp8_e5m2",
        ),
        _Need(
            "kvCacheDtype",
            bool(kv and ("e4m3" in kv or kv == "fp8")),
            lambda g: g.supports_fp8,
            "an fp8 e4m3 KV cache needs FP8 hardware, which {gpu} lacks",
            "use fp8_e5m2",
        ),
        _Need(
            "kvCacheDtype",
            bool(kv and kv.startswith("fp8") and "e4m3" not in kv and kv != "fp8"),
            lambda g: g.compute_capability >= AMPERE,
            "fp8 KV-cache kernels need compute capability 8.0, {gpu} has {cc}",
            "remove kvCacheDtype",
            other_pool=False,
        ),
    ]


def _has_image(s: ServiceConfig, gpu: catalog.Gpu) -> bool:
    try:
        runtime_of(s).image(s, gpu)
    except NoImage:
        return False
    return True


def _checkpoint_format(path: str, s: ServiceConfig, warnings: list[str]) -> Iterator[Problem]:
    """A server quantization must match the weights the checkpoint holds (sizing/models.yaml `checkpoints`)."""
    runtime = runtime_of(s)
    key, value = runtime.quantization_key, runtime.quantization(s)
    if key is None or value is None:
        return
    facts = runtime.facts_for(s)
    weights, recorded = checkpoint_quantization(s.model)
    source = "sizing/models.yaml" if recorded else "its name"
    held = f"{weights}-quantized" if weights else "full-precision"
    reads = facts.checkpoint_quantization.get(value)
    if reads is not None and reads != weights:
        fix = (
            f"remove {key} (the server reads the checkpoint's own quantization_config)"
            if weights
            else f"use a {reads.upper()} checkpoint of the model, or an on-the-fly method "
            f"({', '.join(facts.online_quantization)})"
        )
        yield Problem(
            f"{path}.{key}",
            f"{value!r} loads {reads.upper()} weights, but {s.model} is {held} (by {source}); the server would fail "
            "at start",
            fix,
        )
    elif value in facts.online_quantization:
        if weights is not None and weights != value:
            yield Problem(
                f"{path}.{key}",
                f"{value!r} quantizes full-precision weights while loading, but {s.model} is {held} (by {source})",
                f"remove {key}: the server reads the checkpoint's own quantization_config",
            )
    elif reads is None:
        warnings.append(f"{path}.{key}: {value!r} against the checkpoint's weight format: not checked")


def _auth(path: str, s: ServiceConfig, gateway: GatewayConfig) -> Iterator[Problem]:
    facts = runtime_of(s).facts_for(s)
    if s.auth and facts.api_key_env is None and gateway.iap is None:
        yield Problem(
            f"{path}.auth",
            facts.no_api_key_reason or f"{runtime_of(s).title} has no API-key check of its own",
            "enable Identity-Aware Proxy on the gateway (gateway.iap.oauthClientId and the secret "
            "iapClientSecret), or set auth: false (the route is then open to anyone who reaches the gateway)",
        )


def _capacity(services: dict[str, ServiceConfig], pools: dict[str, NodePoolConfig], found: Findings) -> None:
    demand: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in services.values():
        if s.pool is not None and s.pool in pools:
            low, high = replica_range(s)
            demand[s.pool][0] += low * gpus_per_replica(s)
            demand[s.pool][1] += high * gpus_per_replica(s)
    for name, (low, high) in demand.items():
        pool = pools[name]
        capacity = pool.max_nodes * pool.gpu.count
        if low > capacity:
            nodes = -(-low // pool.gpu.count)
            found.problems.append(
                Problem(
                    f"{P}:nodePools.{name}.maxNodes",
                    f"the services on this pool need {low} GPUs at their minimum replicas but the pool has "
                    f"{capacity} ({pool.max_nodes} nodes x {pool.gpu.count})",
                    f"raise maxNodes to at least {nodes} or lower the services' replicas",
                )
            )
        elif high > capacity:
            found.warnings.append(
                f"{P}:nodePools.{name}.maxNodes: the services on this pool may scale to {high} GPUs but the "
                f"pool stops at {capacity} — raise maxNodes to scale fully"
            )


def check_loads(
    services: dict[str, ServiceConfig],
    mirror: bool,
    pools: dict[str, NodePoolConfig] | None = None,
    classes: Mapping[str, ComputeClassConfig] | None = None,
) -> list[Problem]:
    """Each service's `load` against what its runtime supports, the environment's mirror and its revision:
    a mirror copy is named by a commit, so a branch cannot be mirrored; LoRA adapters need the mirror too. A Hyperdisk ML volume also needs a
    pool whose machine series can attach one."""
    problems = []
    for name, s in services.items():
        path = f"{P}:services.{name}.load"
        runtime = runtime_of(s)
        load = load_of(s, mirror)
        if runtime.adapters(s) and not mirror:
            problems.append(
                Problem(
                    f"{P}:services.{name}.adapters",
                    "LoRA adapters are served from the model mirror (a copy per adapter@commit), and the environment "
                    "has none",
                    "add `gke-serving:modelMirror: {}` (a generated bucket), or remove adapters",
                )
            )
        if not runtime.loads:
            if s.load is not None:
                problems.append(
                    Problem(path, f"{runtime.title} reads its own model repository; load does not apply", "remove load")
                )
            if s.revision is not None:
                problems.append(
                    Problem(
                        f"{P}:services.{name}.revision",
                        f"{runtime.title} reads its own model repository and takes no revision: it would be dropped",
                        "remove revision, and pin the model by its version folder in the repository",
                    )
                )
            continue
        if load is None or not load_path(load).reads_mirror:
            continue
        if load not in runtime.loads:
            problems.append(
                Problem(
                    path, f"{runtime.title} cannot load weights by {load!r}", f"use one of {', '.join(runtime.loads)}"
                )
            )
            continue
        others = tuple(x for x in runtime.loads if x != load)
        for machine in _machines(s, pools or {}, classes or {}):
            problems.extend(load_path(load).check(path, machine, others))
        if not mirror:
            problems.append(
                Problem(
                    path,
                    f"load {load!r} reads the model mirror, and the environment has none",
                    "add `gke-serving:modelMirror: {}` (a generated bucket), or use load: hub",
                )
            )
        if s.revision is None or not COMMIT.fullmatch(s.revision):
            shown = "no revision" if s.revision is None else f"revision {s.revision!r}"
            problems.append(
                Problem(
                    f"{P}:services.{name}.revision",
                    f"load {load!r} reads the mirror copy of model@commit, and {shown} is not a 40-hex commit",
                    f"pin the commit (make model MODEL={s.model} prints it), or set load: hub",
                )
            )
    return problems


def _machines(
    s: ServiceConfig, pools: Mapping[str, NodePoolConfig], classes: Mapping[str, ComputeClassConfig]
) -> list[tuple[str, str]]:
    """(where, machine type) of each shape the service's pods may land on that the environment defines."""
    if s.pool is not None:
        pool = pools.get(s.pool)
        return [(s.pool, pool.machine_type)] if pool else []
    chosen = classes.get(s.compute_class or "")
    options = chosen.options if chosen else []
    return [(f"option {i} of class {s.compute_class}", o.machine_type) for i, o in enumerate(options)]


def load_warnings(services: dict[str, ServiceConfig], mirror: bool) -> list[str]:
    """What the preview cannot know about each service's load path (its module says)."""
    return [
        warning
        for name, s in services.items()
        if (load := load_of(s, mirror)) is not None
        for warning in load_path(load).warnings(f"{P}:services.{name}.load")
    ]
