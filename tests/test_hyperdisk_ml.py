"""`load: hyperdiskml`: validation (machine series, mirror, commit), the rendered fill volume, Job, snapshot,
ReadOnlyMany claim and StorageClass, the serving pod's read-only mount and arguments, the pulumi awaits, and
the cold-start row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import catalog
from config import parse_environment
from loads.facts import estimate, load_facts
from loads.hyperdisk_ml import facts as hyperdisk_ml
from loads.hyperdisk_ml import size_gib, volume_name
from loads.mirror import Copy
from preview.manifests import validate_manifest
from settings.mirror import MARKER, WeightSource
from tests.args import flags
from tests.conftest import Preview
from tests.test_config import problems
from tests.test_model_mirror import SHA, env
from workloads.model_mirror import ModelMirrorArgs
from workloads.model_server import pod_weights
from workloads.probes import weights_gib
from workloads.server import server_spec

LLAMA = "meta-llama/Llama-2-13b-hf"
LLAMA_COMMIT = "5c31dfb671ce7cfe2d7bb7c04375e44c55e815b1"


def _service(pool: str, **extra: Any) -> dict[str, Any]:
    return {"runtime": "tgi", "model": "google/gemma-2b", "pool": pool, "load": "hyperdiskml", "revision": SHA} | extra


# --- validation --------------------------------------------------------------------------------------


def test_a_pool_that_cannot_attach_hyperdisk_ml_is_refused_with_the_fix() -> None:
    assert problems(env({}, chat=_service("t4"))) == [
        "gke-serving:services.chat.load: a Hyperdisk ML volume cannot be attached to n1-standard-8 (pool t4): only "
        "the a2, a3, g2 machine series can attach one — move the service to a pool of one of those series, or use "
        "one of hub, gcsfuse"
    ]


def test_hyperdisk_ml_needs_a_mirror() -> None:
    assert problems(env(None, chat=_service("a100"))) == [
        "gke-serving:services.chat.load: load 'hyperdiskml' reads the model mirror, and the environment has none — "
        "add `gke-serving:modelMirror: {}` (a generated bucket), or use load: hub"
    ]


def test_hyperdisk_ml_needs_a_pinned_commit() -> None:
    assert problems(env({}, chat=_service("a100", revision="main"))) == [
        "gke-serving:services.chat.revision: load 'hyperdiskml' reads the mirror copy of model@commit, and revision "
        "'main' is not a 40-hex commit — pin the commit (make model MODEL=google/gemma-2b prints it), or set load: hub"
    ]


def test_triton_has_no_hyperdisk_ml_and_tei_does() -> None:
    parse_environment(
        env({}, e={"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "load": "hyperdiskml", "revision": SHA})
    )


def test_the_preview_says_what_it_did_not_check_about_hyperdisk_ml() -> None:
    parsed = parse_environment(env({}, chat=_service("a100"), hub=_service("l4", load="hub")))
    unchecked = [w for w in parsed.warnings if "hyperdiskml" in w]
    assert unchecked == [
        "gke-serving:services.chat.load: hyperdiskml — the attaching machine series (a2, a3, g2) and the "
        "image-to-volume time are from GKE's guide as recalled, not re-read: not checked until a real `pulumi preview`"
    ]


def test_machine_series_come_from_the_catalog() -> None:
    facts = hyperdisk_ml()
    assert facts.attachable("a2-highgpu-2g") and facts.attachable("a3-highgpu-2g") and facts.attachable("g2-standard-8")
    assert not facts.attachable("n1-standard-8") and not facts.attachable("n2-standard-4")
    assert facts.volume_gib(0.5) == facts.min_size_gib
    assert facts.volume_gib(24.2) >= 24.2


# --- one disk per model@commit, zones of its readers --------------------------------------------------


def test_services_sharing_a_model_share_one_disk_over_their_pools_zones() -> None:
    raw = env({}, a=_service("a100"), b=_service("l4"), c=_service("l4", load="gcsfuse"))
    parsed = parse_environment(raw)
    args = ModelMirrorArgs.of(parsed, "serving", "hf-token", {})
    (disk,) = args.placed["hyperdiskml"]
    zones = set(parsed.pool_zones(parsed.node_pools["a100"])) | set(parsed.pool_zones(parsed.node_pools["l4"]))
    assert disk.zones == tuple(sorted(zones))
    assert disk.copy.source.prefix == f"google/gemma-2b/{SHA}"


# --- rendering (prod: llama on a2-highgpu-2g) ---------------------------------------------------------


def _by_kind(p: Preview, kind: str) -> list[dict[str, Any]]:
    return [m for m in p.manifests.values() if m["kind"] == kind]


def test_prod_renders_fill_volume_job_snapshot_and_read_only_claim(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    name = volume_name(WeightSource("hyperdiskml", "b", LLAMA, LLAMA_COMMIT))
    claims = {m["metadata"]["name"]: m["spec"] for m in _by_kind(p, "PersistentVolumeClaim")}
    assert claims[f"{name}-fill"]["accessModes"] == ["ReadWriteOnce"]
    rox = claims[name]
    assert rox["accessModes"] == ["ReadOnlyMany"]
    assert rox["dataSource"] == {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": name}
    assert rox["resources"] == claims[f"{name}-fill"]["resources"]
    assert rox["storageClassName"] == name

    classes = {m["metadata"]["name"]: m for m in _by_kind(p, "StorageClass")}
    hdml = classes[name]
    assert hdml["parameters"]["type"] == "hyperdisk-ml"
    assert hdml["parameters"]["enable-multi-zone-provisioning"] == "true"
    assert hdml["parameters"]["provisioned-throughput-on-create"] == f"{hyperdisk_ml().throughput_mib_per_second}Mi"
    (topology,) = hdml["allowedTopologies"]
    assert topology["matchLabelExpressions"] == [
        {"key": "topology.gke.io/zone", "values": ["us-central1-b", "us-central1-c"]}  # prod's a100 pool
    ]
    assert classes[rox["storageClassName"]]["volumeBindingMode"] == "Immediate"
    assert classes[claims[f"{name}-fill"]["storageClassName"]]["volumeBindingMode"] == "WaitForFirstConsumer"

    (snap,) = _by_kind(p, "VolumeSnapshot")
    assert snap["spec"]["source"] == {"persistentVolumeClaimName": f"{name}-fill"}
    (snap_class,) = _by_kind(p, "VolumeSnapshotClass")
    assert snap["spec"]["volumeSnapshotClassName"] == snap_class["metadata"]["name"]
    assert snap_class["parameters"] == {"snapshot-type": "images"}

    (fill,) = [m for m in _by_kind(p, "Job") if m["metadata"]["name"] == name]
    pod = fill["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-nodepool": "system"}
    assert pod["serviceAccountName"] == "model-reader"  # reads the bucket; writes nothing to it
    (wait,) = pod["initContainers"]
    assert {e["name"]: e.get("value") for e in wait["env"]}["MARKER"] == f"{LLAMA}/{LLAMA_COMMIT}/{MARKER}"
    (c,) = pod["containers"]
    assert "HF_TOKEN" not in {e["name"] for e in c["env"]}
    assert {"name": "volume", "persistentVolumeClaim": {"claimName": f"{name}-fill"}} in pod["volumes"]
    assert c["command"][-1].endswith("exec python /job/fill_volume.py")  # from the scripts ConfigMap
    assert {"name": "scripts", "configMap": {"name": "model-mirror-scripts", "defaultMode": 0o444}} in pod["volumes"]


def test_the_rendered_custom_resources_pass_their_schemas(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    for kind in ("VolumeSnapshot", "VolumeSnapshotClass"):
        (m,) = _by_kind(p, kind)
        assert validate_manifest(m, "1.34") == []
        broken = {**m, "spec": {"source": {}}} if kind == "VolumeSnapshot" else {**m, "deletionPolicy": "Keep"}
        assert validate_manifest(broken, "1.34") != []


def test_llama_mounts_its_volume_read_only_where_its_model_id_points(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    deployment = p.manifest("Deployment", "llama")
    pod = deployment["spec"]["template"]["spec"]
    name = volume_name(WeightSource("hyperdiskml", "b", LLAMA, LLAMA_COMMIT))
    (volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"] == {"claimName": name, "readOnly": True}
    (server,) = pod["containers"]
    (mount,) = [m for m in server["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    assert flags(server["args"])["--model-id"] == mount["mountPath"]
    assert mount["mountPath"] == f"/models/{LLAMA}/{LLAMA_COMMIT}"
    assert "HF_TOKEN" not in {e["name"] for e in server.get("env", [])}
    assert "gke-gcsfuse/volumes" not in deployment["spec"]["template"]["metadata"]["annotations"]


MODEL_FLAG = {"vllm": None, "sglang": "--model-path=", "tei": "--model-id=", "tgi": "--model-id="}


@pytest.mark.parametrize("runtime", sorted(MODEL_FLAG))
def test_each_runtime_points_its_model_argument_at_the_mount(runtime: str) -> None:
    """Each runtime on `load: hyperdiskml`, through the environment: its model argument is the folder where
    the read-only claim is mounted in the server container, and nothing streams or downloads."""
    service = {
        "runtime": runtime,
        "model": "org/m",
        "pool": "a100",
        "load": "hyperdiskml",
        "revision": SHA,
        "auth": False,
    }
    parsed = parse_environment(env({}, s=service))
    s, pool = parsed.services["s"], parsed.node_pools["a100"]
    source = ModelMirrorArgs.of(parsed, "serving", "hf-token", {}).sources["s"]
    assert source.load == "hyperdiskml"
    _, _, additions = pod_weights(s, [pool], source, weights_gib(s))
    (claim,) = [v for v in additions.volumes if "persistentVolumeClaim" in v]
    pvc = claim["persistentVolumeClaim"]
    assert isinstance(pvc, dict) and pvc["readOnly"] is True
    (mount,) = [m for m in additions.mounts if m["name"] == claim["name"]]
    assert mount["readOnly"] is True
    args = server_spec("s", s, catalog.gpus()[pool.gpu.type], source).args
    flag = MODEL_FLAG[runtime]
    if flag is None:  # vLLM takes the model as its first, positional argument
        assert args[0] == mount["mountPath"]
        assert not any(a.startswith("--load-format") for a in args)
    else:
        assert [a for a in args if a.startswith(flag)] == [f"{flag}{mount['mountPath']}"]
    assert not additions.hf_token


# --- pulumi awaits --------------------------------------------------------------------------------------


def test_awaits_cannot_hang_pulumi_up(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    claims = {r["inputs"]["metadata"]["name"]: r for r in p.resources("kubernetes:core/v1:PersistentVolumeClaim")}
    fill = next(r for n, r in claims.items() if n.endswith("-fill"))
    rox = next(r for n, r in claims.items() if not n.endswith("-fill"))
    # WaitForFirstConsumer: the fill claim binds only when its Job's pod lands, so it is not awaited.
    assert fill["inputs"]["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert rox["options"]["customTimeouts"]["create"]
    (snap,) = p.resources("kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshot")
    assert snap["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.readyToUse}=true"
    assert snap["options"]["customTimeouts"]["create"]


# --- cold start ---------------------------------------------------------------------------------------------


def test_hyperdisk_ml_is_offered_with_its_source_and_beats_the_hub() -> None:
    path = load_facts()["hyperdiskml"]
    assert path.offered and "11.9x" in path.source and "hyperdisk-ml" in path.source
    hub, disk = estimate("hub", 24.2, generates=True), estimate("hyperdiskml", 24.2, generates=True)
    assert disk.total_seconds is not None and hub.total_seconds is not None
    assert disk.weights_seconds is not None and hub.weights_seconds is not None
    assert disk.weights_seconds * 11 < hub.weights_seconds  # the published "up to 11.9x"


def test_prod_llama_cold_start_row(previews: Callable[[str], Preview]) -> None:
    report = previews("prod").plan["coldStart"]
    rows = {r["service"]: r for r in report["services"]}
    llama = rows["llama"]
    assert llama["load"] == "hyperdiskml"
    assert llama["budgetSeconds"] < llama["hubBudgetSeconds"]
    assert "11.9x" in report["sources"]["hyperdiskml"]


def test_disk_size_follows_the_checkpoint() -> None:
    source = WeightSource("hyperdiskml", "bkt", "org/m", SHA)
    assert size_gib(Copy(source, None, {}, 100.0)) > size_gib(Copy(source, None, {}, 10.0))
    assert (
        size_gib(Copy(source, {"model.safetensors": 20 * 2**30}, {}, 100.0)) == 23
    )  # the files, x1.15, not the estimate
