"""LoRA adapters on vLLM services: refused where the server or the routing could not serve them, loaded at start
from the mirror with flags the pinned vLLM parses, mirrored and mounted, and counted in the memory fit."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import catalog
from catalog.servers import LoraFacts, server_facts
from config import parse_environment
from naming import short_hash
from policies.rules.memory import fit_request
from policies.rules.pods import pod_of
from runtimes import BadFlag, cli, runtime_of
from settings.mirror import ADAPTER_ROOT, WeightSource, adapter_path
from sizing.memory import estimate, lora_slot_bytes
from sizing.models import resolve
from tests.conftest import Preview
from tests.test_config import VALID, problems
from tests.test_policy_rules import deployment, server
from workloads.model_mirror import ModelMirrorArgs, adapter_copies
from workloads.server import server_spec

L4 = catalog.gpus()["nvidia-l4"]
BASE = "meta-llama/Llama-2-7b-hf"
COMMIT = "01c7f73d771dfac7d292323805ebc428287df4f9"
SQL: dict[str, Any] = {
    "name": "sql-lora",
    "model": "yard1/llama-2-7b-sql-lora-test",
    "revision": "0dfa347e8877a4d4ed19ee56c140fa518470028c",
    "rank": 8,
    "baseModel": BASE,
}
P = "gke-serving:services.llm"
# The fields of vllm/entrypoints/openai/models/protocol.py LoRAModulePath @0.33.0: what the JSON form may hold.
LORA_MODULE_FIELDS = {"name", "path", "base_model_name", "is_3d_lora_weight"}


def lora_facts() -> LoraFacts:
    lora = server_facts()["vllm"].lora
    assert lora is not None
    return lora


def adapter(**changes: Any) -> dict[str, Any]:
    return {**SQL, **changes}


def env(*, mirror: bool = True, runtime: str = "vllm", **fields: Any) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:services"] = {
        "llm": {"runtime": runtime, "model": BASE, "revision": COMMIT, "pool": "l4", "auth": False, **fields}
    }
    if mirror:
        raw["gke-serving:modelMirror"] = {}
    return raw


def rendered(**fields: Any) -> list[str]:
    """The vLLM container's arguments as the program renders them, streaming the base model from the mirror."""
    service = parse_environment(env(**fields)).services["llm"]
    weights = WeightSource("streamer", "bucket", BASE, COMMIT)
    return server_spec("llm", service, L4, weights).args


def lora_modules(args: list[str]) -> dict[str, str]:
    """--lora-modules as vLLM 0.33.0 reads it: every token after the option up to the next option (nargs="+"),
    each by LoRAParserAction's rule (vllm/entrypoints/common/cli_args.py): `name=path` when it holds "=" and no
    ",", else JSON with LoRAModulePath's fields."""
    start = args.index("--lora-modules") + 1
    end = next((i for i in range(start, len(args)) if args[i].startswith("-")), len(args))
    assert end > start, "--lora-modules without a value: argparse refuses nargs='+' with none"
    modules = {}
    for item in args[start:end]:
        if "=" in item and "," not in item:
            name, path = item.split("=", 1)
        else:
            parsed = json.loads(item)
            assert set(parsed) <= LORA_MODULE_FIELDS, parsed
            name, path = parsed["name"], parsed["path"]
        modules[name] = path
    return modules


# --- loaded at start --------------------------------------------------------------------------------------------


