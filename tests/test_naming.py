"""The names the program derives (naming.py): within their limits, distinct for distinct inputs, and
the ones the rendered environments actually carry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import naming
from config.environment import KEY
from settings.mirror import job_name
from tests.conftest import ENVIRONMENTS, Preview

# The environment's own names, as config admits them: map keys (services, pools) and cluster names.
KEYS = st.from_regex(KEY, fullmatch=True)
CLUSTERS = st.from_regex(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?", fullmatch=True)


def bucket_reader_in_dev(service: str) -> str:
    return naming.bucket_reader_account_id("gke-dev", service)


ACCOUNT_IDS: list[Callable[[str], str]] = [naming.node_account_id, naming.metrics_account_id, bucket_reader_in_dev]


def valid_account_id(account_id: str) -> bool:
    return naming.ACCOUNT_ID.fullmatch(account_id) is not None and 6 <= len(account_id) <= 30


@given(name=CLUSTERS)
def test_every_account_id_is_one_gcp_accepts(name: str) -> None:
    for derive in ACCOUNT_IDS:
        assert valid_account_id(derive(name)), (derive.__name__, name, derive(name))


@given(a=CLUSTERS, b=CLUSTERS)
def test_distinct_names_never_share_an_account_id(a: str, b: str) -> None:
    for derive in ACCOUNT_IDS:
        assert (derive(a) == derive(b)) == (a == b), (derive.__name__, a, b)


@given(a=CLUSTERS, b=CLUSTERS, service=KEYS)
def test_one_bucket_reader_name_in_two_environments_of_one_project_gets_two_ids(a: str, b: str, service: str) -> None:
    # Service account ids are unique per project, whatever the environment: the cluster's name keeps them apart.
    assert (naming.bucket_reader_account_id(a, service) == naming.bucket_reader_account_id(b, service)) == (a == b)


@given(name=st.from_regex(r"[a-z][-a-z0-9]{0,60}", fullmatch=True), limit=st.integers(8, 63))
def test_a_name_that_fits_is_kept_and_a_cut_one_ends_in_its_hash(name: str, limit: int) -> None:
    bounded = naming.within(name, limit)
    assert len(bounded) <= limit
    assert not bounded.endswith("-")
    if len(name) <= limit and not name.endswith("-"):
        assert bounded == name  # today's short names render unchanged
    else:
        assert bounded.endswith(f"-{naming.short_hash(name)}")
        assert name.startswith(bounded.rsplit("-", 1)[0])


def test_long_cluster_names_with_one_head_get_distinct_ids_that_end_in_a_hash() -> None:
    """Cut to 30 characters alone, both node ids were `serving-europe-west4-production`, and the
    metrics id of a 23-character cluster ended in a hyphen."""
    a, b = "serving-europe-west4-production", "serving-europe-west4-production-2"
    assert naming.node_account_id(a) != naming.node_account_id(b)
    assert naming.node_account_id(a) == f"serving-europe-west4-pr-{naming.short_hash(f'{a}-nodes')}"
    assert naming.metrics_account_id("c" * 23) == f"{'c' * 23}-{naming.short_hash('c' * 23 + '-metrics')}"


def test_a_name_must_start_with_a_letter() -> None:
    with pytest.raises(ValueError, match="must start with a letter"):
        naming.within("-x", 30)


@given(service=KEYS)
def test_every_object_of_a_service_is_a_dns_label(service: str) -> None:
    for _, name in naming.service_objects(service):
        assert naming.DNS_LABEL.fullmatch(name), name
        assert len(name) <= 63


@given(a=KEYS, b=KEYS)
def test_services_share_no_object_with_the_platform_and_each_other_only_where_clashes_says(a: str, b: str) -> None:
    """A service's endpoint picker objects (`<service>-picker`) may take another service's names: those are the
    clashes config refuses (config/routing_checks.py); nothing else is shared."""
    owned = [*naming.PLATFORM_OBJECTS]
    kept = [service for service in dict.fromkeys((a, b)) if naming.why_reserved(service) is None]
    for service in kept:
        owned.extend(naming.service_objects(service))
    shared = {obj for obj, n in Counter(owned).items() if n > 1}
    assert shared == set(naming.clashes(kept))


def test_a_service_named_after_another_ones_picker_clashes_with_it() -> None:
    assert naming.clashes(["gemma", "gemma-picker", "embed"])[("Deployment", "gemma-picker")] == [
        "gemma",
        "gemma-picker",
    ]
    assert naming.clashes(["gemma", "embed"]) == {}


@pytest.mark.parametrize("service", naming.reserved_service_names())
def test_each_reserved_service_name_is_refused_with_its_reason(service: str) -> None:
    assert naming.why_reserved(service)


def test_reserved_service_names_are_the_platform_names_and_the_one_a_suffix_reaches() -> None:
    assert naming.reserved_service_names() == (
        "body-based-router",
        "body-based-router-ingress",
        "default-deny",
        "default-deny-ingress",
        "gateway",
        "hf-token",
        "iap-oauth-client",
    )
    assert naming.why_reserved("default-deny") == (
        "the service's NetworkPolicy would be 'default-deny-ingress' and replace the platform's"
    )
    assert naming.why_reserved("embed") is None


def test_duplicates_lists_every_owner_of_a_shared_name() -> None:
    assert naming.duplicates([("a", 1), ("b", 2), ("a", 3)]) == {"a": [1, 3]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_rendered_serving_objects_are_the_ones_naming_knows(env: str, previews: Callable[[str], Preview]) -> None:
    """Every object the program puts in the serving namespace is a platform object or one of a
    service's: a new generated name must be added to naming.py, where the reserved list comes from."""
    preview = previews(env)
    services = {m["metadata"]["name"] for m in preview.manifests.values() if m["kind"] == "Deployment"}
    known = {
        *naming.PLATFORM_OBJECTS,
        *naming.MIRROR_OBJECTS,
        *(obj for s in services for obj in naming.service_objects(s)),
    }
    # One mirror Job per model@commit, named from it (settings/mirror.py).
    known |= {
        ("Job", job_name(*m["metadata"]["annotations"]["gke-serving/model"].split("@")))
        for m in preview.manifests.values()
        if m["kind"] == "Job"
    }
    # One Hyperdisk ML copy per model@commit some service loads that way, named from it (naming.py).
    known |= {
        obj
        for m in preview.manifests.values()
        if m["kind"] == "Job" and m["metadata"]["labels"].get("app.kubernetes.io/name") == "hyperdisk-ml"
        for obj in naming.hyperdisk_objects(
            naming.hyperdisk_name(*m["metadata"]["annotations"]["gke-serving/model"].split("@"))
        )
    }
    rendered = {
        (m["kind"], m["metadata"]["name"])
        for m in preview.manifests.values()
        if m["metadata"].get("namespace") == "serving"
    }
    assert rendered - known == set()
    assert {("NetworkPolicy", naming.DEFAULT_DENY_POLICY), ("Gateway", naming.GATEWAY)} <= rendered


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_ids_and_urns_are_unique_and_derived_here(env: str, previews: Callable[[str], Preview]) -> None:
    preview = previews(env)
    resources = preview.plan["resources"]
    urns = Counter(r["urn"] for r in resources)
    assert [urn for urn, n in urns.items() if n > 1] == []
    files = Counter(preview.plan["manifests"]["files"])
    assert [file for file, n in files.items() if n > 1] == []
    account_ids = [r["inputs"]["accountId"] for r in preview.resources("gcp:serviceaccount/account:Account")]
    assert len(set(account_ids)) == len(account_ids)
    cluster = preview.resources("gcp:container/cluster:Cluster")[0]["inputs"]["name"]
    platform_accounts = {"platform-nodes-account", "autoscaling-metrics-adapter-gsa"}
    accounts = {r["name"] for r in preview.resources("gcp:serviceaccount/account:Account")}
    tritons = {name.removesuffix("-gsa") for name in accounts - platform_accounts}
    assert set(account_ids) <= {i for i, _, _ in naming.account_ids(cluster, tritons)}
    pools = {r["inputs"]["name"] for r in preview.resources("gcp:container/nodePool:NodePool")}
    assert naming.SYSTEM_POOL in pools
