"""The GKE versions the platform's features need. An environment whose `cluster.kubernetesVersion` is below a
feature's minor is refused (config/routing_checks.py, config/compute_class_checks.py), and the control plane is
held at or above the highest floor of the features it uses (`min_master_version`, infra/cluster.py): a release
channel may otherwise still offer an older patch of the same minor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Floor:
    feature: str
    version: str  # a GKE version: <major>.<minor>.<patch>-gke.<build>

    @property
    def minor(self) -> tuple[int, int]:
        return minor(self.version)

    @property
    def minor_text(self) -> str:
        return "{}.{}".format(*self.minor)

    def key(self) -> tuple[int, ...]:
        numbers, _, build = self.version.partition("-gke.")
        return (*(int(n) for n in numbers.split(".")), int(build or 0))


# GA InferencePool (inference.networking.k8s.io/v1) CRDs installed with the cluster (GKE "Deploy GKE Inference
# Gateway"; llm-d.ai/docs/resources/gateway/gke).
INFERENCE_GATEWAY = Floor(
    "the GKE Inference Gateway (InferencePool v1 installed with the cluster)", "1.34.0-gke.1626000"
)
# Node pools auto-created for a class without cluster-level node auto-provisioning (GKE's gke-compute-classes
# guidance, google/skills); custom classes themselves exist from 1.30.3, flex-start from 1.32.2-gke.1652000, both
# below this one.
COMPUTE_CLASSES = Floor("compute classes that create their own node pools", "1.33.3-gke.1136000")


def minor(version: str) -> tuple[int, int]:
    major, minor_, *_ = version.split(".")
    return int(major), int(minor_)


def highest(floors: Iterable[Floor]) -> Floor | None:
    """The floor that satisfies all of `floors`; None when no feature needs one."""
    return max(floors, key=Floor.key, default=None)
