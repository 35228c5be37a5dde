"""tools.gcp_diff: GCP inputs compared between two plans, each change classified from the provider's schema.

The first tests run the real offline preview on a small environment and on edited copies of it; the
rest build plans by hand for the cases no environment key reaches (options, CIDR shrinking, secrets).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from preview.run import EXIT_OK, EXIT_POLICY, preview_environment
from tools import gcp_diff as gd
from tools import manifest_diff as md

GOLDEN = Path(__file__).parent / "golden"

ENVIRONMENT: dict[str, Any] = {
    "config": {
        "gcp:project": "acme-ml-diff",
        "gcp:region": "us-central1",
        "gke-serving:cluster": {
            "name": "serving-diff",
            "location": "us-central1-a",
            "releaseChannel": "REGULAR",
            "privateNodes": True,
            "deletionProtection": False,
            "systemPool": {"machineType": "e2-standard-2", "minNodes": 1, "maxNodes": 2},
        },
        "gke-serving:nodePools": {
            "l4": {
                "machineType": "g2-standard-8",
                "gpu": {"type": "nvidia-l4", "count": 1},
                "spot": True,
                "minNodes": 0,
                "maxNodes": 2,
                "diskType": "pd-balanced",
            }
        },
        "gke-serving:hfToken": {"secure": "v1:placeholder-set-with-pulumi-config-set-secret"},
        "gke-serving:gateway": {"className": "gke-l7-regional-external-managed", "allowPlaintext": True},
        "gke-serving:services": {"embed": {"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4"}},
    }
}


def preview(tmp: Path, name: str, environment: dict[str, Any]) -> Path:
    """The offline preview of `environment` (as stack dev); returns its output folder."""
    env_file = tmp / f"{name}.yaml"
    env_file.write_text(yaml.safe_dump(environment, sort_keys=False))
    out = tmp / name
    # A cost or policy failure (exit 1) still writes the plan and manifests.
    assert preview_environment("dev", str(out), quiet=True, env_file=env_file) in (EXIT_OK, EXIT_POLICY)
    return out


def edited(change: dict[str, Any]) -> dict[str, Any]:
    """ENVIRONMENT with `change` merged into its config, key by key."""
    environment = copy.deepcopy(ENVIRONMENT)

    def merge(into: dict[str, Any], values: dict[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(environment["config"], change)
    return environment


@pytest.fixture(scope="module")
def base_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return preview(tmp_path_factory.mktemp("gcp-diff"), "base", ENVIRONMENT)


def gcp_changes(base: Path, head: Path) -> list[gd.ResourceChange]:
    return gd.diff_plans(gd.load_plan(base / "plan.json"), gd.load_plan(head / "plan.json"))


def by_label(changes: list[gd.ResourceChange]) -> dict[str, gd.ResourceChange]:
    return {change.label: change for change in changes}


def fields(change: gd.ResourceChange) -> dict[str, tuple[object, object, gd.Effect]]:
    return {field.path: (field.old, field.new, field.effect) for field in change.fields}


# ---------------------------------------------------------------------------------------------
# The real preview, before and after one edit of the environment file


def test_a_gpu_pools_disk_type_recreates_its_nodes_with_a_warning(base_out: Path, tmp_path: Path) -> None:
    head = preview(tmp_path, "disk", edited({"gke-serving:nodePools": {"l4": {"diskType": "pd-ssd"}}}))

    changes = gcp_changes(base_out, head)

    # Since provider commit 9e365cbef4 the pool itself is updated, and GKE recreates its nodes.
    (pool,) = changes
    assert (pool.label, pool.status) == ("container.NodePool l4-pool", "updated")
    assert fields(pool) == {"nodeConfig.diskType": ("pd-balanced", "pd-ssd", "recreates-nodes")}
    (warning,) = pool.warnings
    assert warning.startswith("node pool l4: GKE recreates every node of the pool")
    assert "a service with a single replica is down meanwhile" in warning

    report = md.render_text([], gcp=changes)
    assert report.splitlines()[:3] == [
        "updated: container.NodePool l4-pool",
        '  ~ nodeConfig.diskType: "pd-balanced" → "pd-ssd"   [GKE recreates every node]',
        f"  warning: {warning}",
    ]
    assert "GCP resources: 0 replaced, 1 updated, 0 added, 0 removed" in report
    assert report.endswith("No changes to Kubernetes manifests.\n0 changed, 0 added, 0 removed\n")


def test_turning_spot_off_replaces_the_pool(base_out: Path, tmp_path: Path) -> None:
    head = preview(tmp_path, "spot", edited({"gke-serving:nodePools": {"l4": {"spot": False}}}))

    pool = by_label(gcp_changes(base_out, head))["container.NodePool l4-pool"]

    assert pool.status == "replaced"
    assert fields(pool)["nodeConfig.spot"] == (True, False, "replaces")
    (warning,) = pool.warnings
    assert warning.startswith("node pool l4: the pool is deleted and created again: its nodes are drained")
    assert "[replaces the resource (provider)]" in md.render_text([], gcp=[pool])


def test_max_nodes_is_an_update_in_place(base_out: Path, tmp_path: Path) -> None:
    head = preview(tmp_path, "max", edited({"gke-serving:nodePools": {"l4": {"maxNodes": 3}}}))

    (pool,) = gcp_changes(base_out, head)

    assert (pool.label, pool.status, pool.warnings) == ("container.NodePool l4-pool", "updated", ())
    assert fields(pool) == {"autoscaling.totalMaxNodeCount": (2, 3, "in-place")}
    assert pool.fields[0].line == "  ~ autoscaling.totalMaxNodeCount: 2 → 3"


def test_an_added_service_adds_kubernetes_objects_and_a_gcp_secret(base_out: Path, tmp_path: Path) -> None:
    rerank = {"runtime": "tei", "model": "BAAI/bge-reranker-v2-m3", "pool": "l4"}
    head = preview(tmp_path, "service", edited({"gke-serving:services": {"rerank": rerank}}))

    changes = gcp_changes(base_out, head)
    objects = md.diff_manifests(md.load_manifests(base_out / "manifests"), md.load_manifests(head / "manifests"))

    added = {change.label for change in changes if change.status == "added"}
    assert {"secretmanager.Secret rerank-api-key-secret", "secretmanager.SecretVersion rerank-api-key-version"} <= added
    # Nothing else changes but the dashboard and the alerts, which gain the service in place.
    updated = {change.label for change in changes if change.status == "updated"}
    assert {change.status for change in changes} == {"added", "updated"}
    assert "monitoring.Dashboard observability-dashboard" in updated
    assert all(label.startswith("monitoring.") for label in updated)
    assert ("added", "Deployment serving/rerank") in {(diff.status, diff.label) for diff in objects}
    report = md.render_text(objects, gcp=changes)
    assert "added: secretmanager.Secret rerank-api-key-secret" in report
    assert "added: Deployment serving/rerank" in report


def test_a_cluster_location_change_recreates_the_cluster(base_out: Path, tmp_path: Path) -> None:
    head = preview(tmp_path, "location", edited({"gke-serving:cluster": {"location": "us-central1-b"}}))

    changes = by_label(gcp_changes(base_out, head))

    cluster = changes["container.Cluster platform-gke-cluster"]
    assert cluster.status == "replaced"
    assert fields(cluster)["location"] == ("us-central1-a", "us-central1-b", "replaces")
    assert cluster.warnings[0].startswith("cluster serving-diff: the cluster and everything in it is destroyed")
    # The pools are recreated with it: their location forces replacement too.
    assert changes["container.NodePool l4-pool"].status == "replaced"


def test_a_label_change_is_in_place(base_out: Path, tmp_path: Path) -> None:
    # No environment key sets a label alone: the base plan with one label edited.
    plan = json.loads((base_out / "plan.json").read_text())
    pool = next(r for r in plan["resources"] if r["name"] == "l4-pool")
    pool["inputs"]["nodeConfig"]["resourceLabels"]["team"] = "ml"
    pool["inputs"]["nodeConfig"]["labels"]["gke-serving/pool"] = "l4-renamed"
    (tmp_path / "plan.json").write_text(json.dumps(plan))

    (change,) = gd.diff_plans(gd.load_plan(base_out / "plan.json"), gd.load_plan(tmp_path / "plan.json"))

    assert (change.status, change.warnings) == ("updated", ())
    assert fields(change) == {
        'nodeConfig.labels["gke-serving/pool"]': ("l4", "l4-renamed", "in-place"),
        "nodeConfig.resourceLabels.team": (gd.MISSING, "ml", "in-place"),
    }
    assert [field.line for field in change.fields] == [
        '  ~ nodeConfig.labels["gke-serving/pool"]: "l4" → "l4-renamed"',
        '  + nodeConfig.resourceLabels.team: "ml"',
    ]


# ---------------------------------------------------------------------------------------------
# The rules file


def test_every_gcp_type_of_every_environment_has_replacement_rules() -> None:
    types = {
        type_
        for inventory in sorted(GOLDEN.glob("*/inventory.yaml"))
        for type_ in yaml.safe_load(inventory.read_text())
        if isinstance(type_, str) and type_.startswith(gd.GCP_PREFIX)
    }
    assert types, "no golden inventories found"
    assert sorted(types - set(gd.load_rules().types)) == []


def test_every_type_names_its_source_and_every_group_exists() -> None:
    rules = gd.load_rules()
    for type_, entry in rules.types.items():
        assert entry.source, type_
        assert rules.replace_fields(type_), f"{type_}: no field forces replacement?"


def test_a_misspelt_field_path_is_refused(tmp_path: Path) -> None:
    bad = {"types": {"gcp:x/y:Y": {"what": "y", "source": "s", "replace": ["node_config.disk_type"]}}}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(bad))

    with pytest.raises(ValueError, match=r"not a camelCase field path: node_config\.disk_type"):
        gd.load_rules(path)


# ---------------------------------------------------------------------------------------------
# Hand-built plans: options, CIDRs, secrets


def resource(type_: str, name: str, inputs: dict[str, Any], **options: Any) -> gd.PlanResource:
    return gd.PlanResource(f"urn:pulumi:dev::gke-serving::{type_}::{name}", type_, name, inputs, options)


def one_change(before: gd.PlanResource, after: gd.PlanResource) -> gd.ResourceChange:
    (change,) = gd.diff_plans({before.urn: before}, {after.urn: after})
    return change


CLUSTER = "gcp:container/cluster:Cluster"
SUBNET = "gcp:compute/subnetwork:Subnetwork"


def test_ignore_changes_wins_over_a_replacing_field() -> None:
    # The cluster's nodeConfig.serviceAccount would replace it; the program ignores nodeConfig.
    before = resource(CLUSTER, "c", {"name": "c", "nodeConfig": {"serviceAccount": "a"}}, ignoreChanges=["nodeConfig"])
    after = resource(CLUSTER, "c", {"name": "c", "nodeConfig": {"serviceAccount": "b"}}, ignoreChanges=["nodeConfig"])

    change = one_change(before, after)

    assert (change.status, change.warnings) == ("unchanged", ())
    assert gd.text_lines([change]) == [
        "unchanged: container.Cluster c (ignoreChanges)",
        '  ~ nodeConfig.serviceAccount: "a" → "b"   [ignored: ignoreChanges]',
    ]


def test_replace_on_changes_and_delete_before_replace_from_the_plan_options() -> None:
    options = {"replaceOnChanges": ["autoscaling.totalMaxNodeCount"], "deleteBeforeReplace": True}
    pool = "gcp:container/nodePool:NodePool"
    before = resource(pool, "p", {"name": "p", "autoscaling": {"totalMaxNodeCount": 1}}, **options)
    after = resource(pool, "p", {"name": "p", "autoscaling": {"totalMaxNodeCount": 2}}, **options)

    change = one_change(before, after)

    assert change.status == "replaced"
    assert change.fields[0].reason == "replaceOnChanges"
    assert change.warnings[-1] == (
        "container.NodePool p: deleteBeforeReplace: the old one is deleted before the new one exists."
    )


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        ("10.10.0.0/20", "10.10.0.0/19", "updated"),  # expands: the provider updates in place
        ("10.10.0.0/20", "10.10.0.0/21", "replaced"),  # shrinks: ForceNewIfChange(IsShrinkageIpCidr)
        ("10.10.0.0/20", "10.30.0.0/20", "replaced"),  # moves
    ],
)
def test_a_subnet_range_replaces_only_when_it_shrinks(old: str, new: str, status: str) -> None:
    change = one_change(resource(SUBNET, "s", {"ipCidrRange": old}), resource(SUBNET, "s", {"ipCidrRange": new}))

    assert change.status == status


def test_secret_values_stay_redacted_and_equal_secrets_are_no_change() -> None:
    version = "gcp:secretmanager/secretVersion:SecretVersion"
    before = resource(version, "v", {"secret": "projects/p/secrets/a", "secretData": "[secret]"})
    after = resource(version, "v", {"secret": "projects/p/secrets/b", "secretData": "[secret]"})

    change = one_change(before, after)

    assert [field.path for field in change.fields] == ["secret"]
    assert change.status == "replaced"
    assert gd.diff_plans({before.urn: before}, {before.urn: before}) == []


def test_lists_of_objects_diff_by_index_and_scalar_lists_as_one_value() -> None:
    pool = "gcp:container/nodePool:NodePool"
    before = resource(
        pool,
        "p",
        {"nodeConfig": {"guestAccelerators": [{"count": 1, "type": "nvidia-l4"}], "oauthScopes": ["a", "b"]}},
    )
    after = resource(
        pool, "p", {"nodeConfig": {"guestAccelerators": [{"count": 2, "type": "nvidia-l4"}], "oauthScopes": ["a"]}}
    )

    change = one_change(before, after)

    assert fields(change) == {
        "nodeConfig.guestAccelerators[0].count": (1, 2, "replaces"),
        "nodeConfig.oauthScopes": (["a", "b"], ["a"], "replaces"),
    }


def test_a_type_without_rules_is_shown_unclassified_and_reported() -> None:
    bucket = resource("gcp:storage/bucketObject:BucketObject", "b", {"location": "US"})
    moved = resource("gcp:storage/bucketObject:BucketObject", "b", {"location": "EU"})

    change = one_change(bucket, moved)

    assert (change.status, change.fields[0].effect) == ("updated", "in-place")
    assert gd.unknown_types({moved.urn: moved}) == ["gcp:storage/bucketObject:BucketObject"]


def test_only_gcp_resources_are_read_from_a_plan(tmp_path: Path) -> None:
    plan = {
        "resources": [
            {"urn": "u1", "type": "gcp:compute/network:Network", "name": "vpc", "inputs": {"name": "v"}, "options": {}},
            {"urn": "u2", "type": "kubernetes:core/v1:Service", "name": "svc", "inputs": {}, "options": {}},
            {"urn": "u3", "type": "gke-serving:infra:Network", "name": "net", "inputs": {}, "options": {}},
        ]
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))

    assert list(gd.load_plan(tmp_path / "plan.json")) == ["u1"]