def test_the_rendered_lora_options_are_the_pinned_vllm_s_own_with_values_its_parser_takes() -> None:
    second = adapter(name="sql-2", model="org/other-lora", revision="a" * 40, rank=32)
    args = rendered(adapters=[SQL, second], maxLoras=2, maxCpuLoras=4)
    uses = list(cli.uses("vllm", args))
    assert all(use.canonical is not None for use in uses), [u.written for u in uses if u.canonical is None]
    options = {use.canonical for use in uses}
    assert {"--enable-lora", "--lora-modules", "--max-lora-rank", "--max-loras", "--max-cpu-loras"} <= options
    rank = int(cli.value_of("vllm", args, "--max-lora-rank") or 0)
    loras = int(cli.value_of("vllm", args, "--max-loras") or 0)
    cpu = int(cli.value_of("vllm", args, "--max-cpu-loras") or 0)
    assert rank in lora_facts().ranks and rank >= 32
    assert cpu >= loras == 2  # vllm/config/lora.py refuses max_cpu_loras < max_loras
    assert lora_modules(args) == {
        "sql-lora": adapter_path(SQL["model"], SQL["revision"]),
        "sql-2": adapter_path("org/other-lora", "a" * 40),
    }
    assert runtime_of("vllm").lora_slots(args) == (2, 32)


@pytest.mark.parametrize(
    ("ranks", "chosen"),
    [((8,), 8), ((8, 20), 32), ((16,), 16), ((1,), 1), ((300,), 320), ((512,), 512)],
)
def test_the_maximum_rank_is_the_smallest_choice_that_holds_every_adapter(ranks: tuple[int, ...], chosen: int) -> None:
    adapters = [adapter(name=f"a{i}", model=f"org/a{i}", rank=r) for i, r in enumerate(ranks)]
    assert cli.value_of("vllm", rendered(adapters=adapters), "--max-lora-rank") == str(chosen)


def test_a_stated_maximum_rank_is_rendered_once_as_stated() -> None:
    args = rendered(adapters=[SQL], maxLoraRank=64)
    assert [u.value for u in cli.uses("vllm", args) if u.canonical == "--max-lora-rank"] == ["64"]


def test_a_service_without_adapters_renders_no_lora_option() -> None:
    args = rendered()
    assert not {u.canonical for u in cli.uses("vllm", args)} & {"--enable-lora", "--lora-modules", "--max-lora-rank"}
    assert runtime_of("vllm").lora_slots(args) is None


@pytest.mark.parametrize(
    ("args", "slots"),
    [
        (["m", "--enable-lora"], (1, 16)),  # vLLM's defaults: one slot of rank 16
        (["m", "--enable-lora", "--max-loras", "4", "--max_lora_rank=64"], (4, 64)),
        (["m", "--enable-lora", "--disable-lora"], None),  # the last of the inverse pair wins
        (["m", "--max-loras=4"], None),  # no adapters loaded, no slots
    ],
)
def test_the_policy_reads_the_slots_off_the_command_however_spelt(
    args: list[str], slots: tuple[int, int] | None
) -> None:
    assert runtime_of("vllm").lora_slots(args) == slots


def test_a_rank_vllm_has_no_choice_for_is_not_sized() -> None:
    with pytest.raises(BadFlag, match="--max-lora-rank=24 is not one of 1, 8, 16"):
        runtime_of("vllm").lora_slots(["m", "--enable-lora", "--max-lora-rank=24"])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("--enable-lora", "--enable-lora is generated by the platform — remove it"),
        ("--lora-modules=x=/y", "--lora-modules is generated by the platform — remove it"),
        ("--max-loras=4", "--max-loras is set from the service's maxLoras key — set maxLoras instead"),
        ("--max_lora_rank=64", "--max_lora_rank (vLLM v0.33.0 reads it as --max-lora-rank) is set from the "
         "service's maxLoraRank key — set maxLoraRank instead"),
    ],
)  # fmt: skip
def test_lora_options_in_extra_args_are_refused(extra: str, expected: str) -> None:
    assert f"{P}.extraArgs: {expected}" in problems(env(adapters=[SQL], extraArgs=[extra]))


def test_sglang_s_own_adapter_options_are_refused_in_extra_args() -> None:
    raw = env(runtime="sglang", model="Qwen/Qwen2.5-7B-Instruct-AWQ", extraArgs=["--lora-paths", "a=/b"])
    assert problems(raw) == [
        f"{P}.extraArgs: --lora-paths is not allowed: SGLang's adapters cannot be routed by name on the shared /v1 "
        "endpoint; serve adapters with vLLM — remove it"
    ]


# --- refused ----------------------------------------------------------------------------------------------------


