"""What every service has, whatever its runtime: model, pool, replicas, autoscaling, auth, resources.

Each runtime's own config model (runtimes/<runtime>.py) extends ServiceBase with its server's
vocabulary in camelCase (TGI `numShard`, vLLM `tensorParallelSize`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from catalog.data import load_paths_yaml
from settings.base import StrictModel
from settings.limits import (
    MAX_HEADS,
    MAX_LAYERS,
    MAX_PARAMS_BILLION,
    MAX_QUEUE_TARGET,
    MAX_REPLICAS,
    MAX_TOKENS,
    MAX_WIDTH,
    MIN_QUEUE_TARGET,
)
from settings.names import REVISION_RULES, checked_hub_id, revision_problem
from sizing.models import Architecture as SizingArchitecture

HubId = Annotated[str, AfterValidator(checked_hub_id)]
# An image reference as the distribution/reference grammar writes it (github.com/distribution/reference,
# regexp.go): an optional registry host with an optional port (`registry.example.com:5000/`), lowercase
# path components joined by `.`, `_`, `__` or dashes, then a tag and/or a digest (the image-pinned
# policy refuses `latest`).
_IMAGE_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = rf"^(?:{_IMAGE_HOST}/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; a registry port (`host:5000/img`) is no tag."""
    name, at, digest = image.partition("@")
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, None, digest if at else None
    return repository, tag, digest if at else None


# Pod annotation carrying a service's explicit `architecture` (JSON, environment-file keys), so the
# memory-fit policy can size models the catalog does not know from the rendered Deployment alone.
ARCHITECTURE_ANNOTATION = "gke-serving/architecture"
# Pod annotation naming the service's model, for a server whose arguments do not (a custom image).
MODEL_ANNOTATION = "gke-serving/model"


class Autoscaling(StrictModel):
    min_replicas: int = Field(1, ge=1, le=MAX_REPLICAS)
    """Replicas kept warm; scaling to zero is not offered (cold starts take minutes)."""
    max_replicas: int = Field(ge=1, le=MAX_REPLICAS)
    """Upper bound; the GPU pool's maxNodes must leave room for it."""
    target_queue_size: float = Field(3, ge=MIN_QUEUE_TARGET, le=MAX_QUEUE_TARGET, allow_inf_nan=False)
    """Average requests waiting per replica before another replica is added (GKE guidance: 3-5)."""
    scale_down_stabilization_seconds: int = Field(300, ge=0, le=3600)
    """How long the load must stay low before replicas are removed."""

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas ({self.min_replicas}) is above maxReplicas ({self.max_replicas})"
                " — raise maxReplicas or lower minReplicas"
            )
        return self


class Resources(StrictModel):
    cpu: str | None = Field(None, pattern=r"^\d{1,7}(\.\d{1,3})?m?$")
    """CPU request = limit per replica, e.g. "6" or "5500m"; default: the pod's share of the node."""
    memory: str | None = Field(None, pattern=r"^\d{1,9}(Mi|Gi)$")
    """Memory request = limit, e.g. "24Gi"; default: the pod's share of the node."""
    ephemeral_storage: str | None = Field(None, pattern=r"^\d{1,9}(Mi|Gi)$")
    """Ephemeral-storage request (model cache); default: the pod's share of the boot disk."""

    @field_validator("cpu", "memory", "ephemeral_storage")
    @classmethod
    def _not_zero(cls, value: str | None) -> str | None:
        # Kubernetes reads a zero request as "no request": the pod would get no guaranteed share.
        if value is not None and float(value.rstrip("mMGi")) == 0:
            raise ValueError(
                f"{value!r} requests nothing — give an amount, or remove the key for the pod's share of the node"
            )
        return value


