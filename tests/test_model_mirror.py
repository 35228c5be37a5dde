"""The model mirror: config validation of `load`, the bucket, one Job per model@commit, the writer's IAM
condition, the serving pods' wait and load path, the FUSE sidecar in the node model, cold-start estimates."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import TypeAdapter

import catalog
from catalog.node_model import cluster_features, daemonsets_on
from config import parse_environment
from config.services import Autoscaling, ServiceConfig
from loads.facts import estimate, load_facts
from policies.rules.node_fit import pod_requests
from policies.rules.pods import pod_of
from settings.mirror import COMMIT, ModelMirrorConfig, WeightSource, bucket_name, job_name, mirrored
from tests.args import flags
from tests.conftest import Preview
from tests.test_config import VALID, problems
from workloads.autoscaling import hpa_spec
from workloads.model_mirror import ModelMirrorArgs
from workloads.server import server_spec

SHA = "a" * 40
OTHER = "b" * 40
L4, H100 = catalog.gpus()["nvidia-l4"], catalog.gpus()["nvidia-h100-80gb"]
SERVICE: TypeAdapter[ServiceConfig] = TypeAdapter(ServiceConfig)


def env(mirror: dict[str, Any] | None, **services: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:services"] = services
    if mirror is not None:
        raw["gke-serving:modelMirror"] = mirror
    return raw


# --- config ------------------------------------------------------------------------------------------


def test_without_a_mirror_every_server_loads_from_the_hub() -> None:
    parsed = parse_environment(env(None, embed={"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4"}))
    assert parsed.model_mirror is None


def test_a_mirror_load_without_a_mirror_is_refused_with_the_fix() -> None:
    found = problems(
        env(None, embed={"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "load": "gcsfuse", "revision": SHA})
    )
    assert found == [
        "gke-serving:services.embed.load: load 'gcsfuse' reads the model mirror, and the environment has none — "
        "add `gke-serving:modelMirror: {}` (a generated bucket), or use load: hub"
    ]


def test_an_unsupported_load_is_refused_with_the_runtimes_list() -> None:
    found = problems(
        env({}, embed={"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "load": "streamer", "revision": SHA})
    )
    assert found == [
        "gke-serving:services.embed.load: TEI cannot load weights by 'streamer' — use one of hub, gcsfuse, hyperdiskml"
    ]


@pytest.mark.parametrize(
    ("revision", "shown"), [(None, "no revision"), ("main", "revision 'main'"), ("abc1234", "revision 'abc1234'")]
)
def test_a_mirror_load_needs_a_commit(revision: str | None, shown: str) -> None:
    service = {"runtime": "vllm", "model": "google/gemma-2b", "pool": "l4"} | (
        {"revision": revision} if revision else {}
    )
    assert problems(env({}, chat=service)) == [
        f"gke-serving:services.chat.revision: load 'streamer' reads the mirror copy of model@commit, and {shown} is "
        "not a 40-hex commit — pin the commit (make model MODEL=google/gemma-2b prints it), or set load: hub"
    ]


def test_hub_stays_possible_with_a_mirror_and_a_branch() -> None:
    parse_environment(env({}, chat={"runtime": "vllm", "model": "google/gemma-2b", "pool": "l4", "load": "hub"}))


def test_triton_takes_no_load() -> None:
    service = {
        "runtime": "triton",
        "model": "m",
        "modelRepository": "gs://bkt/m",
        "pool": "l4",
        "auth": False,
        "load": "gcsfuse",
    }
    assert problems(env({}, det=service)) == [
        "gke-serving:services.det.load: Triton reads its own model repository; load does not apply — remove load"
    ]


def test_existing_bucket_needs_its_name() -> None:
    with pytest.raises(ValueError, match="existing: true needs the bucket's name"):
        ModelMirrorConfig.model_validate({"existing": True})


def test_generated_bucket_name_is_a_valid_global_name_per_project() -> None:
    a = bucket_name(ModelMirrorConfig(), "serving-prod", "acme-ml-prod")
    b = bucket_name(ModelMirrorConfig(), "serving-prod", "other-project")
    assert a.startswith("serving-prod-models-") and a != b and len(a) <= 63
    assert bucket_name(ModelMirrorConfig(bucket="mine"), "serving-prod", "p") == "mine"


def test_mirror_locations_are_read_back_to_model_and_commit() -> None:
    source = WeightSource("streamer", "bkt", "Qwen/Qwen2.5-7B", SHA)
    assert mirrored(source.uri) == ("Qwen/Qwen2.5-7B", SHA)
    assert mirrored(source.path) == ("Qwen/Qwen2.5-7B", SHA)
    assert mirrored("Qwen/Qwen2.5-7B") is None
    assert COMMIT.fullmatch(SHA)
    assert job_name("a/b", SHA) != job_name("a/b", OTHER) and job_name("a/b", SHA) == job_name("a/b", SHA)


# --- rendering of one server -------------------------------------------------------------------------


def test_vllm_streams_from_the_mirror_without_a_revision_flag() -> None:
    svc = SERVICE.validate_python(
        {
            "runtime": "vllm",
            "model": "Qwen/Qwen2.5-72B-Instruct-AWQ",
            "pool": "p",
            "revision": SHA,
            "tensorParallelSize": 2,
            "quantization": "awq_marlin",
        }
    )
    spec = server_spec("qwen", svc, H100, WeightSource("streamer", "bkt", svc.model, SHA))
    assert spec.args[0] == f"gs://bkt/Qwen/Qwen2.5-72B-Instruct-AWQ/{SHA}"
    streamed = flags(spec.args)
    assert streamed["--load-format"] == "runai_streamer"
    assert json.loads(streamed["--model-loader-extra-config"]) == {"distributed": True}
    assert not [a for a in spec.args if a.startswith("--revision")]
    assert spec.env["RUNAI_STREAMER_CONCURRENCY"] == "32"


def test_tgi_reads_the_mounted_folder() -> None:
    svc = SERVICE.validate_python(
        {"runtime": "tgi", "model": "meta-llama/Llama-2-13b-hf", "pool": "p", "revision": SHA}
    )
    spec = server_spec("llama", svc, L4, WeightSource("gcsfuse", "bkt", svc.model, SHA))
    assert spec.args[0] == f"--model-id=/models/meta-llama/Llama-2-13b-hf/{SHA}"
    assert not [a for a in spec.args if a.startswith(("--revision", "--load-format"))]


# --- rendered environments ---------------------------------------------------------------------------


def _pod(p: Preview, name: str) -> dict[str, Any]:
    return dict(p.manifest("Deployment", name)["spec"]["template"])


def test_prod_renders_a_private_regional_bucket(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    (bucket,) = p.resources("gcp:storage/bucket:Bucket")
    inputs = bucket["inputs"]
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["forceDestroy"] is False
    assert inputs["location"] == "US-CENTRAL1"
    assert inputs["labels"] == {"environment": "prod", "managed-by": "pulumi", "app": "gke-serving"}
    assert inputs["name"] == bucket_name(ModelMirrorConfig(), "serving-prod", "acme-ml-prod")


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_one_job_per_model_at_commit_with_a_prefix_scoped_writer(
    previews: Callable[[str], Preview], env_name: str
) -> None:
    p = previews(env_name)
    bucket = p.resources("gcp:storage/bucket:Bucket")[0]["inputs"]["name"]
    jobs = [
        m
        for m in p.manifests.values()
        if m["kind"] == "Job" and m["metadata"]["labels"]["app.kubernetes.io/name"] == "model-mirror"
    ]
    copies = {m["metadata"]["annotations"]["gke-serving/model"] for m in jobs}
    assert len(copies) == len(jobs)  # one Job each
    writers = [
        r
        for r in p.resources("gcp:storage/bucketIAMMember:BucketIAMMember")
        if r["inputs"]["role"] == "roles/storage.objectUser"
    ]
    conditions = {w["inputs"]["condition"]["expression"] for w in writers}
    expected = set()
    for m in jobs:
        model, commit = m["metadata"]["annotations"]["gke-serving/model"].split("@")
        assert m["metadata"]["name"] == job_name(model, commit)
        expected.add(f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{model}/{commit}/")')
        pod = m["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"cloud.google.com/gke-nodepool": "system"}
        assert "tolerations" not in pod
        (c,) = pod["containers"]
        assert "nvidia.com/gpu" not in c["resources"]["limits"]
        assert c["securityContext"]["runAsNonRoot"] is True
        assert {"HF_TOKEN", "MODEL", "COMMIT", "BUCKET"} <= {e["name"] for e in c["env"]}
        # The deadline is the pod's (time Pending for a node does not count); evictions are not failures.
        assert m["spec"]["backoffLimit"] >= 1 and pod["activeDeadlineSeconds"] > 0
        assert "activeDeadlineSeconds" not in m["spec"]
        assert m["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["type"] == "DisruptionTarget"
        # Every path the Job writes is on its scratch volume: pip finds no temporary directory otherwise.
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert all(env[k].startswith("/scratch/") for k in ("HOME", "TMPDIR", "PYTHONPATH", "HF_HOME"))
        assert "--require-hashes" in c["command"][-1]
    assert conditions == expected
    job_resources = p.resources("kubernetes:batch/v1:Job")
    assert all(r["options"]["customTimeouts"]["create"] for r in job_resources)


def test_services_sharing_a_model_share_its_job() -> None:
    raw = env(
        {},
        a={"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "revision": SHA},
        b={"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "revision": SHA},
        c={"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "revision": OTHER},
    )
    args = ModelMirrorArgs.of(parse_environment(raw), "serving", "hf-token", {})
    assert sorted(c.source.prefix for c in args.copies) == [f"BAAI/bge-m3/{SHA}", f"BAAI/bge-m3/{OTHER}"]
    assert args.sources["a"] == args.sources["b"]


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_serving_pods_wait_for_the_marker_and_never_get_the_hf_token(
    previews: Callable[[str], Preview], env_name: str
) -> None:
    p = previews(env_name)
    for m in p.manifests.values():
        if m["kind"] != "Deployment" or "gke-serving/runtime" not in m["metadata"]["labels"]:
            continue
        spec = m["spec"]["template"]["spec"]
        names = {e["name"] for c in spec["containers"] for e in c.get("env", [])}
        if m["metadata"]["labels"]["gke-serving/runtime"] == "triton":
            continue
        assert "HF_TOKEN" not in names, m["metadata"]["name"]
        # The base model's copy first; a LoRA adapter's copies after it (tests/test_lora.py).
        wait = spec["initContainers"][0]
        env_vars = {e["name"]: e["value"] for e in wait["env"]}
        assert env_vars["MARKER"].endswith("/.complete")
        assert int(env_vars["WAIT_SECONDS"]) > 0
        assert spec["serviceAccountName"] == "model-reader"


def test_dev_keeps_the_direct_path(previews: Callable[[str], Preview]) -> None:
    p = previews("dev")
    assert p.resources("gcp:storage/bucket:Bucket") == []
    assert [m for m in p.manifests.values() if m["kind"] == "Job"] == []
    for m in p.manifests.values():
        if m["kind"] == "Deployment" and m["metadata"]["labels"].get("gke-serving/runtime") in ("tei", "tgi", "vllm"):
            assert "initContainers" not in m["spec"]["template"]["spec"]


def test_gcsfuse_pods_mount_the_bucket_read_only_with_the_sidecar_requests(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    template = _pod(p, "embed")
    annotations = template["metadata"]["annotations"]
    assert annotations["gke-serving/model"] == "BAAI/bge-m3"
    assert annotations["gke-gcsfuse/volumes"] == "true"
    assert {"gke-gcsfuse/cpu-request", "gke-gcsfuse/memory-request", "gke-gcsfuse/ephemeral-storage-request"} <= set(
        annotations
    )
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    csi = volumes["model-mirror"]["csi"]
    assert csi["driver"] == "gcsfuse.csi.storage.gke.io" and csi["readOnly"] is True
    options = csi["volumeAttributes"]["mountOptions"].split(",")
    assert "implicit-dirs" in options and "file-cache:enable-parallel-downloads:true" in options
    assert csi["volumeAttributes"]["fileCacheCapacity"] == volumes["gke-gcsfuse-cache"]["emptyDir"]["sizeLimit"]
    (server,) = template["spec"]["containers"]
    assert {"name": "model-mirror", "mountPath": "/models", "readOnly": True} in server["volumeMounts"]


def test_the_cluster_runs_the_fuse_driver_and_the_node_model_counts_it(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    (cluster,) = p.resources("gcp:container/cluster:Cluster")
    assert cluster["inputs"]["addonsConfig"]["gcsFuseCsiDriverConfig"] == {"enabled": True}
    features = cluster_features(cluster["inputs"], {})
    assert "gcsfuse-csi" in features
    running = {d.name: d for d in daemonsets_on(gpu=True, features=features)}
    assert (running["gcsfusecsi-node"].cpu_milli, running["gcsfusecsi-node"].memory_mib) == (15, 20)
    assert "gcs-fuse-csi-driver" in running["gcsfusecsi-node"].source


def _pod_with(annotations: dict[str, str]) -> Any:
    props = {
        "metadata": {"name": "x"},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "resources": {"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}},
                        }
                    ]
                },
            }
        },
    }
    return pod_of("kubernetes:apps/v1:Deployment", props)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, (1000, 1024, 1024)),
        ({"gke-gcsfuse/volumes": "true"}, (1250, 1280, 1024 + 5 * 1024)),  # the webhook's defaults
        (
            {
                "gke-gcsfuse/volumes": "true",
                "gke-gcsfuse/cpu-request": "500m",
                "gke-gcsfuse/memory-request": "2Gi",
                "gke-gcsfuse/ephemeral-storage-request": "1Gi",
            },
            (1500, 3072, 2048),
        ),
    ],
)
def test_pod_fits_node_counts_the_injected_sidecar(annotations: dict[str, str], expected: tuple[int, int, int]) -> None:
    need = pod_requests(_pod_with(annotations))
    assert (need.cpu_milli, need.memory_mib, need.ephemeral_mib) == expected


# --- cold start --------------------------------------------------------------------------------------


def test_every_load_has_a_sourced_throughput() -> None:
    for path in load_facts().values():
        assert path.source.strip()
    assert all(p.offered for p in load_facts().values())
    assert "59 GiB in 48 s" in load_facts()["streamer"].source
    assert "9x" in load_facts()["gcsfuse"].source
    assert "11.9x" in load_facts()["hyperdiskml"].source


def test_the_streamer_is_faster_than_the_hub_and_unknown_sizes_stay_unknown() -> None:
    hub, streamer = estimate("hub", 38.6, generates=True), estimate("streamer", 38.6, generates=True)
    assert streamer.total_seconds is not None and hub.total_seconds is not None
    assert streamer.weights_seconds is not None and streamer.weights_seconds < 60
    assert streamer.total_seconds < hub.total_seconds
    assert estimate("gcsfuse", None, generates=False).total_seconds is None


def test_plan_carries_the_cold_start_table(previews: Callable[[str], Preview]) -> None:
    report = previews("prod").plan["coldStart"]
    rows = {r["service"]: r for r in report["services"]}
    assert rows["qwen"]["load"] == "streamer" and rows["gemma"]["load"] == "streamer"
    assert rows["qwen"]["budgetSeconds"] < rows["qwen"]["hubBudgetSeconds"]
    # every prod service loads from the mirror, llama from its Hyperdisk ML volume
    assert set(report["sources"]) == {"streamer", "gcsfuse", "hyperdiskml"}


def test_hpa_scale_up_period_follows_the_cold_start() -> None:
    spec = hpa_spec("s", "q", Autoscaling.model_validate({"maxReplicas": 4}), cold_start_seconds=400)
    assert {p["periodSeconds"] for p in spec["behavior"]["scaleUp"]["policies"]} == {400}
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0  # the first batch comes at once
    short = hpa_spec("s", "q", Autoscaling.model_validate({"maxReplicas": 4}), cold_start_seconds=10)
    assert {p["periodSeconds"] for p in short["behavior"]["scaleUp"]["policies"]} == {60}
