"""The weights pipeline's pure parts: which files each server reads of a locked model@commit, what the mirror
skips, weights that do not fit their volume or budget, the disks in the cost table, and the load paths'
registry (one module and one catalog block each, no load-path name compared outside loads/)."""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import catalog
from catalog.servers import server_facts
from config import InvalidEnvironment, parse_environment
from loads import default_path, load_path, load_paths
from loads.facts import load_facts
from loads.files import lock, served
from loads.scripts.repo_files import matches, select
from preview.run import EXIT_INVALID, preview_environment
from tests.conftest import Preview
from tests.test_config import VALID
from tests.tree import project_python_files
from workloads.weights_fit import weights_problems

ROOT = Path(__file__).resolve().parent.parent
GIB = 2**30


# --- what each server reads ---------------------------------------------------------------------------------


def test_a_pattern_without_a_slash_matches_top_level_files_only() -> None:
    assert matches("model.safetensors", "*.safetensors")
    assert not matches("original/model.safetensors", "*.safetensors")
    assert matches("1_Pooling/config.json", "1_Pooling/config.json")
    assert matches("2_Dense/config.json", "*_Dense/config.json")


def test_fallback_weights_only_when_the_repository_has_none_of_the_first_kind() -> None:
    patterns = {"weights": ["*.safetensors"], "fallback": ["*.bin"], "support": ["config.json"]}
    both = {"a.safetensors": 1, "a.bin": 2, "config.json": 3}
    assert select(both, patterns) == {"a.safetensors": 1, "config.json": 3}
    assert select({"a.bin": 2, "config.json": 3}, patterns) == {"a.bin": 2, "config.json": 3}


@pytest.mark.parametrize(
    ("model", "commit", "runtime", "skipped", "read_gib"),
    [
        # The ~34 GB gguf beside the four safetensors shards.
        ("google/gemma-7b", "ff6768d9368919a1f025a54f9f5aa0ee591730bb", "vllm", {"gemma-7b.gguf"}, 15.9),
        # Every shard twice: .bin and .safetensors.
        ("meta-llama/Llama-2-13b-hf", "5c31dfb671ce7cfe2d7bb7c04375e44c55e815b1", "tgi", {".bin"}, 24.2),
        # Meta's original checkpoint under original/.
        ("meta-llama/Llama-3.1-8B-Instruct", "0e9e39f249a16976918f6564b8830bc894c89659", "tgi", {"original/"}, 15.0),
        # No model.safetensors at this commit: TEI reads pytorch_model.bin, never onnx/ or the FlagEmbedding heads.
        ("BAAI/bge-m3", "5617a9f61b028005a4858fdac845db406aefb181", "tei", {"onnx/", ".pt"}, 2.1),
    ],
)
def test_the_locked_models_skip_what_their_server_never_reads(
    model: str, commit: str, runtime: str, skipped: set[str], read_gib: float
) -> None:
    found = served(model, commit, server_facts()[runtime].files)
    assert found is not None
    assert round(found.gib, 1) == read_gib
    for marker in skipped:
        assert any(marker in p for p in found.skipped), f"{marker} not skipped: {sorted(found.skipped)}"
        assert not any(marker in p for p in found.files)
    assert sum(found.skipped.values()) > 0.9 * GIB


def test_a_lock_is_only_used_at_its_own_commit() -> None:
    assert lock("google/gemma-7b", "0" * 40) is None
    assert lock("google/gemma-7b", None) is None
    assert lock("no/such-model", "ff6768d9368919a1f025a54f9f5aa0ee591730bb") is None


# --- weights that do not fit, or arrive too late ------------------------------------------------------------


def _seventy_b(**service: Any) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:nodePools"]["l4x8"] = {
        "machineType": "g2-standard-96",
        "gpu": {"type": "nvidia-l4", "count": 8},
        "maxNodes": 1,
    }
    raw["gke-serving:services"] = {
        "big": {"runtime": "vllm", "model": "meta-llama/Llama-2-70b-hf", "pool": "l4x8", "tensorParallelSize": 8}
        | service
    }
    return raw


def test_a_70b_model_in_bf16_from_the_hub_is_refused_with_both_numbers() -> None:
    found = {p.path: str(p) for p in weights_problems(parse_environment(_seventy_b()))}
    assert set(found) == {"gke-serving:services.big.model", "gke-serving:services.big.load"}
    volume = re.search(
        r"its files take ([\d.]+) GiB, more than the (\d+) GiB the hub load",
        found[f"{'gke-serving'}:services.big.model"],
    )
    assert volume is not None and float(volume[1]) > float(volume[2])
    late = re.search(
        r"estimated at (\d+) s .* beyond the (\d+) s its startup probe allows", found["gke-serving:services.big.load"]
    )
    assert late is not None and int(late[1]) > int(late[2]) == 3600