class Architecture(StrictModel):
    """Architecture of a model the sizing catalog does not know (values from its config.json)."""

    params_billion: float = Field(gt=0, le=MAX_PARAMS_BILLION, allow_inf_nan=False)
    layers: int = Field(gt=0, le=MAX_LAYERS)
    hidden_size: int = Field(gt=0, le=MAX_WIDTH)
    attention_heads: int = Field(gt=0, le=MAX_HEADS)
    kv_heads: int = Field(gt=0, le=MAX_HEADS)
    head_dim: int = Field(gt=0, le=MAX_HEADS)
    intermediate_size: int = Field(gt=0, le=MAX_WIDTH)
    vocab_size: int = Field(gt=0, le=MAX_WIDTH)
    max_position_embeddings: int = Field(gt=0, le=MAX_TOKENS)
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"

    def for_sizing(self, kind: str) -> SizingArchitecture:
        """`kind`: "encoder" for a server that only embeds (no KV cache whatever the architecture)."""
        return SizingArchitecture(
            layers=self.layers,
            hidden_size=self.hidden_size,
            attention_heads=self.attention_heads,
            kv_heads=self.kv_heads,
            head_dim=self.head_dim,
            intermediate_size=self.intermediate_size,
            vocab_size=self.vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            params=self.params_billion * 1e9,
            dtype=self.dtype,
            kind=kind,
        )


class ServiceBase(StrictModel):
    # A runtime whose model has no `routing` key is one the Inference Gateway's endpoint picker cannot read
    # (its metrics extractor knows vLLM's and SGLang's, not TGI's, TEI's or a custom server's).
    refused_keys: ClassVar[dict[str, tuple[str, str]]] = {
        "routing": (
            "the Inference Gateway's endpoint picker reads only vLLM's and SGLang's metrics (queue, KV cache), "
            "none of this server's, so the service keeps its plain load-balanced route",
            "remove routing (or serve the model with runtime vllm or sglang)",
        ),
    }
    model: HubId
    """Hugging Face model id, e.g. BAAI/bge-m3 (Triton: the model's name in the repository)."""
    revision: str | None = None
    """Git revision (commit sha or tag) of the model: pin it so a re-deploy serves the same weights. A 40-hex
    commit or a plain branch or tag name (git check-ref-format; no `..`, no %-escapes)."""
    pool: str | None = None
    """The GPU node pool (a `nodePools` key) the server runs on; or give `computeClass`."""
    compute_class: str | None = None
    """A compute class (a `computeClasses` key) whose capacity options the server may run on, most preferred
    first, instead of one `pool`."""
    replicas: int = Field(1, ge=0, le=MAX_REPLICAS)
    """Replicas when `autoscaling` is not set."""
    image: str | None = Field(None, pattern=IMAGE_PATTERN)
    """Image override, pinned by tag or digest (never `latest`)."""
    autoscaling: Autoscaling | None = None
    auth: bool = True
    """Require an API key at the server; false opts out (the preview warns)."""
    extra_args: list[str] = []
    """Passed to the server after the generated arguments. Kubernetes expands `$(NAME)` in them, so none may
    reference a variable that holds a secret (HF_TOKEN, the API-key variable); `$$(NAME)` is the literal text."""
    resources: Resources = Resources()
    architecture: Architecture | None = None
    """Needed for memory sizing when the model is not in the sizing catalog."""
    load: str | None = None
    """How pods get the weights: one of the load paths of catalog/load_paths.yaml (docs/architecture.md, "How
    weights reach a server"). Default: the runtime's choice when `gke-serving:modelMirror` is set, else the Hub download."""

    @model_validator(mode="after")
    def _one_placement(self) -> ServiceBase:
        if (self.pool is None) == (self.compute_class is None):
            given = "both pool and computeClass" if self.pool is not None else "neither pool nor computeClass"
            raise ValueError(f"{given} given — name a node pool (pool) or a compute class (computeClass), one of them")
        return self

    @field_validator("load")
    @classmethod
    def _known_load(cls, value: str | None) -> str | None:
        known = list(load_paths_yaml().paths)
        if value is not None and value not in known:
            raise ValueError(f"{value!r} is not a load path: use one of {', '.join(known)}")
        return value

    @field_validator("revision")
    @classmethod
    def _plain_revision(cls, revision: str | None) -> str | None:
        # It becomes part of a Hub URL and of the mirror's object path: `../` or `%2e%2e` would walk out.
        if revision is not None and (why := revision_problem(revision)):
            raise ValueError(f"the revision {why} — write {REVISION_RULES}")
        return revision