# The adapter refusals a platform engineer meets (rank over the maximum, another base model, a repeated name, no
# mirror, SGLang) are files of tests/bad_environments/lora-*.yaml; these are the service keys' own.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            env(adapters=[SQL], maxLoraRank=24),
            f"{P}.maxLoraRank: 24 is not a rank vLLM v0.33.0 takes — use one of 1, 8, 16, 32, 64, 128, 256, 320, 512",
        ),
        (
            env(adapters=[SQL], maxLoras=4, maxCpuLoras=2),
            f"{P}.maxCpuLoras: 2 is below maxLoras 4: vLLM v0.33.0 refuses to start — set maxCpuLoras to at least 4, "
            "or remove it (it defaults to maxLoras)",
        ),
        (env(maxLoras=4), f"{P}.maxLoras: applies to LoRA adapters and the service has none — remove maxLoras"),
        (
            env(adapters=[adapter(rank=32)], maxLoraRank=16),
            f"{P}.adapters.0.rank: rank 32 is above the service's maxLoraRank 16: vLLM v0.33.0 refuses to load the "
            "adapter — raise maxLoraRank to 32 (or remove it: the smallest rank that holds every adapter is chosen), "
            "or use an adapter of a lower rank",
        ),
    ],
    ids=["rank-not-a-choice", "cpu-below-gpu", "keys-without-adapters", "fix-names-the-next-choice"],
)
def test_an_adapter_the_service_cannot_serve_is_refused_with_the_fix(raw: dict[str, Any], expected: str) -> None:
    assert expected in problems(raw)


def test_an_adapter_on_its_base_model_within_the_rank_parses() -> None:
    service = parse_environment(env(adapters=[SQL], maxLoras=2)).services["llm"]
    assert [a.name for a in runtime_of(service).adapters(service)] == ["sql-lora"]


# --- memory -----------------------------------------------------------------------------------------------------


def test_a_slot_holds_vllm_s_lora_buffers_of_every_linear_layer_and_the_embeddings() -> None:
    """Llama 3 8B at rank 16 in bf16, the buffers create_lora_weights allocates (vLLM 0.33.0), per GPU."""
    found = resolve("meta-llama/Meta-Llama-3-8B")
    assert found is not None
    arch, r = found[1], 16
    hidden, inter, q, kv, vocab = 4096, 14336, 32 * 128, 8 * 128, 128256
    for tp in (1, 2):
        per_layer = (
            3 * r * hidden + r * (q + 2 * kv) // tp  # qkv_proj: A per slice, B of this GPU's q, k, v outputs
            + r * q // tp + hidden * r  # o_proj: A over this GPU's input share, B whole
            + 2 * r * hidden + r * 2 * inter // tp  # gate_up_proj
            + r * inter // tp + hidden * r  # down_proj
        )  # fmt: skip
        embeddings = (vocab * r + hidden * r) * 2  # embed_tokens and lm_head: A and B each
        assert lora_slot_bytes(arch, r, tp, 2) == (32 * per_layer + embeddings) * 2
    # The notes' derived figure: 81,920 x rank per layer at TP 1, ~84 MB a slot at rank 16 before the embeddings.
    assert lora_slot_bytes(arch, 16, 1, 2) - (vocab + hidden) * 16 * 2 * 2 == 81_920 * 16 * 32 * 2


def _gemma_pod(**fields: Any) -> Any:
    raw = copy.deepcopy(VALID)
    gemma = {"runtime": "vllm", "model": "google/gemma-7b", "revision": "f" * 40, "pool": "l4", "auth": False}
    raw["gke-serving:services"] = {"gemma": {**gemma, "maxModelLen": 4096, "kvCacheDtype": "fp8_e5m2", **fields}}
    raw["gke-serving:modelMirror"] = {}
    service = parse_environment(raw).services["gemma"]
    args = server_spec("gemma", service, L4, WeightSource("streamer", "bucket", "google/gemma-7b", "f" * 40)).args
    return pod_of("kubernetes:apps/v1:Deployment", deployment(server(*args), name="gemma"))


