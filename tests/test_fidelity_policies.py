"""The policies that model what GCP, GKE and pulumi-kubernetes refuse: tables of compliant and violating
inputs with the exact messages."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import PolicyResource, StackValidationArgs, StackValidationPolicy
from pulumi_policy.proxy import unknown_checking_proxy

from policies.evaluate import duration_seconds, policy_options
from policies.rules.features import cluster_features_ready
from policies.rules.gcp_fields import gcp_field_rules, label_problems
from policies.rules.node_fit import pod_fits_node
from policies.rules.rollout import await_covers_rollout, rollout_keeps_serving
from tests.test_policy_rules import DEPLOYMENT, NODE_POOL, deployment, node_pool, server, urn, violations

CLUSTER = "gcp:container/cluster:Cluster"
SERVICE = "kubernetes:core/v1:Service"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
API = "gcp:projects/service:Service"
Resource = tuple[str, str, dict[str, Any], dict[str, Any] | None]  # (type, name, props, options)

# The cluster as infra/cluster.py registers it (the features that put DaemonSets on every node).
GKE = {
    "datapathProvider": "ADVANCED_DATAPATH",
    "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
    "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
    "monitoringConfig": {"managedPrometheus": {"enabled": True}},
    "binaryAuthorization": {"evaluationMode": "DISABLED"},
    "securityPostureConfig": {"mode": "BASIC", "vulnerabilityMode": "VULNERABILITY_DISABLED"},
}


def stack_violations(policy: StackValidationPolicy, resources: list[Resource]) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []

    def report(message: str, at: str | None = None) -> None:
        found.append((message, at))

    stack = [
        PolicyResource(t, unknown_checking_proxy(p), urn(t, n), n, policy_options(o), None, None, [], {})
        for t, n, p, o in resources
    ]
    policy.validate(StackValidationArgs(stack, {}), report)
    return found


def sized(cpu: str, memory: str, disk: str, *, gpus: str = "1", **placement: Any) -> dict[str, Any]:
    container = server("--model-id=m/x", gpus=gpus)
    container["resources"]["requests"] |= {"cpu": cpu, "memory": memory, "ephemeral-storage": disk}
    container["resources"]["limits"] |= {"cpu": cpu, "memory": memory, "ephemeral-storage": disk}
    return deployment(container, name="embed", runtime="tei", **placement)


def pool(machine: str = "g2-standard-12", disk: int = 200, **kw: Any) -> Resource:
    props = node_pool("l4", machine, "nvidia-l4", 1, max_nodes=kw.pop("max_nodes", 4), **kw)
    props["nodeConfig"]["diskSizeGb"] = disk
    return (NODE_POOL, "l4-pool", props, None)


# --- pod-fits-node ---------------------------------------------------------------------------------

# A g2-standard-12 node (12 vCPU, 48 GB, L4) with a 200 GB boot disk gives pods, after GKE's
# reservations and its 8 DaemonSets on a GPU node of this cluster: cpu 11296m, memory 42559Mi,
# ephemeral-storage 97.4Gi (catalog/gke_node.yaml; tests/test_node_model.py checks the arithmetic).
FITS = sized("11000m", "41984Mi", "90Gi")


def test_a_pod_within_the_node_shape_fits() -> None:
    assert (
        stack_violations(pod_fits_node, [(CLUSTER, "gke", GKE, None), pool(), (DEPLOYMENT, "embed", FITS, None)]) == []
    )


@pytest.mark.parametrize(
    ("pod", "over"),
    [
        (sized("11500m", "41984Mi", "90Gi"), "cpu by 204m"),
        (sized("11000m", "43264Mi", "90Gi"), "memory by 705Mi"),
        # The first wave's request: boot disk - 60 GiB.
        (sized("11000m", "41984Mi", "140Gi"), "ephemeral-storage by 43660Mi"),
    ],
)
def test_a_pod_over_any_resource_of_the_node_never_schedules(pod: dict[str, Any], over: str) -> None:
    ((message, at),) = stack_violations(
        pod_fits_node, [(CLUSTER, "gke", GKE, None), pool(), (DEPLOYMENT, "embed", pod, None)]
    )
    assert at == urn(DEPLOYMENT, "embed")
    assert message.startswith("Deployment embed requests cpu ")
    assert (
        "but a node of pool l4 (g2-standard-12, 200 GB boot disk) can give pods cpu 11296m, memory 42559Mi, "
        "ephemeral-storage 97.4Gi (allocatable cpu 11900m, memory 43544Mi, ephemeral-storage 97.4Gi less 8 GKE "
        f"DaemonSets): over in {over} — the pod and a rollout's surge pod would stay Pending"
    ) in message


def test_a_larger_disk_or_machine_makes_the_same_pod_fit() -> None:
    big = sized("11000m", "41984Mi", "140Gi")
    assert (
        stack_violations(pod_fits_node, [(CLUSTER, "gke", GKE, None), pool(disk=300), (DEPLOYMENT, "e", big, None)])
        == []
    )


def test_the_cluster_features_decide_the_daemonsets_that_count() -> None:
    # Without Dataplane V2 no anetd (205m) runs: 11500m then fits.
    pod = sized("11400m", "41984Mi", "90Gi")
    legacy = {**GKE, "datapathProvider": "LEGACY_DATAPATH"}
    assert stack_violations(pod_fits_node, [(CLUSTER, "gke", legacy, None), pool(), (DEPLOYMENT, "e", pod, None)]) == []
    assert stack_violations(pod_fits_node, [(CLUSTER, "gke", GKE, None), pool(), (DEPLOYMENT, "e", pod, None)]) != []


def test_an_unknown_machine_type_is_not_a_pass() -> None:
    ((message, _),) = stack_violations(
        pod_fits_node, [(CLUSTER, "gke", GKE, None), pool("g9-huge-1"), (DEPLOYMENT, "e", FITS, None)]
    )
    assert "machine type g9-huge-1 is not in catalog/machines.yaml, so the pod's fit cannot be proven" in message


def test_a_cpu_pod_is_measured_against_the_cpu_pools() -> None:
    system = (NODE_POOL, "system", node_pool("system", "e2-standard-2", None, max_nodes=2), None)
    adapter = deployment(server(gpus=None), name="adapter", runtime=None, accelerator=None, pool=None)
    adapter["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "4", "memory": "1Gi"}}
    ((message, _),) = stack_violations(
        pod_fits_node, [(CLUSTER, "gke", GKE, None), system, (DEPLOYMENT, "a", adapter, None)]
    )
    assert message.startswith("Deployment adapter requests cpu 4000m") and "pool system (e2-standard-2" in message


# --- rollout-keeps-serving -------------------------------------------------------------------------


def rolled(name: str, *, replicas: int | None, surge: Any, unavailable: Any, gpus: str = "1") -> dict[str, Any]:
    props = deployment(server("google/gemma-7b-AWQ", gpus=gpus), name=name)
    spec = props["spec"]
    spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    if replicas is not None:
        spec["replicas"] = replicas
    return props


def hpa(target: str, low: int, high: int) -> Resource:
    spec = {"scaleTargetRef": {"kind": "Deployment", "name": target}, "minReplicas": low, "maxReplicas": high}
    return (HPA, f"{target}-hpa", {"spec": spec}, None)


def test_a_single_replica_that_is_stopped_first_is_refused() -> None:
    found = stack_violations(
        rollout_keeps_serving,
        [
            pool(max_nodes=4),
            (DEPLOYMENT, "gemma", rolled("gemma", replicas=None, surge=0, unavailable=1), None),
            hpa("gemma", 1, 2),
        ],
    )
    assert found == [
        (
            "Deployment gemma may run a single replica and maxUnavailable 1 stops it first: every rollout removes "
            "all capacity for a full cold start — use RollingUpdate with maxSurge 1 and maxUnavailable 0",
            urn(DEPLOYMENT, "gemma"),
        )
    ]


def test_the_kubernetes_defaults_keep_a_single_replica_but_recreate_does_not() -> None:
    # maxUnavailable 25% of 1 rounds down to 0, maxSurge 25% rounds up to 1: the defaults are safe.
    props = deployment(server("google/gemma-7b-AWQ"), name="gemma")
    assert stack_violations(rollout_keeps_serving, [pool(), (DEPLOYMENT, "gemma", props, None)]) == []
    props["spec"]["strategy"] = {"type": "Recreate"}
    ((message, _),) = stack_violations(rollout_keeps_serving, [pool(), (DEPLOYMENT, "gemma", props, None)])
    assert "Recreate stops it first" in message


def test_the_pool_must_hold_the_surge_pod_at_full_scale() -> None:
    surging = (DEPLOYMENT, "gemma", rolled("gemma", replicas=None, surge=1, unavailable=0), None)
    steady = (DEPLOYMENT, "embed", rolled("embed", replicas=2, surge=0, unavailable=1), None)
    resources = [pool(max_nodes=5), surging, hpa("gemma", 1, 3), steady]
    found = stack_violations(rollout_keeps_serving, resources)
    assert found == [
        (
            "pool l4 has 5 GPUs at maxNodes 5, but its services at their maximum replicas plus each rollout's surge "
            "pod need 6 (gemma 3+1 x 1 GPU, embed 2+0 x 1 GPU): the surge pod of a rollout at full scale would wait "
            "for a GPU — raise maxNodes to 6 or lower the services' maximum replicas",
            urn(NODE_POOL, "l4-pool"),
        )
    ]
    assert stack_violations(rollout_keeps_serving, [pool(max_nodes=6), surging, hpa("gemma", 1, 3), steady]) == []


# --- await-covers-rollout --------------------------------------------------------------------------


def awaited(deadline: int, timeouts: dict[str, str] | None) -> list[Resource]:
    props = rolled("qwen", replicas=1, surge=1, unavailable=0)
    props["spec"]["progressDeadlineSeconds"] = deadline
    service = {"metadata": {"name": "qwen"}, "spec": {"selector": {"app.kubernetes.io/name": "qwen"}}}
    options = {"customTimeouts": timeouts or {}}
    return [(DEPLOYMENT, "qwen", props, options), (SERVICE, "qwen-service", service, options)]


def test_pulumis_ten_minute_default_is_refused_for_a_45_minute_start() -> None:
    found = stack_violations(await_covers_rollout, awaited(2700, None))
    assert [m for m, _ in found] == [
        "Deployment qwen: `pulumi up` waits 10m on create (the default) but a new replica may take 45m "
        "(progressDeadlineSeconds) — set customTimeouts.create to at least 45m",
        "Deployment qwen: `pulumi up` waits 10m on update (the default) but a new replica may take 45m "
        "(progressDeadlineSeconds) — set customTimeouts.update to at least 45m",
        "Service qwen: `pulumi up` waits 10m for a ready endpoint but its pods may take 45m to become ready — set "
        "customTimeouts.create to at least 45m",
    ]


def test_timeouts_at_least_the_deadline_pass() -> None:
    assert stack_violations(await_covers_rollout, awaited(2700, {"create": "45m", "update": "1h30m"})) == []


def test_a_startup_probe_longer_than_the_progress_deadline_is_refused() -> None:
    resources = awaited(600, {"create": "45m", "update": "45m"})
    resources[0][2]["spec"]["template"]["spec"]["containers"][0]["startupProbe"] = {
        "periodSeconds": 10,
        "failureThreshold": 180,
    }
    ((message, _),) = stack_violations(await_covers_rollout, resources)
    assert message.startswith("Deployment qwen: its startup probe allows 30m but progressDeadlineSeconds is 600")


@pytest.mark.parametrize(("text", "seconds"), [("", 0), ("25m", 1500), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400)])
def test_pulumi_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["25", "m", "10x"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|unit"):
        duration_seconds(text)


# --- gcp-field-rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "props", "expected"),
    [
        ("gcp:secretmanager/secret:Secret", {"secretId": "serving-prod-qwen-api-key", "labels": {"app": "x"}}, []),
        (
            "gcp:secretmanager/secret:Secret",
            {"secretId": "s", "labels": {"app.kubernetes.io/name": "qwen"}},
            [
                "labels: label key 'app.kubernetes.io/name' is not 1-63 lowercase letters, digits, `_` or `-` "
                "starting with a letter (labels requirements)"
            ],
        ),
        (
            "gcp:container/cluster:Cluster",
            {"name": "serving", "resourceLabels": {"env": "Prod"}},
            [
                "resourceLabels: label env='Prod': values are 0-63 lowercase letters, digits, `_` or `-` "
                "(labels requirements)"
            ],
        ),
        (
            "gcp:serviceaccount/account:Account",
            {"accountId": "triton-a-very-long-service-nam-"},
            [
                "accountId 'triton-a-very-long-service-nam-' is refused by the API: it must match "
                "^[a-z][-a-z0-9]{4,28}[a-z0-9]$ (iam) — shorten or rename it"
            ],
        ),
        (
            "gcp:container/nodePool:NodePool",
            {"name": "gpu-pool-with-a-name-longer-than-forty-chars", "nodeConfig": {"resourceLabels": {}}},
            [
                "name 'gpu-pool-with-a-name-longer-than-forty-chars' is refused by the API: it must match "
                "^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$ (gke) — shorten or rename it"
            ],
        ),
        (
            "gcp:compute/network:Network",
            {},  # no name: Pulumi generates `<logical name>-<7 characters>`
            [],
        ),
        (
            "gcp:storage/bucketObject:BucketObject",
            {"name": "models"},
            [
                "gcp:storage/bucketObject:BucketObject has no name and label rules in catalog/gcp_rules.yaml, so what the API "
                "would refuse is not checked — add its rules (with their source) before using it"
            ],
        ),
        ("kubernetes:core/v1:Secret", {"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}, []),
    ],
)
def test_gcp_field_rules(type_: str, props: dict[str, Any], expected: list[str]) -> None:
    assert violations(gcp_field_rules, props, type_) == expected


def test_too_many_labels() -> None:
    assert label_problems({f"k{i}": "v" for i in range(65)}) == ["65 labels, above the 64 GCP allows"]


# --- cluster-features-ready ------------------------------------------------------------------------


def apis(*names: str) -> list[Resource]:
    return [(API, name.split(".")[0], {"service": name}, None) for name in names]


BASE_APIS = apis("container.googleapis.com")


def test_a_plan_with_its_apis_and_no_retired_setting_passes() -> None:
    assert stack_violations(cluster_features_ready, [(CLUSTER, "gke", GKE, None), *BASE_APIS]) == []


def test_binary_authorization_needs_its_api() -> None:
    enforcing = {**GKE, "binaryAuthorization": {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}}
    found = stack_violations(cluster_features_ready, [(CLUSTER, "gke", enforcing, None), *BASE_APIS])
    assert found == [
        (
            "Binary Authorization PROJECT_SINGLETON_POLICY_ENFORCE needs binaryauthorization.googleapis.com, which "
            "the plan does not enable — add it to the enabled APIs",
            urn(CLUSTER, "gke"),
        )
    ]
    with_api = [*BASE_APIS, *apis("binaryauthorization.googleapis.com")]
    assert stack_violations(cluster_features_ready, [(CLUSTER, "gke", enforcing, None), *with_api]) == []


def test_a_resource_whose_api_is_off_is_refused() -> None:
    ((message, _),) = stack_violations(cluster_features_ready, [(CLUSTER, "gke", GKE, None)])
    assert message == (
        "Cluster gke needs container.googleapis.com, which the plan does not enable — add it to the enabled APIs"
    )


def test_retired_vulnerability_scanning_is_refused() -> None:
    retired = {**GKE, "securityPostureConfig": {"mode": "BASIC", "vulnerabilityMode": "VULNERABILITY_BASIC"}}
    ((message, _),) = stack_violations(cluster_features_ready, [(CLUSTER, "gke", retired, None), *BASE_APIS])
    assert message == (
        "securityPostureConfig.vulnerabilityMode VULNERABILITY_BASIC is retired 2025-07-31 — set VULNERABILITY_DISABLED"
    )


def test_image_streaming_needs_its_api_and_artifact_registry_images() -> None:
    streaming = pool()
    streaming[2]["nodeConfig"]["gcfsConfig"] = {"enabled": True}
    pod = (DEPLOYMENT, "gemma", deployment(server("google/gemma-7b-AWQ")), None)
    found = [
        m
        for m, _ in stack_violations(cluster_features_ready, [(CLUSTER, "gke", GKE, None), streaming, pod, *BASE_APIS])
    ]
    assert found == [
        "image streaming (gcfsConfig) needs containerfilesystem.googleapis.com, which the plan does not enable — add "
        "it to the enabled APIs",
        "image streaming is on but no workload image is in Artifact Registry (registries: docker.io); GKE streams "
        "only Artifact Registry images — mirror the images there or turn gcfsConfig off",
    ]
    mirrored = deployment(server("google/gemma-7b-AWQ", image="us-docker.pkg.dev/acme/serving/vllm-openai:v0.33.0"))
    ready = [(CLUSTER, "gke", GKE, None), streaming, (DEPLOYMENT, "gemma", mirrored, None), *BASE_APIS]
    assert stack_violations(cluster_features_ready, [*ready, *apis("containerfilesystem.googleapis.com")]) == []
