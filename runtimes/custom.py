"""A custom runtime: any server image, described as Backend.AI's model-definition file describes one —
its command and arguments, port, health path, startup timing, metrics, GPUs, environment and how it
takes an API key. The platform adds what it gives every server: routes to the served paths only,
probes, hardening, a disruption budget and a network policy.

No block of catalog/servers.yaml describes it: the facts a service runs with are built from the
service itself (`facts_for`), and nothing here reads the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Annotated, Literal
from urllib.parse import unquote

from pydantic import Field, field_validator

import catalog
from catalog.servers import ServerFacts
from loads import load_path
from runtimes.base import Runtime, SmokeRequest, chat_request
from settings.base import StrictModel
from settings.limits import MAX_CHECKPOINT_GB, MAX_GPUS
from settings.problems import Problem
from settings.secrets import credential_kind
from settings.service_base import IMAGE_PATTERN, HubId, ServiceBase, split_image

# Unprivileged ports only: the pods drop every capability, NET_BIND_SERVICE included.
MIN_PORT, MAX_PORT = 1024, 65535
MAX_UID = 2**31 - 1  # Kubernetes' runAsUser and runAsGroup are int64, Linux ids int32
# An HTTP path as both an HTTPRoute match (Gateway API: RFC 3986 path characters and %-escapes) and a
# GKE HealthCheckPolicy requestPath (which has no `@`) accept it.
PATH = r"^/(?:[-A-Za-z0-9/._~!$&'()*+,;=:]|%[0-9a-fA-F]{2}){0,255}$"
# A probe's path may carry a query (Kubernetes' httpGet path and a GCP health check's requestPath are
# sent as the request target): the path, then `?` and RFC 3986 query characters.
HEALTH_PATH = PATH.removesuffix("$") + r"(?:\?(?:[-A-Za-z0-9/._~!$&'()*+,;=:@?]|%[0-9a-fA-F]{2}){0,255})?$"
# Gateway API's CEL rules on an HTTPRoute path refuse these; the route would fail at apply time. They are
# looked for in the path as a server decodes it too, so `%2e%2e` is `..` and `%252f` is no way around.
PATH_REFUSED = ("//", "/./", "/../", "%2f", "%2F")
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # a POSIX shell name: what every image's entrypoint can read
METRIC_NAME = r"^[A-Za-z_:][A-Za-z0-9_:]{0,199}$"  # a Prometheus metric name
# With `load: gcsfuse` the mirror copy's folder is in this variable: `args` can name it as $(MODEL_PATH).
MODEL_PATH_ENV = "MODEL_PATH"
# The OpenAI-compatible API most LLM images serve; an image with another API lists its own paths.
OPENAI_PATHS = ["/v1/chat/completions", "/v1/completions", "/v1/models"]
DEFAULT_METRICS_PATH = "/metrics"
# Seconds the server gets to finish in-flight requests after SIGTERM: Kubernetes' default grace period.
SHUTDOWN_SECONDS = 30
COMMAND_ELEMENT = r"\S"  # an element with something in it: "" or " " names no program and no argument
MAX_DECODINGS = 4  # percent-decoding rounds before a path is judged: more than any server applies
BYTES_PER_GB = 10**9  # checkpointGb is in GB as the Hugging Face Hub lists file sizes

ServedPath = Annotated[str, Field(pattern=PATH)]


def _not_reserved(name: str, fix: str) -> None:
    """Refuse a variable that changes what runs, which GPUs the server sees, or that the platform sets
    (catalog/reserved_env.yaml, with the reason and its source)."""
    reserved = catalog.reserved_env()
    if name.upper() in reserved:
        variable = reserved[name.upper()]
        raise ValueError(
            f"{name} is reserved: it {variable.why} (source: {variable.source}) — {fix}; a server may set any "
            "variable but those listed in catalog/reserved_env.yaml"
        )


def _decodings(path: str) -> Iterator[str]:
    """`path` as written and as each round of percent-decoding reads it, until it stops changing."""
    seen = path
    yield seen
    for _ in range(MAX_DECODINGS):
        decoded = unquote(seen)
        if decoded == seen:
            return
        seen = decoded
        yield seen


def _routable(path: str) -> str:
    only_path = path.partition("?")[0]
    for form in _decodings(only_path):
        if any(bad in form for bad in PATH_REFUSED) or form.endswith(("/.", "/..")) or "\\" in form:
            raise ValueError(
                f"{path!r} holds a sequence an HTTPRoute refuses or a server reads as another folder (percent-encoded "
                "ones decoded) — write a plain path: no //, /./, /../, %2F or \\, and no trailing /. or /.."
            )
    return path


class CustomMetrics(StrictModel):
    path: str = Field(DEFAULT_METRICS_PATH, pattern=PATH)
    """Path of the Prometheus metrics the image exports; Managed Prometheus scrapes it, the gateway never
    routes it."""
    port: int | None = Field(None, ge=MIN_PORT, le=MAX_PORT)
    """Port of the metrics, when it is not the service's `port`."""
    queue_metric: str | None = Field(None, pattern=METRIC_NAME)
    """A gauge of the requests waiting in one replica (e.g. `llamacpp:requests_deferred`): `autoscaling`
    scales on it."""

    _check_path = field_validator("path")(_routable)