def gemma_adapters(rank: int, count: int = 1) -> list[dict[str, Any]]:
    return [
        adapter(name=f"g{i}", model=f"org/gemma-lora-{i}", rank=rank, baseModel="google/gemma-7b") for i in range(count)
    ]


def test_adapter_slots_that_leave_no_kv_cache_fail_the_fit_with_both_numbers_and_the_fix() -> None:
    crowded = estimate(fit_request(_gemma_pod(adapters=gemma_adapters(64), maxLoras=8)))
    assert not crowded.fits
    explained = crowded.explain()
    assert "3.47 GiB for 8 LoRA slot(s) of rank 64" in explained
    assert "leave no room for the KV cache (-0.9 GiB)" in explained
    assert "lower maxLoras to 3" in explained
    one = estimate(fit_request(_gemma_pod(adapters=gemma_adapters(64))))
    assert one.fits and "0.43 GiB for 1 LoRA slot(s) of rank 64" in one.explain()


def test_the_fit_counts_no_slot_without_adapters() -> None:
    request = fit_request(_gemma_pod())
    assert (request.max_loras, request.max_lora_rank) == (0, 0)
    assert "LoRA" not in estimate(request).explain()


# --- mirrored and mounted ---------------------------------------------------------------------------------------


def test_each_adapter_at_its_commit_is_a_mirror_copy_of_the_files_vllm_reads() -> None:
    parsed = parse_environment(env(adapters=[SQL]))
    (served,) = adapter_copies(parsed)["llm"]
    assert served.source.prefix == f"{SQL['model']}/{SQL['revision']}"
    assert served.copy.patterns == lora_facts().files
    assert served.copy.files is None  # no lock: the Job selects from the Hub's listing by the patterns
    # Sized from the base model at the adapter's rank (every linear module, float32): ~77 MiB at rank 8.
    assert served.copy.gib is not None and 0.05 < served.copy.gib < 0.1
    args = ModelMirrorArgs.of(parsed, "serving", "hf-token", {})
    assert served.source.prefix in {c.source.prefix for c in args.copies}
    assert args.adapters == {"llm": (served,)}


def test_staging_serves_an_adapter_from_a_read_only_mount_after_its_copy_is_complete(previews: Any) -> None:
    preview: Preview = previews("staging")
    assert preview.exit_code == 0
    pod = preview.manifest("Deployment", "llama")["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    (path,) = lora_modules(container["args"]).values()
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    assert mount == {"name": "lora-adapters", "mountPath": ADAPTER_ROOT, "readOnly": True}
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["csi"]["driver"] == "gcsfuse.csi.storage.gke.io" and volume["csi"]["readOnly"] is True
    assert pod["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"
    prefix = path.removeprefix(ADAPTER_ROOT + "/")
    waits = {
        i["name"]: {e["name"]: e["value"] for e in i["env"]} for i in pod["spec"]["initContainers"]
    }  # the base model's wait, then the adapter's
    assert [w["MARKER"] for w in waits.values()] == [f"{BASE}/{COMMIT}/.complete", f"{prefix}/.complete"]
    job = next(
        m
        for m in preview.manifests.values()
        if m["kind"] == "Job"
        and {"name": "MODEL", "value": SQL["model"]} in m["spec"]["template"]["spec"]["containers"][0]["env"]
    )
    env_of_job = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert json.loads(env_of_job["PATTERNS"]) == lora_facts().files
    assert env_of_job["PREFIX"] == prefix
    # The first rollout waits for the adapter's Job as for the base model's (pulumi up creates it after both).
    (rollout,) = (r for r in preview.plan["resources"] if r["name"] == "llama-deployment")
    assert f"kubernetes:batch/v1:Job::model-mirror-job-{short_hash(prefix)}" in " ".join(
        rollout["options"]["dependsOn"]
    )
    line = next(c for c in preview.plan["cost"]["lines"] if c["name"] == "model mirror bucket")
    assert "1 LoRA adapter@commit copies" in line["detail"]
