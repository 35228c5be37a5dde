"""Kubernetes workloads as a policy sees them: the engine's camelCase inputs, numbers maybe as floats.

Values are read with `.get()` and type checks only, never by indexing a path that may be absent:
during `pulumi preview` the props are a read-only Mapping proxy, not a dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from config.compute_classes import COMPUTE_CLASS_LABEL
from runtimes import REGISTRY
from settings.mirror import mirrored

GPU = "nvidia.com/gpu"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"
RUNTIME_LABEL = "gke-serving/runtime"
SERVER_CONTAINER = "server"

# Where each workload type keeps its pod template.
_POD_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:core/v1:Pod": (),
}


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def whole_number(value: Any) -> int | None:
    """2, 2.0 and "2" -> 2 (the engine sends every number as a float); anything else -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        return int(value)
    return None


_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity as a plain number ("7500m" -> 7.5, "2Gi" -> 2147483648.0); None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    number, suffix = float(match[1]), match[2]
    if suffix == "m":
        return number / 1000
    return number * _SUFFIX[suffix] if suffix else number


@dataclass(frozen=True)
class Container:
    name: str
    spec: Mapping[str, Any]

    def gpu_values(self) -> tuple[Any, Any]:
        """The raw nvidia.com/gpu (request, limit), None where absent."""
        resources = mapping(self.spec.get("resources"))
        return mapping(resources.get("requests")).get(GPU), mapping(resources.get("limits")).get(GPU)

    def request(self, resource: str) -> float:
        """What the scheduler charges for `resource`: the request, else the limit (the API server
        copies a limit into an unset request), else 0."""
        resources = mapping(self.spec.get("resources"))
        for source in ("requests", "limits"):
            value = quantity(mapping(resources.get(source)).get(resource))
            if value is not None:
                return value
        return 0.0

    @property
    def gpus(self) -> int:
        """GPUs the container gets: Kubernetes allocates extended resources by their limit."""
        request, limit = self.gpu_values()
        return whole_number(limit if limit is not None else request) or 0

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(a for a in sequence(self.spec.get("args")) if isinstance(a, str))


@dataclass(frozen=True)
class Pod:
    """The pod template of a workload, with the workload's own labels as a fallback."""

    kind: str
    name: str
    spec: Mapping[str, Any]
    labels: Mapping[str, Any]
    annotations: Mapping[str, Any]

    def _containers(self, key: str) -> list[Container]:
        specs = [mapping(c) for c in sequence(self.spec.get(key))]
        return [Container(str(c.get("name", "")), c) for c in specs]

    def containers(self) -> list[Container]:
        return self._containers("containers")

    def all_containers(self) -> list[Container]:
        return self._containers("initContainers") + self.containers()

    @property
    def gpus(self) -> int:
        """GPUs one pod holds: init containers run one at a time, app containers together."""
        init = max((c.gpus for c in self._containers("initContainers")), default=0)
        return max(sum(c.gpus for c in self.containers()), init)

    def request(self, resource: str) -> float:
        """The pod's effective request: its containers together, or its largest init container."""
        init = max((c.request(resource) for c in self._containers("initContainers")), default=0.0)
        return max(sum(c.request(resource) for c in self.containers()), init)

    @property
    def node_selector(self) -> Mapping[str, Any]:
        return mapping(self.spec.get("nodeSelector"))

    @property
    def accelerator(self) -> str | None:
        value = self.node_selector.get(ACCELERATOR_LABEL)
        return value if isinstance(value, str) else None

    @property
    def node_pool(self) -> str | None:
        value = self.node_selector.get(NODEPOOL_LABEL)
        return value if isinstance(value, str) else None

    @property
    def compute_class(self) -> str | None:
        value = self.node_selector.get(COMPUTE_CLASS_LABEL)
        return value if isinstance(value, str) else None

    def on(self, accelerator: str, node_pool: str) -> Pod:
        """The pod as if it selected one GPU type and pool: a class's option evaluated as if it were the only one."""
        selector = {ACCELERATOR_LABEL: accelerator, NODEPOOL_LABEL: node_pool}
        return replace(self, spec={**self.spec, "nodeSelector": selector})

    @property
    def runtime(self) -> str | None:
        """The model server's runtime (tei, tgi, vllm, triton); None for any other workload."""
        value = self.labels.get(RUNTIME_LABEL)
        return value if isinstance(value, str) else None

    @property
    def is_gpu_workload(self) -> bool:
        return self.gpus > 0 or self.accelerator is not None

    def server(self) -> Container | None:
        """The model server's container: the one named `server`, else the first."""
        containers = self.containers()
        named = [c for c in containers if c.name == SERVER_CONTAINER]
        return next(iter(named or containers), None)


def pod_of(resource_type: str, props: Mapping[str, Any]) -> Pod | None:
    """The pod template of a workload resource, None for any other resource type."""
    path = _POD_PATHS.get(resource_type)
    if path is None:
        return None
    template: Mapping[str, Any] = props
    for key in path:
        template = mapping(template.get(key))
    meta = mapping(template.get("metadata"))
    # A bare Pod is its own template; the others carry labels on both the workload and the template.
    owner = mapping(props.get("metadata"))
    labels = {**mapping(owner.get("labels")), **mapping(meta.get("labels"))}
    name = owner.get("name")
    return Pod(
        kind=resource_type.rsplit(":", 1)[-1],
        name=name if isinstance(name, str) else "",
        spec=mapping(template.get("spec")),
        labels=labels,
        annotations=mapping(meta.get("annotations")),
    )


def server_flag(runtime: str, args: Sequence[str], key: str) -> str | None:
    """The value of the flag behind environment-file key `key`, as the runtime spells it."""
    known = REGISTRY.get(runtime)
    return known.flag_value(args, key) if known else None


def served_model(runtime: str, args: Sequence[str]) -> str | None:
    """The model id the server loads, read off its arguments the way the runtime takes it."""
    known = REGISTRY.get(runtime)
    model = known.served_model(args) if known else None
    copy = mirrored(model) if model else None
    return copy[0] if copy else model  # a mirror copy (gs://.../<org>/<name>/<commit>) serves <org>/<name>


def served_location(runtime: str, args: Sequence[str]) -> str | None:
    """The server's model argument as written: a Hub id, or a mirror copy's gs:// URI or mounted folder."""
    known = REGISTRY.get(runtime)
    return known.served_model(args) if known else None


def parallelism(runtime: str, args: Sequence[str]) -> tuple[int | None, str]:
    """(GPUs the server splits one model over, the arguments that say so, in words); None where the
    server takes whatever it is given. Raises BadFlag for a count that is not a positive whole number."""
    known = REGISTRY.get(runtime)
    return known.parallelism(args) if known else (None, f"runtime {runtime}")


def model_server_of(resource_type: str, props: Mapping[str, Any]) -> tuple[Pod, str] | None:
    """(pod template, runtime) of a model server's workload (the one with a runtime label), None for any
    other resource."""
    pod = pod_of(resource_type, props)
    return None if pod is None or pod.runtime is None else (pod, pod.runtime)


def container_images(pod: Pod) -> list[tuple[str, str]]:
    """(container name, image) of every container of the pod that names an image, init containers first."""
    images = [(c.name, c.spec.get("image")) for c in pod.all_containers()]
    return [(name, image) for name, image in images if isinstance(image, str)]
