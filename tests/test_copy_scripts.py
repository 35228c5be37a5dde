"""The Python the mirror and Hyperdisk ML Jobs run, executed here against in-memory stand-ins of the
Cloud Storage and Hugging Face Hub clients: resume after a failed attempt, refuse a size the Hub or the
bucket does not list, and write the completion marker last (or not at all)."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from workloads.hyperdisk_ml import FILL_SCRIPT
from workloads.model_mirror import MIRROR_SCRIPT

MODEL, COMMIT, PREFIX, BUCKET = "org/model", "c" * 40, "org--model/" + "c" * 40, "mirror-bucket"
FILES = {"config.json": b'{"hidden_size": 8}', "model.safetensors": b"w" * 4096}


class PreconditionFailed(Exception):
    """What google-cloud-storage raises for an `if_generation_match=0` write over an existing object."""


@dataclass
class Blob:
    bucket: Bucket
    name: str

    @property
    def size(self) -> int:
        return len(self.bucket.objects[self.name])

    def exists(self) -> bool:
        return self.name in self.bucket.objects

    def upload_from_filename(self, filename: str) -> None:
        self.bucket.objects[self.name] = Path(filename).read_bytes()
        self.bucket.writes.append(self.name)

    def upload_from_string(self, data: str, content_type: str, if_generation_match: int | None = None) -> None:
        assert content_type == "application/json"
        if if_generation_match == 0 and self.exists():
            raise PreconditionFailed(self.name)
        self.bucket.objects[self.name] = data.encode()
        self.bucket.writes.append(self.name)

    def download_to_filename(self, filename: str) -> None:
        Path(filename).write_bytes(self.bucket.objects[self.name][: self.bucket.short_reads.get(self.name)])


@dataclass
class Bucket:
    name: str
    objects: dict[str, bytes] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    short_reads: dict[str, int] = field(default_factory=dict)  # object -> bytes a download stops after

    def blob(self, name: str) -> Blob:
        return Blob(self, name)

    def get_blob(self, name: str) -> Blob | None:
        return Blob(self, name) if name in self.objects else None

    def list_blobs(self, prefix: str) -> list[Blob]:
        return [Blob(self, n) for n in sorted(self.objects) if n.startswith(prefix)]


@dataclass
class Hub:
    answers_for: str = COMMIT
    downloads: list[str] = field(default_factory=list)
    short: dict[str, int] = field(default_factory=dict)  # file -> bytes a download stops after

    def model_info(self, model: str, revision: str, files_metadata: bool) -> types.SimpleNamespace:
        assert (model, revision, files_metadata) == (MODEL, COMMIT, True)
        siblings = [types.SimpleNamespace(rfilename=n, size=len(b), lfs=None) for n, b in FILES.items()]
        return types.SimpleNamespace(sha=self.answers_for, siblings=siblings)

    def download(self, model: str, name: str, revision: str, local_dir: Path) -> str:
        assert (model, revision) == (MODEL, COMMIT)  # a file of the pinned commit, never of a branch
        self.downloads.append(name)
        path = Path(local_dir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(FILES[name][: self.short.get(name)])
        return str(path)


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> tuple[Bucket, Hub]:
    bucket, hub = Bucket(BUCKET), Hub()
    storage = types.ModuleType("google.cloud.storage")

    def named(name: str) -> Bucket:
        assert name == BUCKET
        return bucket

    storage.Client = lambda: types.SimpleNamespace(bucket=named)  # type: ignore[attr-defined]
    cloud = types.ModuleType("google.cloud")
    cloud.storage = storage  # type: ignore[attr-defined]
    hf = types.ModuleType("huggingface_hub")
    hf.HfApi = lambda: hub  # type: ignore[attr-defined]
    hf.hf_hub_download = hub.download  # type: ignore[attr-defined]
    for name, module in {"google": types.ModuleType("google"), "google.cloud": cloud}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(sys.modules, "google.cloud.storage", storage)
    monkeypatch.setitem(sys.modules, "huggingface_hub", hf)
    return bucket, hub


def run(script: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> int:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        exec(compile(script, "<job>", "exec"), {"__name__": "__main__"})  # noqa: S102 (our own Job's script)
    except SystemExit as stop:
        return 0 if stop.code is None else (stop.code if isinstance(stop.code, int) else 1)
    return 0


def mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    return run(
        MIRROR_SCRIPT, monkeypatch, MODEL=MODEL, COMMIT=COMMIT, PREFIX=PREFIX, BUCKET=BUCKET, SCRATCH=str(tmp_path)
    )


def test_the_mirror_copies_every_file_then_writes_its_marker_last(
    clients: tuple[Bucket, Hub], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket, _ = clients
    assert mirror(monkeypatch, tmp_path) == 0
    assert bucket.writes == [f"{PREFIX}/config.json", f"{PREFIX}/model.safetensors", f"{PREFIX}/.complete"]
    assert bucket.objects[f"{PREFIX}/model.safetensors"] == FILES["model.safetensors"]
    marker = json.loads(bucket.objects[f"{PREFIX}/.complete"])
    assert marker == {"model": MODEL, "commit": COMMIT, "files": 2, "bytes": sum(map(len, FILES.values()))}
    assert list((tmp_path / "dl").iterdir()) == []  # each file leaves the scratch volume once uploaded


def test_a_retried_mirror_keeps_whole_files_and_replaces_a_partial_one(
    clients: tuple[Bucket, Hub], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket, hub = clients
    bucket.objects[f"{PREFIX}/config.json"] = FILES["config.json"]
    bucket.objects[f"{PREFIX}/model.safetensors"] = b"w" * 100  # cut off by the earlier attempt
    assert mirror(monkeypatch, tmp_path) == 0
    assert hub.downloads == ["model.safetensors"]
    assert bucket.objects[f"{PREFIX}/model.safetensors"] == FILES["model.safetensors"]


def test_a_complete_copy_is_left_alone(
    clients: tuple[Bucket, Hub], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket, hub = clients
    bucket.objects[f"{PREFIX}/.complete"] = b"{}"
    assert mirror(monkeypatch, tmp_path) == 0
    assert (hub.downloads, bucket.writes) == ([], [])


@pytest.mark.parametrize("fault", ["another commit", "a short download"])
def test_the_mirror_fails_without_a_marker(
    fault: str, clients: tuple[Bucket, Hub], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket, hub = clients
    if fault == "another commit":
        hub.answers_for = "d" * 40
    else:
        hub.short["model.safetensors"] = 1000
    assert mirror(monkeypatch, tmp_path) != 0
    assert f"{PREFIX}/.complete" not in bucket.objects
    assert f"{PREFIX}/model.safetensors" not in bucket.objects


def fill(monkeypatch: pytest.MonkeyPatch, volume: Path) -> int:
    return run(FILL_SCRIPT, monkeypatch, VOLUME=str(volume), PREFIX=PREFIX, BUCKET=BUCKET)


def test_the_fill_copies_the_bucket_prefix_and_marks_the_volume_last(
    clients: tuple[Bucket, Hub], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket, _ = clients
    for name, content in FILES.items():
        bucket.objects[f"{PREFIX}/{name}"] = content
    bucket.objects[f"{PREFIX}/.complete"] = b"{}"
    bucket.objects["org--model/other/config.json"] = b"{}"  # another commit's copy: not this volume's
    (tmp_path / "config.json").write_bytes(FILES["config.json"])  # copied whole by an earlier attempt
    assert fill(monkeypatch, tmp_path) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".complete", "config.json", "model.safetensors"]
    assert (tmp_path / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert json.loads((tmp_path / ".complete").read_text()) == {"bucket": BUCKET, "prefix": PREFIX, "files": 2}


def test_a_short_copy_leaves_the_volume_unmarked(
    clients: tuple[Bucket, Hub], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket, _ = clients
    bucket.objects[f"{PREFIX}/model.safetensors"] = FILES["model.safetensors"]
    bucket.short_reads[f"{PREFIX}/model.safetensors"] = 10
    assert fill(monkeypatch, tmp_path) != 0
    assert not (tmp_path / ".complete").exists()