class CustomService(ServiceBase):
    runtime: Literal["custom"]
    model: HubId
    """Hugging Face id of the model the image serves. It names the model in the pod's annotation and the
    memory-fit report; the image loads the weights itself (give them in `command` or `args`)."""
    revision: str | None = None
    """Only with a mounted mirror `load` (gcsfuse, hyperdiskml: the commit of the copy the image reads from
    $(MODEL_PATH)); otherwise refused: the platform passes no revision to a custom image, so pin it in `args`."""
    image: str = Field(pattern=IMAGE_PATTERN)
    """The server image, pinned by a version tag or a digest (never `latest`)."""
    command: list[Annotated[str, Field(pattern=COMMAND_ELEMENT)]] | None = Field(None, min_length=1)
    """The container's command; default: the image's entrypoint."""
    args: list[str] = []
    """The server's arguments; the platform generates none (`extraArgs` follow these)."""
    port: int = Field(ge=MIN_PORT, le=MAX_PORT)
    """The port the server listens on for its API, 1024 or above (the pods run without NET_BIND_SERVICE)."""
    health_path: str = Field("/health", pattern=HEALTH_PATH)
    """Answers 200 once the model is loaded: the startup, readiness and liveness probes and the load
    balancer's health check ask it (/health: the convention of TEI, TGI, vLLM and llama.cpp); it may carry
    a query (`/health?ready=1`)."""
    initial_delay_seconds: int = Field(0, ge=0, le=3600)
    """Seconds before the first startup probe."""
    max_retries: int | None = Field(None, ge=1, le=1000)
    """Startup probes, 10 s apart, before the pod is restarted; default: the startup budget of the model's
    size (`checkpointGb`, else `architecture` or the sizing catalog, else 30 minutes)."""
    metrics: CustomMetrics | None = None
    gpus: int = Field(1, ge=1, le=MAX_GPUS)
    """GPUs per replica."""
    env: dict[str, str] = {}
    """Environment variables of the server, plain values only: no credentials, none that change what runs or
    which GPUs it sees and none the platform sets (catalog/reserved_env.yaml: PATH, LD_PRELOAD, PYTHONPATH,
    CUDA_VISIBLE_DEVICES, HF_TOKEN, HF_HOME, ...), nor the `apiKeyEnv` variable; no value may reference a
    secret as `$(NAME)`."""
    api_key_env: str | None = Field(None, pattern=ENV_NAME)
    """The variable the image reads its API key from; the platform fills it from the service's generated
    key. Absent: the image checks no key, and `auth` needs the gateway's Identity-Aware Proxy."""
    checkpoint_gb: float | None = Field(None, gt=0, le=MAX_CHECKPOINT_GB, allow_inf_nan=False)
    """Size of the weights the image downloads and loads, in GB (as the Hugging Face Hub lists files): the
    startup budget follows it."""
    served_paths: list[ServedPath] = Field(OPENAI_PATHS, min_length=1, max_length=16)
    """The client API paths the gateway routes, each exactly (an HTTPRoute takes 16 rules); any other path
    answers 404 at the load balancer. Default: the OpenAI-compatible API."""
    run_as_user: int | None = Field(None, ge=1, le=MAX_UID)
    """The user id the server runs as (the pod then refuses to run as root); default: the image's user."""
    run_as_group: int | None = Field(None, ge=0, le=MAX_UID)
    """The group id, with `runAsUser`; default: the same id as `runAsUser`."""

    @field_validator("image")
    @classmethod
    def _pinned(cls, image: str) -> str:
        _, tag, digest = split_image(image)
        if not digest and tag is None:
            raise ValueError(f"{image!r} has no tag — pin a version tag or a digest (@sha256:...)")
        if not digest and tag == "latest":
            raise ValueError(f"{image!r} uses the moving tag latest — pin a version tag or a digest")
        return image

    @field_validator("env")
    @classmethod
    def _plain_env(cls, env: dict[str, str]) -> dict[str, str]:
        # A credential in a name or a value is refused by the environment's one detector
        # (settings/secrets.py), which reports it at its path without echoing it.
        for name in env:
            if credential_kind(name):
                continue
            if re.fullmatch(ENV_NAME, name) is None:
                raise ValueError(
                    f"{name!r} is not an environment variable name — use letters, digits and _, not starting "
                    "with a digit"
                )
            _not_reserved(name, "remove it from env")
        return env

    @field_validator("api_key_env")
    @classmethod
    def _not_platform(cls, name: str | None) -> str | None:
        if name is not None:
            _not_reserved(name, "name the variable the image reads its API key from")
        return name

    @field_validator("health_path")
    @classmethod
    def _health_routable(cls, path: str) -> str:
        return _routable(path)

    @field_validator("served_paths")
    @classmethod
    def _unique_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            _routable(path)
        repeated = sorted({p for p in paths if paths.count(p) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once — list each path once")
        return paths


def _image_parts(image: str) -> tuple[str, str]:
    """(repository, version): the tag, else the digest."""
    repository, tag, digest = split_image(image)
    return repository, tag or digest or ""


class Custom(Runtime[CustomService]):
    name = "custom"
    config = CustomService
    # Sized as TGI sizes when the service gives an `architecture` (catalog/runtime_traits.yaml). The image fetches its own weights unless the service names a mounted load of the mirror (with
    # `revision`), whose folder it then finds in $(MODEL_PATH); it never streams.

    @property
    def facts(self) -> ServerFacts:
        raise LookupError("the custom runtime has no catalog block: its facts come from facts_for(service)")

    def facts_for(self, service: CustomService) -> ServerFacts:
        repository, version = _image_parts(service.image)
        metrics: CustomMetrics = service.metrics or CustomMetrics()
        return ServerFacts.model_validate(
            {
                "image": repository,
                "version": version,
                "port": service.port,
                "health": service.health_path,
                "metricsPort": metrics.port,
                "metricsPath": metrics.path,
                "queueMetric": metrics.queue_metric or "",  # autoscaling without one is refused in check()
                "hfHome": None,  # no Hugging Face cache volume and no HF token: the image fetches its own weights
                "minComputeCapability": 0,  # the image's own CUDA build decides; nothing to check it against
                "flags": {},
                "generated": [],
                "removed": {},
                "apiKeyEnv": service.api_key_env,
                "servedPaths": list(service.served_paths),
                "adminPaths": [],  # nothing is routed but servedPaths
                "shutdownSeconds": SHUTDOWN_SECONDS,
                "runAsUser": service.run_as_user,
                "runAsGroup": service.run_as_group,
                # Any image may write anywhere under its root (caches, lock files, downloads).
                "readOnlyRoot": False,
                "command": service.command,
                "startupDelaySeconds": service.initial_delay_seconds,
                "startupRetries": service.max_retries,
            }
        )

    # --- config -----------------------------------------------------------------------------------

    def gpus(self, service: CustomService) -> int:
        return int(service.gpus)

    def check(self, path: str, service: CustomService, warnings: list[str]) -> Iterator[Problem]:
        """Rules across keys; the image's own flags are its business (no pinned version to check them by)."""
        s: CustomService = service
        queue_metric = s.metrics.queue_metric if s.metrics else None
        if s.autoscaling is not None and not queue_metric:
            yield Problem(
                f"{path}.autoscaling",
                "the autoscaler scales on a queue metric of the server, and the service names none",
                "add metrics.queueMetric (a gauge of the requests waiting in one replica), or remove autoscaling",
            )
        if s.api_key_env is not None and s.api_key_env in s.env:
            yield Problem(
                f"{path}.env.{s.api_key_env}",
                f"{s.api_key_env} is the service's apiKeyEnv: the platform fills it from the generated key",
                "remove it from env",
            )
        metrics_path = s.metrics.path if s.metrics else DEFAULT_METRICS_PATH
        if metrics_path in s.served_paths and (s.metrics is None or s.metrics.port in (None, s.port)):
            yield Problem(
                f"{path}.servedPaths",
                f"{metrics_path} is the metrics path: routing it would publish the server's metrics",
                f"remove {metrics_path} from servedPaths, or move the metrics (metrics.path or metrics.port)",
            )
        if s.run_as_group is not None and s.run_as_user is None:
            yield Problem(
                f"{path}.runAsGroup",
                "a group without runAsUser is not applied (the image's user and group stand)",
                "set runAsUser too, or remove runAsGroup",
            )
        if s.revision is not None and (s.load is None or not load_path(s.load).reads_mirror):
            yield Problem(
                f"{path}.revision",
                "the custom runtime passes no revision to an image that fetches its own weights, so it would not "
                "pin them; a revision pins only a mirror copy the pod mounts",
                "give the revision in args (the image's own flag) and remove revision, or set a mounted `load`",
            )

    # --- rendering --------------------------------------------------------------------------------

    def image(self, service: CustomService, gpu: catalog.Gpu) -> str:
        return str(service.image)

    def configured_flags(self, service: CustomService) -> list[str]:
        return []

    def args(self, name: str, service: CustomService) -> list[str]:
        return list(service.args)

    def args_from(
        self, name: str, service: CustomService, location: str | None, *, streaming: bool = False
    ) -> list[str]:
        return list(service.args)  # the image is told where the weights are through MODEL_PATH

    def load_env(self, service: CustomService, location: str, *, streaming: bool = False) -> dict[str, str]:
        return {MODEL_PATH_ENV: location}

    def env(self, service: CustomService) -> dict[str, str]:
        return dict(service.env)

    def served_paths(self, service: CustomService) -> tuple[str, ...]:
        return tuple(service.served_paths)

    def checkpoint_gib(self, service: CustomService) -> float | None:
        gb: float | None = service.checkpoint_gb
        return None if gb is None else gb * BYTES_PER_GB / 2**30

    # --- reading a rendered pod (policies) --------------------------------------------------------

    def option_of(self, key: str) -> str | None:
        return None  # no option of the image is known to the platform

    def served_model(self, args: Sequence[str]) -> str | None:
        return None  # the image names its model its own way; the pod's annotation names it

    def parallelism(self, args: Sequence[str]) -> tuple[int | None, str]:
        return None, "custom runtime"  # uses whatever GPUs it is given

    def smoke_requests(self, name: str, service: CustomService) -> tuple[SmokeRequest, ...]:
        # An OpenAI-compatible image gets a chat completion (for the model the image serves, which such
        # single-model servers accept); any other is asked its first served path.
        if "/v1/chat/completions" in service.served_paths:
            return (chat_request(service.model),)
        return (("GET", service.served_paths[0], None),)
