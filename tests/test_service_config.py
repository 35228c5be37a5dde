"""Validation of `services`: each server rule, with the exact message and the warnings."""

from __future__ import annotations

from typing import Any

import pytest

from config import parse_environment
from config.services import gpus_per_replica
from tests.tables import table
from tests.test_config import problems, with_service

L4, T4, L4X2, A100 = "l4", "t4", "l4x2", "a100"


@pytest.mark.parametrize(("service", "expected"), table("service_problems", "service", "expected"))
def test_service_problems(service: dict[str, Any], expected: str) -> None:
    assert expected in problems(with_service(**service))


def test_min_replicas_must_fit_the_pool() -> None:
    raw = with_service(runtime="tei", model="a/b", pool="l4", replicas=5)
    assert (
        "gke-serving:nodePools.l4.maxNodes: the services on this pool need 5 GPUs at their minimum replicas but "
        "the pool has 4 (4 nodes x 1) — raise maxNodes to at least 5 or lower the services' replicas"
    ) in problems(raw)


@pytest.mark.parametrize(("service", "warning"), table("service_warnings", "service", "warning"))
def test_accepted_with_a_warning(service: dict[str, Any], warning: str) -> None:
    assert warning in parse_environment(with_service(**service)).warnings


def test_tei_always_takes_one_gpu_per_replica() -> None:
    env = parse_environment(with_service(runtime="tei", model="a/b", pool=L4X2, replicas=2))
    assert gpus_per_replica(env.services["svc"]) == 1


IAP = {"iap": {"oauthClientId": "1234-abc.apps.googleusercontent.com"}}
TRITON = {"runtime": "triton", "model": "m", "pool": L4, "modelRepository": "gs://models-bucket/m"}


def test_triton_with_auth_is_accepted_behind_iap() -> None:
    raw = with_service(**TRITON)
    raw["gke-serving:gateway"] = IAP
    raw["gke-serving:iapClientSecret"] = "placeholder"
    assert parse_environment(raw).gateway.iap is not None


def test_iap_needs_its_client_secret() -> None:
    raw = with_service(**TRITON)
    raw["gke-serving:gateway"] = IAP
    assert problems(raw) == [
        "gke-serving:iapClientSecret: gateway.iap needs the OAuth client's secret — run `pulumi config set "
        "--secret iapClientSecret <the client's secret>`"
    ]
