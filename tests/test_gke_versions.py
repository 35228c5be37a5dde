"""The GKE version the control plane is held to: the highest floor of the features an environment uses."""

from __future__ import annotations

from config import parse_environment
from settings.gke_versions import COMPUTE_CLASSES, INFERENCE_GATEWAY, Floor, highest
from tests.test_compute_classes import L4_SPOT, with_class


def test_floors_compare_as_numbers_not_text() -> None:
    later_patch = Floor("x", "1.33.10-gke.1000")
    assert highest([COMPUTE_CLASSES, later_patch]) == later_patch  # "10" > "3" as a number
    assert highest([Floor("x", "1.33.3-gke.999"), COMPUTE_CLASSES]) == COMPUTE_CLASSES  # the build decides
    assert highest([COMPUTE_CLASSES, INFERENCE_GATEWAY]) == INFERENCE_GATEWAY
    assert highest([]) is None
    assert INFERENCE_GATEWAY.minor == (1, 34) and COMPUTE_CLASSES.minor_text == "1.33"


def test_an_environment_is_held_to_the_floor_of_what_it_uses() -> None:
    picked_and_classes = parse_environment(with_class(L4_SPOT))
    assert picked_and_classes.gke_floor() == INFERENCE_GATEWAY
    classes_only = with_class(L4_SPOT)
    classes_only["gke-serving:services"]["chat"]["routing"] = {"picker": False}
    assert parse_environment(classes_only).gke_floor() == COMPUTE_CLASSES
    neither = with_class(L4_SPOT)
    del neither["gke-serving:computeClasses"]
    neither["gke-serving:services"] = {}
    assert parse_environment(neither).gke_floor() is None
