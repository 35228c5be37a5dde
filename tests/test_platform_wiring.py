"""The GCP platform as registered under the mock engine (plan.json), per environment."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from preview.envfile import SECRET_PLACEHOLDER
from tests.conftest import ENVIRONMENTS, Preview

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"


def cluster_inputs(p: Preview) -> dict[str, Any]:
    (cluster,) = p.resources(CLUSTER)
    return dict(cluster["inputs"])


def gpu_pools(p: Preview) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["name"]: r["inputs"] for r in p.resources(NODE_POOL) if r["inputs"]["name"] != "system"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cluster_is_hardened(previews: Callable[[str], Preview], env: str) -> None:
    c = cluster_inputs(previews(env))
    assert c["removeDefaultNodePool"] is True
    assert c["workloadIdentityConfig"] == {"workloadPool": f"{c['project']}.svc.id.goog"}
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["datapathProvider"] == "ADVANCED_DATAPATH"
    assert c["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
    assert c["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
    assert c["enableShieldedNodes"] is True
    assert c["enableLegacyAbac"] is False
    assert c["masterAuth"]["clientCertificateConfig"] == {"issueClientCertificate": False}
    assert all(b["cidrBlock"] != "0.0.0.0/0" for b in c["masterAuthorizedNetworksConfig"].get("cidrBlocks", []))
    assert c["networkingMode"] == "VPC_NATIVE"
    assert set(c["ipAllocationPolicy"]) == {"clusterSecondaryRangeName", "servicesSecondaryRangeName"}


def test_deletion_protection_follows_the_environment(previews: Callable[[str], Preview]) -> None:
    assert cluster_inputs(previews("dev"))["deletionProtection"] is False
    assert cluster_inputs(previews("prod"))["deletionProtection"] is True
    assert cluster_inputs(previews("prod"))["releaseChannel"] == {"channel": "STABLE"}
    assert cluster_inputs(previews("prod"))["binaryAuthorization"] == {
        "evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"
    }


def test_dev_is_zonal_with_one_spot_l4_pool_from_zero(previews: Callable[[str], Preview]) -> None:
    p = previews("dev")
    assert cluster_inputs(p)["location"] == "us-central1-a"
    (l4,) = gpu_pools(p).values()
    assert l4["nodeConfig"]["spot"] is True
    assert l4["autoscaling"]["totalMinNodeCount"] == 0
    assert l4["nodeLocations"] == ["us-central1-a"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_gpu_pool_carries_its_accelerator_driver_and_taint(previews: Callable[[str], Preview], env: str) -> None:
    pools = gpu_pools(previews(env))
    assert pools, "no GPU pool registered"
    for name, pool in pools.items():
        node = pool["nodeConfig"]
        (accelerator,) = node["guestAccelerators"]
        assert accelerator["type"].startswith("nvidia-"), name
        assert accelerator["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
        assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in node["taints"]
        assert node["imageType"] == "COS_CONTAINERD"
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        # Image streaming off: no server image is in Artifact Registry, the only registry it streams from.
        assert node["gcfsConfig"] == {"enabled": False}
        assert node["serviceAccount"].endswith(".iam.gserviceaccount.com")
        assert node["metadata"]["disable-legacy-endpoints"] == "true"
        assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
        assert pool["autoscaling"]["totalMinNodeCount"] <= pool["autoscaling"]["totalMaxNodeCount"]
        assert pool["nodeLocations"]


def test_prod_has_several_gpu_types_with_their_zones_and_scaling(previews: Callable[[str], Preview]) -> None:
    pools = gpu_pools(previews("prod"))
    types = {name: p["nodeConfig"]["guestAccelerators"][0]["type"] for name, p in pools.items()}
    assert types == {"l4": "nvidia-l4", "a100": "nvidia-tesla-a100", "h100": "nvidia-h100-80gb"}
    assert pools["a100"]["nodeConfig"]["machineType"] == "a2-highgpu-2g"
    assert pools["a100"]["nodeConfig"]["guestAccelerators"][0]["count"] == 2
    assert pools["a100"]["nodeLocations"] == ["us-central1-b", "us-central1-c"]
    assert pools["h100"]["autoscaling"] == {
        "totalMinNodeCount": 0,
        "totalMaxNodeCount": 3,
        "locationPolicy": "ANY",  # spot: take capacity in whichever zone has it
    }
    # a3-highgpu-2g is sold only as Spot or flex-start (catalog/machines.yaml `provisioning`).
    assert {n: p["nodeConfig"].get("spot") for n, p in pools.items()} == {"l4": False, "a100": False, "h100": True}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_hf_token_is_stored_in_secret_manager_and_the_namespace(previews: Callable[[str], Preview], env: str) -> None:
    p = previews(env)
    (secret,) = [r for r in p.resources("gcp:secretmanager/secret:Secret") if r["name"].endswith("hf-token-secret")]
    (version,) = [
        r
        for r in p.resources("gcp:secretmanager/secretVersion:SecretVersion")
        if r["name"].endswith("hf-token-version")
    ]
    assert secret["inputs"]["replication"] == {"auto": {}}
    assert version["inputs"]["secretData"] == "[secret]"
    k8s_secret = p.manifest("Secret", "hf-token")
    assert k8s_secret["stringData"] == {"HF_TOKEN": "[secret]"}
    assert k8s_secret["metadata"]["namespace"] == "serving"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_value_appears_anywhere(previews: Callable[[str], Preview], env: str) -> None:
    p = previews(env)
    text = json.dumps(p.plan) + json.dumps(p.manifests)
    assert SECRET_PLACEHOLDER not in text  # the stand-in for hfToken
    assert not re.search(r"preview-[0-9a-f]{24}", text)  # the mock's API keys
    assert p.plan["outputs"]["apiKeys"] == "[secret]"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kubernetes_objects_use_the_cluster_provider(previews: Callable[[str], Preview], env: str) -> None:
    p = previews(env)
    (provider,) = p.resources("pulumi:providers:kubernetes")
    kubeconfig = provider["inputs"]["kubeconfig"]
    assert "command: gke-gcloud-auth-plugin" in kubeconfig
    assert ".gke.goog" in kubeconfig  # the DNS endpoint the mock cluster reported
    assert provider["inputs"]["clusterIdentifier"].startswith("projects/")


def test_nat_gives_private_nodes_egress(previews: Callable[[str], Preview]) -> None:
    (nat,) = previews("dev").resources("gcp:compute/routerNat:RouterNat")
    assert nat["inputs"]["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    (subnet,) = [
        r for r in previews("dev").resources("gcp:compute/subnetwork:Subnetwork") if r["inputs"].get("purpose") is None
    ]
    assert {r["rangeName"] for r in subnet["inputs"]["secondaryIpRanges"]} == {"pods", "services"}
