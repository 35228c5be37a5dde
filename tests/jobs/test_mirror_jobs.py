"""The mirror and fill Jobs and the serving pods' wait container, run as the cluster runs them.

Each test takes a container exactly as the program renders it (command, env, mounts) and runs it under the
pod's constraints with bubblewrap: a read-only root filesystem (with a read-only /tmp, as a read-only image
has), only the declared volumes writable, as uid/gid 65534, and a bare Python with pip (the image's). The
install step is the rendered one — pip with --require-hashes from the repository's lock, fed from a local
wheelhouse (`make wheelhouse`) instead of PyPI. The clients are the real ones: google-cloud-storage against
gcp-storage-emulator (STORAGE_EMULATOR_HOST) and huggingface_hub against the fixture Hub (HF_ENDPOINT).

In front of the emulator, a small proxy answers as Cloud Storage answers the mirror's writer, which may read
only its own prefix and cannot list the bucket: 403 for an object that does not exist (the emulator says
404), and 412 for a create-only write (ifGenerationMatch=0) over an existing object (the emulator ignores
the precondition). The reader's proxy keeps 404.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from catalog.servers import server_facts
from loads import hyperdisk_ml, mirror
from loads.adapters import ADAPTER_LOAD
from loads.base import Placed
from loads.mirror import Copy
from loads.scripts.repo_files import select
from settings.mirror import WeightSource
from tests.hub_fixture import FixtureRepo, serve
from tests.stand_in import StandInHandler

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
BUCKET = "serving-test-models-abc123"
TOKEN = "hf_" + "x" * 34  # the fixture Hub's reader token
VLLM = server_facts()["vllm"].files

pytestmark = pytest.mark.jobs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- Cloud Storage: the emulator and the writer's and reader's view of it --------------------------------------


class Proxy:
    def __init__(self, upstream: str, *, writer: bool) -> None:
        self.upstream, self.writer = upstream, writer
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _exists(self, name: str) -> bool:
        url = f"{self.upstream}/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(name, safe='')}"
        try:
            with urllib.request.urlopen(url, timeout=10):
                return True
        except urllib.error.HTTPError:
            return False

    def _handler(self) -> type[StandInHandler]:
        proxy = self

        class Handler(StandInHandler):
            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                if query.get("ifGenerationMatch") == ["0"] and proxy._exists(query.get("name", [""])[0]):
                    self.reply(412, b'{"error": {"code": 412, "message": "Precondition Failed"}}')
                    return
                self._forward()

            def do_PUT(self) -> None:
                self._forward()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        self.reply(
                            answer.status, answer.read(), {"Content-Type": answer.headers.get("Content-Type", "")}
                        )
                except urllib.error.HTTPError as e:
                    missing_object = e.code == 404 and "/o/" in self.path
                    code = 403 if proxy.writer and missing_object else e.code
                    self.reply(code, e.read(), {"Content-Type": "application/json"})

        return Handler


def _client(endpoint: str) -> storage.Client:
    credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    return storage.Client(project="test", credentials=credentials, client_options={"api_endpoint": endpoint})


@dataclass
class Gcs:
    emulator: str
    writer: Proxy
    reader: Proxy

    def objects(self, prefix: str) -> dict[str, bytes]:
        client = _client(self.emulator)
        return {
            b.name.removeprefix(prefix + "/"): b.download_as_bytes()
            for b in client.bucket(BUCKET).list_blobs(prefix=prefix + "/")
        }

    def put(self, name: str, data: bytes) -> None:
        client = _client(self.emulator)
        client.bucket(BUCKET).blob(name).upload_from_string(data)


@pytest.fixture(scope="module")
def gcs() -> Iterator[Gcs]:
    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    upstream = f"http://127.0.0.1:{port}"
    found = Gcs(upstream, Proxy(upstream, writer=True), Proxy(upstream, writer=False))
    yield found
    found.writer.stop()
    found.reader.stop()
    server.stop()


# --- the pod: bubblewrap with the container's mounts, user and environment ------------------------------------


@pytest.fixture(scope="module")
def image_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare Python with pip and nothing else, as python:3.12-slim is. It is this machine's Python (3.11): the
    wheelhouse holds its wheels; `make wheelhouse` separately resolves every pin, with its hashes, for cp312."""
    if not any(WHEELHOUSE.glob("*.whl")):
        pytest.fail(f"no wheels in {WHEELHOUSE.relative_to(ROOT)}: run `make wheelhouse` (make test does)")
    venv = tmp_path_factory.mktemp("image") / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv


@dataclass
class Pod:
    root: Path  # where the pod's volumes live on this machine
    python: Path

    def run(
        self, container: dict[str, Any], endpoints: dict[str, str], drop: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Run `container` as rendered; `endpoints` are the test's stand-ins (STORAGE_EMULATOR_HOST, HF_ENDPOINT)."""
        binds: list[str] = []
        for mount in container.get("volumeMounts", []):
            host = self.root / mount["name"]
            host.mkdir(exist_ok=True)
            binds += ["--ro-bind" if mount.get("readOnly") else "--bind", str(host), mount["mountPath"]]
        env = {e["name"]: e.get("value", TOKEN) for e in container["env"] if e["name"] not in drop}
        env |= endpoints | {
            "PATH": "/opt/image/bin:/usr/bin:/bin",
            # The wheelhouse stands in for PyPI; pip reads no configuration of this machine.
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": "/wheelhouse",
            "PIP_CONFIG_FILE": "/dev/null",
        }
        command = [
            "bwrap", "--tmpfs", "/", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--ro-bind", sys.base_prefix, sys.base_prefix, "--ro-bind", str(self.python), "/opt/image",
            "--ro-bind", str(WHEELHOUSE), "/wheelhouse", "--proc", "/proc", "--dev", "/dev",
            "--dir", "/tmp", *binds, "--remount-ro", "/",
            "--unshare-user", "--uid", str(mirror.RUN_AS), "--gid", str(mirror.RUN_AS), "--die-with-parent",
            "--clearenv", *[x for k, v in env.items() for x in ("--setenv", k, v)],
            *container["command"], *container.get("args", []),
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def pod(tmp_path: Path, image_python: Path) -> Pod:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name, text in mirror.scripts_configmap_data().items():
        (scripts / name).write_text(text)
    return Pod(tmp_path, image_python)


# --- repositories as the Hub holds them -------------------------------------------------------------------------

SMALL = {"config.json": b'{"hidden_size": 8}', "tokenizer.json": b"{}" * 50, "tokenizer_config.json": b"{}"}
LAYOUTS = {
    # google/gemma-7b: a gguf of the whole model beside the safetensors shards.
    "gemma": {
        **SMALL,
        "model-00001-of-00002.safetensors": b"a" * 3000,
        "model-00002-of-00002.safetensors": b"b" * 1000,
        "model.safetensors.index.json": b'{"weight_map": {}}',
        "gemma-7b.gguf": b"g" * 5000,
        "README.md": b"# gemma",
    },
    # meta-llama/Llama-2-13b-hf: every shard twice, as .bin and as .safetensors.
    "llama2": {
        **SMALL,
        "model-00001-of-00002.safetensors": b"a" * 2000,
        "model-00002-of-00002.safetensors": b"b" * 2000,
        "pytorch_model-00001-of-00002.bin": b"c" * 2100,
        "pytorch_model-00002-of-00002.bin": b"d" * 2100,
        "pytorch_model.bin.index.json": b"{}",
        "LICENSE.txt": b"license",
    },
    # Llama 3: Meta's original checkpoint under original/.
    "llama3": {
        **SMALL,
        "model.safetensors": b"a" * 4000,
        "original/consolidated.00.pth": b"p" * 4100,
        "original/params.json": b"{}",
        "original/tokenizer.model": b"t" * 100,
    },
}


def repo(layout: str, name: str | None = None) -> FixtureRepo:
    """A gated repository (the Job sends its HF token) holding `layout` at a commit of its own."""
    repo_id = f"org/{name or layout}"
    sha = hashlib.sha1(repo_id.encode()).hexdigest()  # noqa: S324 (a commit id, not a digest of trust)
    return FixtureRepo(repo_id, sha, LAYOUTS[layout], gated=True, readers=frozenset({TOKEN}))


def copy_of(fixture: FixtureRepo, *, enforced: bool = True, files: dict[str, int] | None = None) -> Copy:
    listing = {p: len(b) for p, b in fixture.files.items()}
    selected = select(listing, VLLM) if files is None else files
    return Copy(WeightSource("streamer", BUCKET, fixture.repo_id, fixture.sha), selected, VLLM, None, enforced=enforced)


def as_read(manifest: dict[str, object]) -> Any:
    """A manifest body as the API server reads it: through JSON."""
    return json.loads(json.dumps(manifest))


def run_mirror(
    pod: Pod, gcs: Gcs, hub_url: str, copy: Copy, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    spec = as_read(mirror.mirror_job_spec(copy, ("hf-token", "HF_TOKEN"), "model-mirror"))
    container = spec["template"]["spec"]["containers"][0]
    return pod.run(container, {"STORAGE_EMULATOR_HOST": gcs.writer.url, "HF_ENDPOINT": hub_url}, drop)


# --- the tests ------------------------------------------------------------------------------------------------


SKIPPED = {
    "gemma": {"gemma-7b.gguf", "README.md"},
    "llama2": {*(f"pytorch_model-0000{i}-of-00002.bin" for i in (1, 2)), "pytorch_model.bin.index.json", "LICENSE.txt"},
    "llama3": {"original/consolidated.00.pth", "original/params.json", "original/tokenizer.model"},
}


@pytest.mark.parametrize(
    ("layout", "enforced"),
    # Every layout from a verified lock; the Hub's own listing selected by the patterns once (each run installs
    # the Job's packages, as the pod does: the cases are few on purpose).
    [*((layout, True) for layout in sorted(LAYOUTS)), ("llama2", False)],
    ids=[*(f"{layout}-lock" for layout in sorted(LAYOUTS)), "llama2-patterns"],
)
def test_the_mirror_copies_only_what_the_server_reads(pod: Pod, gcs: Gcs, layout: str, enforced: bool) -> None:
    fixture = repo(layout, f"{layout}-{'lock' if enforced else 'patterns'}")
    copy = copy_of(fixture, enforced=enforced)
    with serve([fixture]) as hub:
        done = run_mirror(pod, gcs, hub.url, copy)
    assert done.returncode == 0, done.stderr[-3000:]
    objects = gcs.objects(copy.source.prefix)
    marker = json.loads(objects.pop(".complete"))
    assert objects == {p: fixture.files[p] for p in copy.files or {}}
    assert marker["files"] == copy.files
    assert set(fixture.files) - set(objects) == SKIPPED[layout]


# A PEFT adapter repository as people publish them: the tensors twice (safetensors and the older .bin), the
# tokenizer and the trainer's leftovers beside the adapter's config.
ADAPTER = {
    "adapter_config.json": b'{"r": 8, "base_model_name_or_path": "org/base", "target_modules": ["q_proj", "v_proj"]}',
    "adapter_model.safetensors": b"l" * 700,
    "adapter_model.bin": b"m" * 720,
    "README.md": b"# sql",
    "tokenizer.json": b"{}" * 40,
    "tokenizer_config.json": b"{}",
    "special_tokens_map.json": b"{}",
    "training_args.bin": b"t" * 10,
}


def test_an_adapter_copy_holds_exactly_the_files_vllm_reads_of_an_adapter(pod: Pod, gcs: Gcs) -> None:
    """No lock: the Job selects from the Hub's listing by vLLM's adapter patterns, as for staging's adapter."""
    fixture = FixtureRepo("org/sql-lora", hashlib.sha1(b"org/sql-lora").hexdigest(), ADAPTER, gated=True,  # noqa: S324
                          readers=frozenset({TOKEN}))  # fmt: skip
    lora = server_facts()["vllm"].lora
    assert lora is not None
    copy = Copy(WeightSource(ADAPTER_LOAD, BUCKET, fixture.repo_id, fixture.sha), None, lora.files, None)
    with serve([fixture]) as hub:
        done = run_mirror(pod, gcs, hub.url, copy)
    assert done.returncode == 0, done.stderr[-3000:]
    objects = gcs.objects(copy.source.prefix)
    marker = json.loads(objects.pop(".complete"))
    assert objects == {name: ADAPTER[name] for name in ("adapter_config.json", "adapter_model.safetensors")}
    assert marker["files"] == {name: len(content) for name, content in objects.items()}


def test_a_second_run_finds_the_marker_and_copies_nothing(pod: Pod, gcs: Gcs) -> None:
    fixture = repo("gemma", "twice")
    copy = copy_of(fixture)
    with serve([fixture]) as hub:
        assert run_mirror(pod, gcs, hub.url, copy).returncode == 0
        downloads = len(hub.requests)
        again = run_mirror(pod, gcs, hub.url, copy)
        assert len(hub.requests) == downloads  # not even the Hub's listing is read again
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr[-2000:]


def test_a_retry_skips_the_files_an_earlier_attempt_uploaded_whole(pod: Pod, gcs: Gcs) -> None:
    fixture = repo("llama3", "resumed")
    copy = copy_of(fixture)
    gcs.put(f"{copy.source.prefix}/model.safetensors", fixture.files["model.safetensors"])  # uploaded, no marker
    with serve([fixture]) as hub:
        done = run_mirror(pod, gcs, hub.url, copy)
    assert done.returncode == 0, done.stderr[-3000:]
    fetched = {r.path.rsplit("/resolve/", 1)[1].split("/", 1)[1] for r in hub.requests if "/resolve/" in r.path}
    assert "model.safetensors" not in fetched
    assert fetched == set(copy.files or {}) - {"model.safetensors"}
    assert set(gcs.objects(copy.source.prefix)) == {*(copy.files or {}), ".complete"}


def test_without_tmpdir_the_job_dies_at_its_install_step(pod: Pod, gcs: Gcs) -> None:
    fixture = repo("llama3")
    with serve([fixture]) as hub:
        done = run_mirror(pod, gcs, hub.url, copy_of(fixture), drop=("TMPDIR",))
    assert done.returncode != 0
    assert "No usable temporary directory found" in done.stderr


def test_a_lock_the_hub_contradicts_stops_the_job_before_any_upload(pod: Pod, gcs: Gcs) -> None:
    fixture = repo("llama3", "drifted")
    wrong = {**select({p: len(b) for p, b in fixture.files.items()}, VLLM), "model.safetensors": 1}
    with serve([fixture]) as hub:
        done = run_mirror(pod, gcs, hub.url, copy_of(fixture, files=wrong))
    assert done.returncode != 0
    assert "other sizes than the lock for model.safetensors" in done.stderr
    assert gcs.objects(f"org/drifted/{fixture.sha}") == {}


def test_the_fill_job_copies_exactly_the_markers_list_onto_the_volume(pod: Pod, gcs: Gcs) -> None:
    fixture = repo("gemma", "filled")
    copy = copy_of(fixture)
    with serve([fixture]) as hub:
        assert run_mirror(pod, gcs, hub.url, copy).returncode == 0
    gcs.put(f"{copy.source.prefix}/stray.gguf", b"s" * 10)  # in the prefix, not in the marker's list
    spec = as_read(hyperdisk_ml.fill_job_spec(Placed(copy, ("us-central1-a",)), "model-reader"))
    reader = {"STORAGE_EMULATOR_HOST": gcs.reader.url}
    (wait,) = spec["template"]["spec"]["initContainers"]
    waited = pod.run(wait, reader)
    assert waited.returncode == 0 and "found" in waited.stdout, waited.stderr
    filled = pod.run(spec["template"]["spec"]["containers"][0], reader)
    assert filled.returncode == 0, filled.stderr[-3000:]
    volume = pod.root / "volume"
    on_disk = {str(p.relative_to(volume)) for p in volume.rglob("*") if p.is_file()}
    assert on_disk == {*(copy.files or {}), ".complete"}


def test_a_serving_pod_waits_until_its_deadline_when_the_copy_is_missing(pod: Pod, gcs: Gcs) -> None:
    source = WeightSource("gcsfuse", BUCKET, "org/absent", "f" * 40)
    wait = as_read(mirror.wait_container(source, 1))
    wait["env"] = [e if e["name"] != "POLL_SECONDS" else {"name": "POLL_SECONDS", "value": "1"} for e in wait["env"]]
    done = pod.run(wait, {"STORAGE_EMULATOR_HOST": gcs.reader.url})
    assert done.returncode == 1
    assert f"gs://{BUCKET}/org/absent/{'f' * 40}/.complete is still missing" in done.stderr


def test_the_pod_runs_under_its_own_user_and_a_read_only_root(pod: Pod) -> None:
    probe = {
        "command": ["sh", "-c", "id -u; touch /etc/x /tmp/x /scratch/x && echo wrote"],
        "env": [],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    }
    done = pod.run(probe, {})
    assert done.stdout.splitlines()[0] == str(mirror.RUN_AS)
    assert "wrote" not in done.stdout and "Read-only file system" in done.stderr