def test_weights_that_do_not_fit_are_reported_with_the_files_other_problems_in_one_run(tmp_path: Path) -> None:
    """The program hands weights_problems to load_environment: one InvalidEnvironment, one preview report."""
    raw = _seventy_b(quantization="awqq")
    with pytest.raises(InvalidEnvironment) as refused:
        parse_environment(raw, checks=(weights_problems,))
    paths = sorted(p.path for p in refused.value.problems)
    assert paths == [
        "gke-serving:services.big.load",
        "gke-serving:services.big.model",
        "gke-serving:services.big.quantization",
    ]
    env_file = tmp_path / "Pulumi.dev.yaml"
    secret_and_internal = {
        "gke-serving:hfToken": {"secure": "v1:placeholder"},
        "gke-serving:gateway": {"className": "gke-l7-rilb"},
    }
    env_file.write_text(yaml.safe_dump({"config": raw | secret_and_internal}))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = preview_environment("dev", str(tmp_path / "out"), quiet=True, env_file=env_file)
    lines = err.getvalue().splitlines()
    assert code == EXIT_INVALID
    assert lines[0].endswith(": 3 problem(s), nothing was created:")
    assert lines[-5] == f"Summary: 3 problem(s) in {env_file}:"
    assert sorted(lines[-4:-1]) == [f"  {p}" for p in paths]
    assert lines[-1].startswith("exit 2: ")


def test_the_same_model_streamed_from_the_mirror_fits() -> None:
    raw = _seventy_b(revision="a" * 40, load="streamer")
    raw["gke-serving:modelMirror"] = {}
    assert weights_problems(parse_environment(raw)) == []


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_environment_fits_its_volumes_and_budgets(env: str, previews: Callable[[str], Preview]) -> None:
    assert previews(env).exit_code == 0  # the program refuses (exit 2) an environment with a weights problem


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_pod_leaves_room_for_logs_beyond_its_volumes(env: str, previews: Callable[[str], Preview]) -> None:
    """The ephemeral-storage request covers every emptyDir limit plus the logs and writable layer."""
    for manifest in (m for m in previews(env).manifests.values() if m["kind"] == "Deployment"):
        pod = manifest["spec"]["template"]["spec"]
        (server,) = [c for c in pod["containers"] if c["name"] == "server"] or [None]
        if server is None:
            continue
        limits = [
            _gib(v["emptyDir"]["sizeLimit"])
            for v in pod["volumes"]
            if v.get("emptyDir", {}).get("medium") is None and "emptyDir" in v and "sizeLimit" in v["emptyDir"]
        ]
        requested = _gib(server["resources"]["requests"]["ephemeral-storage"])
        assert requested >= sum(limits) + 1, f"{manifest['metadata']['name']}: {requested} Gi for {limits}"


def _gib(quantity: str) -> float:
    return float(quantity[:-2]) / (1 if quantity.endswith("Gi") else 1024)


# --- the cost table lists what the weights keep -------------------------------------------------------------


def test_prod_prices_its_mirror_bucket_and_lists_its_hyperdisk_ml_disks(previews: Callable[[str], Preview]) -> None:
    lines = {line["name"]: line for line in previews("prod").plan["cost"]["lines"]}
    bucket = lines["model mirror bucket"]
    assert bucket["unitPrice"] is not None and bucket["monthly"]["min"] > 0
    stored = re.match(r"([\d.]+) GiB", bucket["detail"])
    assert stored is not None and 50 < float(stored[1]) < 120  # each model@commit once, only what servers read
    disks = [n for n in lines if n.startswith(("Hyperdisk ML", "disk image of", "fill disk of"))]
    assert len(disks) == 3 and all("Llama-2-13b-hf" in n for n in disks)
    assert "2 zone(s)" in next(n for n in disks if n.startswith("Hyperdisk ML"))
    # Unpriced lines are named, never silently zero.
    missing = " ".join(previews("prod").plan["cost"]["missing"])
    assert "hyperdiskMlGbMonth" in missing and "imageGbMonth" in missing


def test_dev_without_a_mirror_has_no_weights_storage_line(previews: Callable[[str], Preview]) -> None:
    assert "model mirror bucket" not in {line["name"] for line in previews("dev").plan["cost"]["lines"]}


# --- the registry ---------------------------------------------------------------------------------------------


def test_every_load_path_has_a_module_and_a_catalog_block() -> None:
    written = catalog.read("load_paths.yaml")
    assert isinstance(written, dict)
    assert set(load_paths()) == set(load_facts()) == set(written["paths"])
    assert default_path().reads_mirror is False
    assert all(load_path(name).name == name for name in load_paths())


def test_no_load_path_name_is_compared_outside_loads() -> None:
    """A string constant equal to a load path's name appears only in loads/, catalog/ and tests/."""
    names = set(load_paths())
    offenders = []
    for relative, path in project_python_files(skip=frozenset({"loads", "catalog", "tests"})):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{relative}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_a_fuse_file_cache_larger_than_the_nodes_share_is_refused_with_both_numbers() -> None:
    raw = _seventy_b(revision="a" * 40, load="gcsfuse")
    raw["gke-serving:modelMirror"] = {}
    found = {p.path: str(p) for p in weights_problems(parse_environment(raw))}
    disk = re.search(
        r"its pods need (\d+) GiB of the node's ephemeral storage .* more than the (\d+) GiB",
        found["gke-serving:services.big.load"],
    )
    assert disk is not None and int(disk[1]) > int(disk[2])


def test_a_custom_image_that_fetches_its_own_weights_is_held_to_the_nodes_share() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:services"] = {
        "big": {
            "runtime": "custom",
            "model": "org/big",
            "image": "ghcr.io/org/server:1.0",
            "pool": "l4",
            "gpus": 1,
            "port": 8080,
            "healthPath": "/health",
            "checkpointGb": 400,
            "auth": False,
        }
    }
    found = {p.path: str(p) for p in weights_problems(parse_environment(raw))}
    assert "more than the" in found["gke-serving:services.big.model"]
