"""Cross-checks of the compute classes: each option's shape against the catalogs, its provisioning model and
its reservation. Whether an option can serve a given service is config/service_checks.py's (per shape)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import catalog
from config.compute_classes import CapacityOption, ComputeClassConfig
from config.platform import ClusterConfig
from config.platform_checks import shape_problems
from settings.gke_versions import COMPUTE_CLASSES, minor
from settings.problems import Problem

P = "gke-serving"


def check_classes(region: str, cluster: ClusterConfig, classes: Mapping[str, ComputeClassConfig]) -> list[Problem]:
    problems = []
    if classes and minor(cluster.kubernetes_version) < COMPUTE_CLASSES.minor:
        wanted = COMPUTE_CLASSES.minor_text
        problems.append(
            Problem(
                f"{P}:cluster.kubernetesVersion",
                f"compute classes need GKE {wanted} ({COMPUTE_CLASSES.version} or later) to create their node pools, and "
                f"the cluster is on {cluster.kubernetes_version}",
                f"set kubernetesVersion to {wanted} or later (and a release channel that has it), or serve the "
                "services from node pools",
            )
        )
    for name, chosen in classes.items():
        for i, option in enumerate(chosen.options):
            path = f"{P}:computeClasses.{name}.options.{i}"
            problems += shape_problems(path, region, cluster, option.as_pool())
            problems += _sold(path, option)
            problems += _reservation(path, region, option)
    return problems


def _sold(path: str, option: CapacityOption) -> Iterator[Problem]:
    machine = catalog.machine_types().get(option.machine_type)
    if machine is None or option.provisioning in machine.provisioning:
        return  # an unknown machine type is shape_problems'
    yield Problem(
        path,
        f"{machine.name} is not sold {option.provisioning} (only: {', '.join(machine.provisioning)})",
        f"buy it {' or '.join(machine.provisioning)} in this option, or use another machine type",
    )


def _reservation(path: str, region: str, option: CapacityOption) -> Iterator[Problem]:
    held = option.reservation
    if held is None:
        return
    where = f"{path}.reservation"
    if held.machine_type != option.machine_type:
        yield Problem(
            f"{where}.machineType",
            f"reservation {held.name} holds {held.machine_type}, and the option asks for {option.machine_type}: "
            "GKE would find nothing to consume",
            f"set the option's machineType to {held.machine_type}, or name a reservation of {option.machine_type}",
        )
    if option.zones is not None and option.zones != [held.zone]:
        yield Problem(
            f"{path}.zones",
            f"reservation {held.name} holds capacity in {held.zone} only",
            "remove zones: the option's nodes go to the reservation's zone",
        )
    offered = catalog.zones_offering(option.gpu.type, region)
    if held.zone not in catalog.regions().get(region, ()):
        yield Problem(f"{where}.zone", f"{held.zone!r} is not a zone of {region}", "name the reservation's zone")
    elif held.zone not in offered:
        yield Problem(
            f"{where}.zone",
            f"{held.zone} does not offer {option.gpu.type}, so no reservation of it can be there",
            f"check the reservation's zone (zones of {region} with {option.gpu.type}: {', '.join(offered) or 'none'})",
        )
