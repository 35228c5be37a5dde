"""`make model` end to end: the real huggingface_hub client against the fixture Hub on 127.0.0.1.

Each case runs tools/model_entry.main with HF_ENDPOINT at the fixture and a temporary copy of the
catalog; a refusal must exit 2 with one line and leave the catalog byte for byte as it was.
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import loads.files
import sizing.models
from sizing.models import catalog, decoder_params, is_gated, resolve
from tests.hub_fixture import FixtureHub, FixtureRepo, llama_tensors, safetensors, serve, sharded
from tools import model_entry

SHA = "0123456789abcdef0123456789abcdef01234567"
TAG_SHA = "89abcdef0123456789abcdef0123456789abcdef"
AWQ_SHA = "fedcba9876543210fedcba9876543210fedcba98"
READER = "hf_" + "Reader0Reader0Reader0Reader0Reader0a"  # a token shape, never a real one

TINY = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 256,
    "max_position_embeddings": 512,
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
}
AWQ = {
    **TINY,
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "torch_dtype": "float16",
    "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"},
}
# Parameters of a Llama checkpoint with the TINY config: every element of every tensor it holds.
TINY_PARAMS = sum(math.prod(shape) for _, shape in llama_tensors(TINY).values())


def _config(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _tiny_files() -> dict[str, bytes]:
    return {"config.json": _config(TINY), "README.md": b"# tiny\n", **sharded(llama_tensors(TINY), 2)}


def _awq_files() -> dict[str, bytes]:
    # AWQ packs eight 4-bit weights per int32: the headers count I32 and F16 elements, not parameters.
    tensors = {"model.embed_tokens.weight": ("F16", [256, 64]), "model.layers.0.mlp.qweight": ("I32", [64, 16])}
    return {"config.json": _config(AWQ), "model.safetensors": safetensors(tensors)}


REPOS = [
    FixtureRepo(
        "acme/tiny-llama",
        SHA,
        _tiny_files(),
        refs={"main": SHA, "v1.0": TAG_SHA},
        card={"license": "apache-2.0"},
    ),
    FixtureRepo(
        "acme/tiny-llama-awq",
        AWQ_SHA,
        _awq_files(),
        refs={"main": AWQ_SHA},
        gated="manual",
        readers=frozenset({READER}),
        tags=["license:other", "awq"],
    ),
    FixtureRepo(
        "acme/broken",
        SHA,
        {"config.json": _config({k: v for k, v in TINY.items() if k not in ("hidden_size", "vocab_size")})},
        refs={"main": SHA},
    ),
    FixtureRepo("acme/not-json", SHA, {"config.json": b"{'layers': 2,"}, refs={"main": SHA}),
    # A repo sizing/models.yaml catalogues by hand.
    FixtureRepo("BAAI/bge-m3", SHA, {"config.json": _config(TINY)}, refs={"main": SHA}),
]


@pytest.fixture(scope="module")
def hub() -> Iterator[FixtureHub]:
    with serve(REPOS) as fixture:
        yield fixture


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub: FixtureHub) -> Path:
    """A copy of the catalog the tool writes into and sizing.models reads, and the fixture Hub."""
    copy = tmp_path / "sizing"
    copy.mkdir()
    shutil.copy(Path(sizing.models.__file__).parent / "models.yaml", copy / "models.yaml")
    monkeypatch.setattr(sizing.models, "CATALOG_ROOT", copy)
    monkeypatch.setattr(loads.files, "LOCKS", copy / "locks")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    hub.requests.clear()
    return copy


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(root: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = model_entry.main([*argv, "--catalog", str(root), "--timeout", "5"])
    out, err = capsys.readouterr()
    return code, out, err


def refused(root: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    before = _files(root)
    code, out, err = run(root, capsys, *argv)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1, err
    assert _files(root) == before  # nothing written
    return err.removeprefix("make model: ").rstrip("\n")


# --- the happy path ---------------------------------------------------------------------------------


def test_writes_an_entry_that_resolve_then_finds(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(root, capsys, "acme/tiny-llama")
    assert (code, err) == (0, "")
    path = root / "models.d" / "acme--tiny-llama.yaml"
    locked = root / "locks" / "acme--tiny-llama.yaml"
    assert out.splitlines() == [
        f"acme/tiny-llama main = {SHA}",
        f"wrote {path.relative_to(root.parent)}",
        f"locked {len(REPOS[0].files)} files in {locked.relative_to(root.parent)}",
        "Pin it in the service (environments/Pulumi.<env>.yaml):",
        "      model: acme/tiny-llama",
        f"      revision: {SHA}  # main on https://huggingface.co/acme/tiny-llama/commit/{SHA}",
    ]
    data = yaml.safe_load(path.read_text())
    entry = data["models"]["acme/tiny-llama"]
    shards = sorted(f for f in REPOS[0].files if f.endswith(".safetensors"))
    assert entry == {
        "source": f"https://huggingface.co/acme/tiny-llama/blob/{SHA}/config.json",
        "revision": SHA,
        "license": "apache-2.0",
        "kind": "decoder",
        "layers": 2,
        "hiddenSize": 64,
        "attentionHeads": 4,
        "kvHeads": 2,
        "headDim": 16,
        "intermediateSize": 128,
        "vocabSize": 256,
        "maxPositionEmbeddings": 512,
        "dtype": "bfloat16",
        "tiedEmbeddings": False,
        "params": entry["params"],
        "checkpoint": {
            "bytes": sum(len(REPOS[0].files[f]) for f in shards),
            "files": shards,
            "tensorElements": {"BF16": entry["params"]},
        },
    }
    # The §1 formula counts exactly the tensors a Llama checkpoint of this config holds.
    assert entry["params"] == TINY_PARAMS
    assert data["checkpoints"] == {"acme/tiny-llama": "none"}
    assert "gated" not in data
    # The lock: every file of the repository at the commit with its size, read from the Hub (verified).
    lock = yaml.safe_load(locked.read_text())
    assert lock["model"] == "acme/tiny-llama"
    assert lock["revisions"][SHA]["verified"] is True
    assert lock["revisions"][SHA]["files"] == {f: len(b) for f, b in sorted(REPOS[0].files.items())}
    assert loads.files.lock("acme/tiny-llama", SHA) is not None
    found = resolve("acme/tiny-llama")
    assert found is not None
    assert found[0] == "acme/tiny-llama"
    assert (found[1].layers, found[1].kv_heads, found[1].head_dim, found[1].params) == (2, 2, 16, entry["params"])
    assert sizing.models.checkpoint_quantization("acme/tiny-llama") == (None, True)
    # The hand-written catalog still resolves as before: a new file captures no one else's names.
    assert [resolve(m)[0] for m in ("TheBloke/Llama-2-13B-chat-AWQ", "google/gemma-7b-AWQ")] == [  # type: ignore[index]
        "meta-llama/Llama-2-13b-hf",
        "google/gemma-7b",
    ]


def test_the_client_calls_the_hub_endpoints_at_the_commit(
    root: Path, capsys: pytest.CaptureFixture[str], hub: FixtureHub
) -> None:
    assert run(root, capsys, "acme/tiny-llama")[0] == 0
    calls = [(r.method, r.path) for r in hub.requests]
    assert calls[0] == ("GET", "/api/models/acme/tiny-llama/revision/main")
    assert "blobs=true" in hub.requests[0].query
    # Every file is read at the commit the revision resolved to, never at the moving branch.
    files = [path for _, path in calls[1:]]
    assert all(p.startswith(f"/acme/tiny-llama/resolve/{SHA}/") for p in files), files
    assert ("HEAD", f"/acme/tiny-llama/resolve/{SHA}/config.json") in calls
    assert ("GET", f"/acme/tiny-llama/resolve/{SHA}/model.safetensors.index.json") in calls
    ranged = [r for r in hub.requests if r.path.endswith(".safetensors")]
    assert len(ranged) == 2
    assert all(r.headers.get("range", "").startswith("bytes=0-") for r in ranged)  # headers only, not weights
    assert all("authorization" not in {k.lower() for k in r.headers} for r in hub.requests)  # no HF_TOKEN, no token


@pytest.mark.parametrize(("ref", "sha"), [("v1.0", TAG_SHA), (SHA[:7], SHA), (SHA, SHA)])
def test_a_tag_or_short_sha_resolves_to_the_full_commit(
    root: Path, capsys: pytest.CaptureFixture[str], hub: FixtureHub, ref: str, sha: str
) -> None:
    code, out, _ = run(root, capsys, "acme/tiny-llama", "--revision", ref, "--dry-run")
    assert code == 0
    assert hub.requests[1].path == f"/acme/tiny-llama/resolve/{sha}/config.json"
    assert out.splitlines()[0] == f"acme/tiny-llama {ref} = {sha}"
    assert f"      revision: {sha}  # {ref} on https://huggingface.co/acme/tiny-llama/commit/{sha}" in out
    assert not (root / "models.d").exists()  # --dry-run writes nothing


def test_a_gated_quantized_checkpoint_with_access(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", READER)
    code, out, err = run(root, capsys, "acme/tiny-llama-awq")
    assert code == 0, err
    assert READER not in out + err
    assert (
        "gated: the cluster's hfToken must belong to an account that accepted the license at "
        "https://huggingface.co/acme/tiny-llama-awq" in out.splitlines()
    )
    data = yaml.safe_load((root / "models.d" / "acme--tiny-llama-awq.yaml").read_text())
    entry = data["models"]["acme/tiny-llama-awq"]
    assert (entry["license"], entry["dtype"]) == ("other", "float16")
    assert entry["checkpoint"]["tensorElements"] == {"F16": 256 * 64, "I32": 64 * 16}
    # Qwen2 has q/k/v biases: 2 layers x (4 + 2 x 2) heads x 16 more than the Llama layout.
    assert entry["params"] == TINY_PARAMS + 2 * (4 + 2 * 2) * 16
    assert data["checkpoints"] == {"acme/tiny-llama-awq": "awq"}
    assert data["gated"] == ["acme/tiny-llama-awq"]
    assert is_gated("acme/tiny-llama-awq")
    assert sizing.models.checkpoint_quantization("acme/tiny-llama-awq") == ("awq", True)


# --- an entry that exists ---------------------------------------------------------------------------


def test_an_existing_entry_is_kept_unless_forced(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(root, capsys, "acme/tiny-llama")[0] == 0
    path = root / "models.d" / "acme--tiny-llama.yaml"
    path.write_text(path.read_text().replace("layers: 2", "layers: 3"))
    code, out, _ = run(root, capsys, "acme/tiny-llama")
    assert code == 0
    assert f"kept the existing entry {path.relative_to(root.parent)} (FORCE=1 rewrites it)" in out.splitlines()
    assert f"      revision: {SHA}  # main on https://huggingface.co/acme/tiny-llama/commit/{SHA}" in out
    assert "layers: 3" in path.read_text()
    assert run(root, capsys, "acme/tiny-llama", "--force")[0] == 0
    assert "layers: 2" in path.read_text()
    sizing.models.reload()
    assert catalog()["acme/tiny-llama"].layers == 2


def test_a_hand_written_entry_prints_the_commit_and_is_never_rewritten(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(root, capsys, "BAAI/bge-m3")
    assert code == 0
    assert "kept the existing entry sizing/models.yaml (FORCE=1 rewrites it)" in out.splitlines()
    assert f"      revision: {SHA}  # main on https://huggingface.co/BAAI/bge-m3/commit/{SHA}" in out
    assert refused(root, capsys, "BAAI/bge-m3", "--force") == (
        f"BAAI/bge-m3 is catalogued by hand in {root / 'models.yaml'}: edit it there (its main is {SHA})"
    )


# --- refusals: exit 2, one line with the fix, nothing written ---------------------------------------


def test_gated_without_access(root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert refused(root, capsys, "acme/tiny-llama-awq") == (
        "acme/tiny-llama-awq is gated: accept the license at https://huggingface.co/acme/tiny-llama-awq with the "
        "account of HF_TOKEN, then retry (HF_TOKEN is not set: export it)"
    )
    other = "hf_" + "Other0Other0Other0Other0Other0Other0"
    monkeypatch.setenv("HF_TOKEN", other)
    before = _files(root)
    code, out, err = run(root, capsys, "acme/tiny-llama-awq")
    assert (code, out, _files(root)) == (2, "", before)
    assert err == (
        "make model: acme/tiny-llama-awq is gated: accept the license at https://huggingface.co/acme/tiny-llama-awq "
        "with the account of HF_TOKEN, then retry\n"
    )
    assert other not in err


def test_missing_revision(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(root, capsys, "acme/tiny-llama", "--revision", "v9") == (
        "acme/tiny-llama has no revision 'v9' — use a branch, tag or commit listed at "
        "https://huggingface.co/acme/tiny-llama/commits/main"
    )


def test_unknown_repository(root: Path, capsys: pytest.CaptureFixture[str], hub: FixtureHub) -> None:
    assert refused(root, capsys, "acme/nope") == (
        f"no repository acme/nope on {hub.url} (or it is private and HF_TOKEN cannot read it) — check the id at "
        "https://huggingface.co/models?search=nope"
    )


def test_not_a_model_id(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(root, capsys, "bge-m3") == "'bge-m3' is not a Hub model id — use <org>/<name>, e.g. BAAI/bge-m3"


@pytest.mark.parametrize(
    ("repo", "reason"),
    [
        (
            "a/..",
            "Repo id must use alphanumeric chars, '-', '_' or '.'. The name cannot start or end with '-' or '.' "
            "and the maximum length is 96: 'a/..'.",
        ),
        ("acme/tiny--llama", "Cannot have -- or .. in repo_id: 'acme/tiny--llama'."),
        ("acme/tiny.git", "Repo_id cannot end by '.git': 'acme/tiny.git'."),
        (
            "acme/-tiny",
            "Repo id must use alphanumeric chars, '-', '_' or '.'. The name cannot start or end with '-' "
            "or '.' and the maximum length is 96: 'acme/-tiny'.",
        ),
    ],
)
def test_an_id_the_hub_client_refuses_is_refused_before_any_request(
    root: Path, capsys: pytest.CaptureFixture[str], hub: FixtureHub, repo: str, reason: str
) -> None:
    assert (
        refused(root, capsys, repo) == f"{repo!r} is not a Hub model id ({reason}) — use <org>/<name>, e.g. BAAI/bge-m3"
    )
    assert hub.requests == []


def test_a_config_without_the_fields_the_catalog_needs(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(root, capsys, "acme/broken") == (
        f"acme/broken@{SHA[:12]}: config.json lacks hidden_size, vocab_size, which the catalog needs — pick another "
        "revision, or give the service an `architecture` with the values from the model card"
    )


def test_a_config_that_is_not_json(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(root, capsys, "acme/not-json") == (
        f"acme/not-json@{SHA[:12]}: config.json is not valid JSON (Expecting property name enclosed in double "
        "quotes, line 1) — the catalog cannot read its architecture; pick another revision or describe the model "
        "by hand"
    )


def test_connection_refused(root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nothing listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    message = refused(root, capsys, "acme/tiny-llama")
    assert message.startswith(f"cannot reach http://127.0.0.1:{port} (")
    assert message.endswith(") — check the network, proxy or HF_ENDPOINT, then retry")


def test_a_hub_that_does_not_answer(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted: list[socket.socket] = []
    done = threading.Event()

    def hold() -> None:  # accept, then say nothing
        silent.settimeout(0.2)
        while not done.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    try:
        before = _files(root)
        code = model_entry.main(["acme/tiny-llama", "--catalog", str(root), "--timeout", "0.3"])
        out, err = capsys.readouterr()
    finally:
        done.set()
        thread.join()
        for conn in accepted:
            conn.close()
        silent.close()
    assert (code, out, _files(root)) == (2, "", before)
    assert err.startswith(f"make model: {url} did not answer in time (")
    assert err.endswith(") — check the network or HF_ENDPOINT, then retry\n")


# --- the formula the tool uses --------------------------------------------------------------------------

# sizing/models.yaml's decoder entries were computed by hand from their configs (sizing.md §1); the
# function the tool calls must reproduce each one exactly.
_LLAMA_LIKE = [
    m
    for m, a in sorted(catalog().items())
    if a.kind == "decoder"
    and m.split("/")[0] in {"meta-llama", "mistralai", "Qwen", "google"}
    and "Llama-4" not in m
    and not m.startswith("google/gemma-3")
]


@pytest.mark.parametrize("model_id", _LLAMA_LIKE)
def test_decoder_params_reproduces_the_catalog(model_id: str) -> None:
    a = catalog()[model_id]
    shape = ("layers", "hidden_size", "attention_heads", "kv_heads", "head_dim", "intermediate_size", "vocab_size")
    assert a.params == decoder_params(
        **{field: getattr(a, field) for field in shape},
        tied_embeddings=a.tied_embeddings,
        experts=a.experts,
        qkv_bias=model_id.startswith("Qwen/"),
        norms_per_layer=4 if model_id.startswith("google/gemma-2-") else 2,
    )


@pytest.mark.parametrize(
    ("model_id", "kwargs"),
    [
        ("BAAI/bge-m3", {"vocab_size": 250002, "max_position_embeddings": 8194}),
        (
            "BAAI/bge-reranker-v2-m3",
            {"vocab_size": 250002, "max_position_embeddings": 8194, "pooler": False, "classifier_labels": 1},
        ),
        ("intfloat/e5-large-v2", {"vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2}),
    ],
)
def test_encoder_params_reproduces_the_catalog(model_id: str, kwargs: dict[str, Any]) -> None:
    assert catalog()[model_id].params == sizing.models.encoder_params(
        layers=24, hidden_size=1024, intermediate_size=4096, **kwargs
    )


def test_an_id_in_two_catalog_files_is_an_error(tmp_path: Path) -> None:
    shutil.copy(Path(sizing.models.__file__).parent / "models.yaml", tmp_path / "models.yaml")
    (tmp_path / "models.d").mkdir()
    (tmp_path / "models.d" / "x.yaml").write_text("checkpoints:\n  BAAI/bge-m3: none\n")
    with pytest.raises(ValueError, match=r"models\.d/x\.yaml: checkpoints\.BAAI/bge-m3 is already in .*models\.yaml"):
        sizing.models.load_catalog(tmp_path)
