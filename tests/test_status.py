"""`make status` (tools/status.py) against a stand-in for the Kubernetes API server on 127.0.0.1.

The stand-in serves recorded API responses (tests/fixtures/k8s/<scenario>/: DeploymentList, PodList,
EventList, the previous container's log; nodes.json: NodeList) at the API's own paths, applies label
selectors as the API server does and checks the bearer token. The command reaches it through the real
`kubernetes` client and its real kubeconfig loading, from a kubeconfig file pointing at the stand-in.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.stand_in import StandInHandler
from tools import stack, status

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "k8s"
TOKEN = "standin-token-for-tests"
OUTPUTS = {"cluster": "serving-dev", "namespace": "serving", "apiKeys": "[secret]"}


@dataclass
class Scenario:
    """What the stand-in API server answers: one recorded cluster state, or 401 for every request."""

    name: str
    expired: bool = False
    edits: dict[str, Any] = field(default_factory=dict)  # list name -> a replacement document
    logs: dict[str, str] = field(default_factory=dict)  # "<pod>/<container>" -> the current log of a Job's container
    requests: list[str] = field(default_factory=list)

    def document(self, kind: str) -> dict[str, Any]:
        if kind in self.edits:
            edited: dict[str, Any] = self.edits[kind]
            return edited
        if kind == "jobs":  # the recorded states predate the mirror: no Job
            return {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": []}
        if kind == "computeclasses":  # nor compute classes
            return {"kind": "ComputeClassList", "apiVersion": "cloud.google.com/v1", "metadata": {}, "items": []}
        path = FIXTURES / (f"{kind}.json" if kind == "nodes" else f"{self.name}/{kind}.json")
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded


def _selected(items: list[dict[str, Any]], selector: str | None) -> list[dict[str, Any]]:
    def matches(labels: dict[str, str]) -> bool:
        for term in (selector or "").split(","):
            key, _, value = term.partition("=")
            if key and (key not in labels or (value and labels[key] != value)):
                return False
        return True

    return [item for item in items if matches(item["metadata"].get("labels", {}))]


class _Handler(StandInHandler):
    server: _KubeApi

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.reply(code, body, {"Content-Type": content_type})

    def _status(self, code: int, reason: str, message: str) -> None:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        self._send(code, json.dumps({**body, "message": message, "reason": reason, "code": code}).encode())

    def do_GET(self) -> None:
        scenario = self.server.scenario
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        scenario.requests.append(self.path)
        if scenario.expired or self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._status(401, "Unauthorized", "Unauthorized")
            return
        parts = url.path.strip("/").split("/")
        lists = {
            "apis/apps/v1/namespaces/serving/deployments": "deployments",
            "api/v1/namespaces/serving/pods": "pods",
            "api/v1/namespaces/serving/events": "events",
            "api/v1/nodes": "nodes",
            "apis/batch/v1/namespaces/serving/jobs": "jobs",
            "apis/cloud.google.com/v1/computeclasses": "computeclasses",
        }
        if url.path.strip("/") in lists:
            document = scenario.document(lists[url.path.strip("/")])
            items = _selected(document["items"], query.get("labelSelector"))
            self._send(200, json.dumps({**document, "items": items}).encode())
        elif (
            parts[:5] == ["api", "v1", "namespaces", "serving", "pods"]
            and parts[-1] == "log"
            and f"{parts[5]}/{query.get('container')}" in scenario.logs
        ):
            log_text = scenario.logs[f"{parts[5]}/{query.get('container')}"]
            lines = log_text.splitlines(keepends=True)[-int(query.get("tailLines", "100000")) :]
            self._send(200, "".join(lines).encode(), "text/plain")
        elif parts[:5] == ["api", "v1", "namespaces", "serving", "pods"] and parts[-1] == "log":
            log = FIXTURES / scenario.name / f"{parts[5]}.log"
            if query.get("previous") == "true" and query.get("container") == "server" and log.is_file():
                lines = log.read_text().splitlines(keepends=True)[-int(query.get("tailLines", "100000")) :]
                self._send(200, "".join(lines).encode(), "text/plain")
            else:
                self._status(400, "BadRequest", f'previous terminated container "server" in pod "{parts[5]}" not found')
        else:
            self._status(404, "NotFound", "the server could not find the requested resource")


class _KubeApi(ThreadingHTTPServer):
    scenario: Scenario


@pytest.fixture
def api() -> Iterator[_KubeApi]:
    server = _KubeApi(("127.0.0.1", 0), _Handler)
    server.scenario = Scenario("ready")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "standin", "cluster": {"server": server}}],
                "users": [{"name": "standin", "user": {"token": TOKEN}}],
                "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
                "current-context": "standin",
            }
        )
    )
    return path


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_status(
    api: _KubeApi | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    outputs: dict[str, Any] | None = None,
    server: str | None = None,
) -> Run:
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(OUTPUTS if outputs is None else outputs))
    address = server or (f"http://127.0.0.1:{api.server_address[1]}" if api else "http://127.0.0.1:9")
    config = kubeconfig(tmp_path, address)
    base = ["dev", "--kubeconfig", str(config), "--outputs", str(outputs_file), "--plan", str(FIXTURES / "plan.json")]
    code = status.main([*base, *args])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


@pytest.fixture
def scenario(api: _KubeApi) -> Any:
    def choose(name: str, **kwargs: Any) -> Scenario:
        api.scenario = Scenario(name, **kwargs)
        return api.scenario

    return choose


StatusOf = Callable[..., Run]


@pytest.fixture
def status_of(api: _KubeApi, scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> StatusOf:
    """Serve a recorded state (with Scenario's options: `edits`, `expired`) and run `make status` on it
    with `args`."""

    def run(name: str, *args: str, **options: Any) -> Run:
        scenario(name, **options)
        return run_status(api, tmp_path, capsys, *args)

    return run


# --- one snapshot per recorded state --------------------------------------------------------------


def test_all_ready_exits_0_with_every_service_and_the_gpu_nodes(status_of: StatusOf) -> None:
    run = status_of("ready")

    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "dev (namespace serving): 2 of 2 services ready — ready"
    assert lines[1].split() == [
        *("embed", "tei", "ready", "desired", "1", "updated", "1", "ready", "1", "available", "1"),
        *("rollout", "complete"),
    ]
    assert lines[2].split()[:3] == ["gemma", "vllm", "ready"]
    # The system node has no accelerator label: the API's label selector leaves it out.
    assert "  l4  nvidia-l4  2 node(s), 2 Ready, 2 GPU(s) allocatable  zones us-central1-a" in lines
    assert "system" not in run.out
    assert lines[-1] == "exit 0: ready"
    assert run.err == ""


def test_quota_exceeded_is_final_and_says_which_quota(status_of: StatusOf) -> None:
    events = json.loads((FIXTURES / "stockout" / "events.json").read_text())
    for event in events["items"]:
        event["message"] = event["message"].replace("GCE out of resources", "GCE quota exceeded")
    run = status_of("stockout", "--wait", "1h", "--interval", "0.1", edits={"events": events})

    assert run.code == 2  # no waiting: quota does not come back by itself
    assert "Pending: GPU quota exceeded in us-central1-a: the cluster autoscaler could not add a node to pool l4" in (
        run.out
    )
    assert "GPUS_ALL_REGIONS), or lower nodePools.l4.maxNodes" in run.out


# The recorded states where a pod fails, each with what status must say of it (expected.yaml beside it).
FAILING = sorted(p.parent.name for p in FIXTURES.glob("*/expected.yaml"))


@pytest.mark.parametrize("name", FAILING)
def test_a_failing_pod_is_named_with_its_reason_and_its_fix(status_of: StatusOf, name: str) -> None:
    expected = yaml.safe_load((FIXTURES / name / "expected.yaml").read_text())
    failing, pod, fix, last_log = expected["failing"], expected["pod"], expected["fix"], expected.get("lastLog")
    run = status_of(name)

    assert run.code == 2
    lines = [line.strip() for line in run.out.splitlines()]
    states = {words[0]: words[2] for words in map(str.split, lines[1:]) if words[1:2] in (["tei"], ["vllm"])}
    assert states == {"embed": "ready", "gemma": "ready"} | {failing: "failing"}
    at = lines.index(pod)
    assert lines[at + 1] == fix
    if last_log is not None:
        assert lines[at + 2].startswith("last ") and lines[at + 2].endswith(" log lines of the previous run:")
        assert lines[lines.index("GPU nodes:") - 1] == last_log
    else:
        assert not lines[at + 2].startswith("last ")
    assert lines[-1] == "exit 2: failing"


def test_a_crash_log_never_repeats_a_key(status_of: StatusOf, api: _KubeApi) -> None:
    run = status_of("crashloop")

    # The server logged its arguments: a key among them is not repeated.
    (arguments,) = [line for line in run.out.splitlines() if "args: Namespace(" in line]
    assert "api_key='[redacted]'" in arguments
    assert "sk-should-never-be-printed" not in run.out
    (log,) = [r for r in api.scenario.requests if "/pods/gemma-7d8f9c6b5-b2x9f/log?" in r]
    assert "tailLines=20" in log


def test_a_rollout_in_progress_exits_1(status_of: StatusOf) -> None:
    run = status_of("progressing")

    assert run.code == 1
    assert "gemma  vllm    progressing  desired 1  updated 1  ready 1  available 1  rollout in progress" in run.out
    assert "gemma-5b6c7d8e9f-h7v2c  NotReady: running, not ready yet: the server is loading the model" in run.out
    assert "gemma-7d8f9c6b5-q9w4t" not in run.out  # the old pod still serves: nothing to say about it
    assert run.out.splitlines()[-1] == "exit 1: progressing"


# --- --wait and --json ----------------------------------------------------------------------------


def test_wait_times_out_with_1(status_of: StatusOf, api: _KubeApi) -> None:
    run = status_of("progressing", "--wait", "0.5s", "--interval", "0.1")

    assert run.code == 1
    polls = [r for r in api.scenario.requests if r.startswith("/apis/apps/v1/namespaces/serving/deployments")]
    assert len(polls) >= 2
    assert run.err.splitlines()[-1] == "timed out after 0.5 s: not every service is ready"


def test_wait_stops_at_a_failure_waiting_cannot_fix(status_of: StatusOf, api: _KubeApi) -> None:
    run = status_of("imagepull", "--wait", "1h", "--interval", "0.1")

    assert run.code == 2
    assert len([r for r in api.scenario.requests if "/deployments" in r]) == 1


def test_wait_keeps_polling_through_a_stockout(status_of: StatusOf, api: _KubeApi) -> None:
    # GCE stock comes back and the autoscaler retries, so waiting can end it: polled until the timeout.
    run = status_of("stockout", "--wait", "0.3s", "--interval", "0.1")

    assert run.code == 1
    assert len([r for r in api.scenario.requests if "/deployments" in r]) >= 2


def test_wait_returns_0_as_soon_as_all_are_ready(status_of: StatusOf, api: _KubeApi) -> None:
    run = status_of("ready", "--wait", "1h")

    assert run.code == 0
    assert len([r for r in api.scenario.requests if "/deployments" in r]) == 1


def test_json_is_one_document(api: _KubeApi, scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario("crashloop")
    run = run_status(api, tmp_path, capsys, "--json")

    document = json.loads(run.out)
    assert run.code == 2
    assert document["environment"] == "dev"
    assert document["namespace"] == "serving"
    assert document["state"] == "failing"
    assert document["exitCode"] == 2
    embed, gemma = document["services"]
    assert embed == {
        "name": "embed",
        "runtime": "tei",
        "state": "ready",
        "desired": 1,
        "updated": 1,
        "ready": 1,
        "available": 1,
        "rollout": "complete",
        "pods": [],
    }
    (pod,) = gemma["pods"]
    assert set(pod) == {"name", "phase", "state", "reason", "message", "fix", "final", "restarts", "logs"}
    assert (pod["reason"], pod["state"], pod["final"], pod["restarts"]) == ("CrashLoopBackOff", "failing", True, 5)
    assert len(pod["logs"]) == 8
    assert document["gpuNodes"] == [
        {
            "pool": "l4",
            "accelerator": "nvidia-l4",
            "nodes": 2,
            "ready": 2,
            "gpus": 2,
            "zones": ["us-central1-a"],
            "computeClass": None,
        }
    ]
    assert document["classPlacements"] == []


# --- cannot tell: one line, exit 3 ----------------------------------------------------------------


def assert_one_line(run: Run, expected: str) -> None:
    assert run.code == 3
    assert run.err.splitlines() == [f"status: cannot tell: {expected}"]
    assert "Traceback" not in run.out + run.err


def test_expired_credentials(api: _KubeApi, scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario("ready", expired=True)
    run = run_status(api, tmp_path, capsys)

    host = f"http://127.0.0.1:{api.server_address[1]}"
    assert_one_line(
        run,
        f"the Kubernetes API at {host} refused the credentials (401 Unauthorized): they are expired or not for this "
        "cluster — run `gcloud auth login` (CI: the Workload Identity step) and check gke-gcloud-auth-plugin",
    )
    assert run.out == ""


def test_unreachable_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused.
    run = run_status(None, tmp_path, capsys, server="http://127.0.0.1:9")

    assert_one_line(run, "cannot reach the Kubernetes API at http://127.0.0.1:9: connection refused")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "apiVersion: v1\nkind: Config\n",
            "bad kubeconfig {path}: Invalid kube-config file. Expected key current-context",
        ),
        ("clusters: [\n", "bad kubeconfig {path}: ParserError: while parsing a flow node"),
    ],
)
def test_bad_kubeconfig(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    path = tmp_path / "broken-kubeconfig"
    path.write_text(text)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))

    code = status.main(["dev", "--kubeconfig", str(path), "--outputs", str(outputs)])
    err = capsys.readouterr().err

    assert code == 3
    assert len(err.splitlines()) == 1
    assert err.startswith(f"status: cannot tell: {expected.format(path=path)}")


def test_missing_kubeconfig_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))

    code = status.main(["dev", "--kubeconfig", str(tmp_path / "nowhere"), "--outputs", str(outputs)])

    assert code == 3
    assert capsys.readouterr().err == f"status: cannot tell: no kubeconfig at {tmp_path / 'nowhere'}\n"


def test_missing_stack_output(api: _KubeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_status(api, tmp_path, capsys, outputs={"cluster": "serving-dev"})

    assert_one_line(
        run,
        f"{tmp_path / 'outputs.json'} has no output namespace — run `pulumi up` for the stack first "
        "(or check --stack names the deployed stack)",
    )
    assert api.scenario.requests == []


def test_cannot_tell_in_json(api: _KubeApi, scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario("ready", expired=True)
    run = run_status(api, tmp_path, capsys, "--json")

    document = json.loads(run.out)
    assert document["exitCode"] == 3
    assert document["state"] == "unknown"
    assert "401 Unauthorized" in document["error"]


def test_runs_as_a_module(api: _KubeApi, scenario: Any, tmp_path: Path) -> None:
    scenario("ready")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))
    config = kubeconfig(tmp_path, f"http://127.0.0.1:{api.server_address[1]}")

    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tools.status", "dev", "--kubeconfig", str(config), "--outputs", str(outputs)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "exit 0: ready"


def test_durations() -> None:
    assert [stack.duration(d) for d in ("45m", "1h30m", "90s", "90", "0.5s")] == [2700, 5400, 90, 90, 0.5]
    with pytest.raises(ValueError, match="'soon' is not a duration"):
        stack.duration("soon")


def fake_pulumi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outputs: dict[str, Any] | None, error: str = ""
) -> Path:
    """A stand-in `pulumi` CLI on PATH: prints the stack's outputs as `pulumi stack output --json` does
    (secrets as "[secret]"), or fails with `error`; it logs its arguments."""
    log = tmp_path / "pulumi-argv"
    script = tmp_path / "bin" / "pulumi"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"if {error!r}:\n"
        f"    sys.stderr.write('warning: a note\\n' + {error!r} + '\\n'); sys.exit(255)\n"
        f"print(json.dumps({outputs!r}))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    return log


def test_reads_the_outputs_with_the_pulumi_cli_without_secrets(
    api: _KubeApi, scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario("ready")
    log = fake_pulumi(tmp_path, monkeypatch, OUTPUTS)
    config = kubeconfig(tmp_path, f"http://127.0.0.1:{api.server_address[1]}")

    code = status.main(["dev", "--stack", "acme/dev", "--kubeconfig", str(config)])

    assert code == 0, capsys.readouterr().err
    assert log.read_text().splitlines() == ["stack output --json --stack acme/dev"]


def test_a_stack_pulumi_does_not_know_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pulumi(tmp_path, monkeypatch, None, error="error: no stack named 'dev' found")

    code = status.main(["dev", "--kubeconfig", str(tmp_path / "unused")])

    assert code == 3
    assert capsys.readouterr().err == (
        "status: cannot tell: pulumi has no stack dev: error: no stack named 'dev' found — `pulumi login` to its "
        "backend first\n"
    )


# --- the model mirror's Jobs ----------------------------------------------------------------------------


def _job(name: str, status: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "serving",
            "labels": {"app.kubernetes.io/component": "model-mirror"},
            "annotations": {"gke-serving/model": f"google/gemma-7b@{'f' * 40}"},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "mirror", "image": "python"}]}}},
        "status": status,
    }


# A Job's status once its retries are spent (every attempt failed).
FAILED_JOB = {
    "failed": 4,
    "conditions": [
        {
            "type": "Failed",
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit",
        }
    ],
}


def _job_pod(job: str, pod: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": pod,
            "namespace": "serving",
            "labels": {"job-name": job},
            "creationTimestamp": "2026-12-06T10:00:00Z",
        },
        "spec": {"containers": [{"name": "mirror", "image": "python"}]},
        "status": status or {"phase": "Failed", "containerStatuses": [_terminated("mirror", 1)]},
    }


def _terminated(name: str, code: int) -> dict[str, Any]:
    return {
        "name": name,
        "ready": False,
        "restartCount": 0,
        "image": "python",
        "imageID": "",
        "state": {"terminated": {"exitCode": code}},
    }


def test_a_failed_mirror_job_is_final_with_its_reason_and_last_log_line(
    api: _KubeApi, scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = FAILED_JOB
    pods = json.loads((FIXTURES / "ready" / "pods.json").read_text())
    pods["items"].append(_job_pod("mirror-0e3019462bb1", "mirror-0e3019462bb1-x7k2p"))
    scenario(
        "ready",
        edits={
            "jobs": {
                "kind": "JobList",
                "apiVersion": "batch/v1",
                "metadata": {},
                "items": [_job("mirror-0e3019462bb1", failed)],
            },
            "pods": pods,
        },
        logs={
            "mirror-0e3019462bb1-x7k2p/mirror": "model-00001-of-00004.safetensors: 4995496656 bytes\nFileNotFoundError: No usable temporary directory found in ['/tmp']\n"
        },
    )
    run = run_status(api, tmp_path, capsys, "--wait", "1m")

    assert run.code == 2  # waiting cannot fix it: --wait stops at once
    assert "Weights (model mirror Jobs):" in run.out
    assert f"  mirror-0e3019462bb1  google/gemma-7b@{'f' * 40}  failing: failed (BackoffLimitExceeded" in run.out
    assert "      last log line: | FileNotFoundError: No usable temporary directory found in ['/tmp']" in run.out
    assert run.out.splitlines()[-1] == "exit 2: failing"


def test_a_copying_mirror_job_keeps_the_environment_progressing(status_of: StatusOf) -> None:
    jobs = [
        _job("mirror-aaa", {"active": 1, "failed": 1}),
        _job("mirror-bbb", {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
    ]
    run = status_of(
        "ready", "--json", edits={"jobs": {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": jobs}}
    )

    assert run.code == 1
    report = json.loads(run.out)
    assert [(j["name"], j["state"]) for j in report["mirrorJobs"]] == [
        ("mirror-aaa", "progressing"),
        ("mirror-bbb", "ready"),
    ]
    assert report["mirrorJobs"][0]["message"] == "copying, 1 failed attempt(s) before"


def test_a_fill_job_whose_wait_outlived_its_deadline_shows_the_wait_containers_line(
    api: _KubeApi, scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attempt's pod ended DeadlineExceeded in its init container: the Job ends BackoffLimitExceeded, and the
    line that says why is the wait-for-weights container's, not the fill container's (which never started)."""
    failed = FAILED_JOB
    waiting = {
        "phase": "Failed",
        "reason": "DeadlineExceeded",
        "initContainerStatuses": [_terminated("wait-for-weights", 137)],
        "containerStatuses": [
            {
                "name": "fill",
                "ready": False,
                "restartCount": 0,
                "image": "python",
                "imageID": "",
                "state": {"waiting": {"reason": "PodInitializing"}},
            }
        ],
    }
    pods = json.loads((FIXTURES / "ready" / "pods.json").read_text())
    pods["items"].append(_job_pod("hdml-08a84b", "hdml-08a84b-q9z4w", waiting))
    jobs = {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": [_job("hdml-08a84b", failed)]}
    scenario(
        "ready",
        edits={"jobs": jobs, "pods": pods},
        logs={"hdml-08a84b-q9z4w/wait-for-weights": "gs://b/m/.complete: HTTP 403\n"},
    )
    run = run_status(api, tmp_path, capsys)

    assert run.code == 2
    (line,) = [x for x in run.out.splitlines() if x.startswith("  hdml-08a84b")]
    assert (
        "failed (BackoffLimitExceeded: Job has reached the specified backoff limit) — its last attempt outlived its deadline"
        in line
    )
    assert "      last log line: | gs://b/m/.complete: HTTP 403" in run.out.splitlines()


# --- compute classes: which option a pod landed on, and why not the first -------------------------------------


def _gemma_on_class(node: str) -> dict[str, Any]:
    """The ready state's pods, gemma's selecting the class gemma-l4 and scheduled on `node`."""
    pods: dict[str, Any] = json.loads((FIXTURES / "ready" / "pods.json").read_text())
    gemma = next(p for p in pods["items"] if p["metadata"]["name"].startswith("gemma-"))
    gemma["spec"]["nodeSelector"] = {"cloud.google.com/compute-class": "gemma-l4"}
    gemma["spec"]["nodeName"] = node
    return pods


def _class_node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    nodes: dict[str, Any] = json.loads((FIXTURES / "nodes.json").read_text())
    node = copy.deepcopy(nodes["items"][1])
    node["metadata"]["name"] = name
    node["metadata"]["labels"] = {
        "cloud.google.com/gke-nodepool": "nap-g2-standard-12-gpu1-1a2b3c4d",
        "cloud.google.com/compute-class": "gemma-l4",
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "topology.kubernetes.io/zone": "us-central1-b",
        **labels,
    }
    nodes["items"].append(node)
    return nodes


GEMMA_L4 = {
    "kind": "ComputeClassList",
    "apiVersion": "cloud.google.com/v1",
    "metadata": {},
    "items": [
        {
            "apiVersion": "cloud.google.com/v1",
            "kind": "ComputeClass",
            "metadata": {"name": "gemma-l4"},
            "spec": {
                "priorities": [
                    {"machineType": "g2-standard-12", "gpu": {"type": "nvidia-l4", "count": 1}, "spot": True},
                    {"machineType": "g2-standard-12", "gpu": {"type": "nvidia-l4", "count": 1}, "spot": False},
                    {"machineType": "a2-highgpu-1g", "gpu": {"type": "nvidia-tesla-a100", "count": 1}, "spot": False},
                ],
                "whenUnsatisfiable": "DoNotScaleUp",
            },
        }
    ],
}


def _stockout_of_spot(pod: str) -> dict[str, Any]:
    events: dict[str, Any] = json.loads((FIXTURES / "ready" / "events.json").read_text())
    events["items"].append(
        {
            "metadata": {"name": f"{pod}.1", "namespace": "serving", "creationTimestamp": "2025-06-02T09:14:20Z"},
            "involvedObject": {"kind": "Pod", "namespace": "serving", "name": pod, "apiVersion": "v1"},
            "reason": "FailedScaleUp",
            "message": "Node scale up in zones us-central1-a associated with this pod failed: GCE out of resources. "
            "Pod is at risk of not being scheduled.",
            "source": {"component": "cluster-autoscaler"},
            "firstTimestamp": "2025-06-02T09:14:20Z",
            "lastTimestamp": "2025-06-02T09:14:20Z",
            "count": 1,
            "type": "Warning",
        }
    )
    return events


def test_a_class_pod_on_its_second_option_says_which_and_why(status_of: StatusOf) -> None:
    pods = _gemma_on_class("gke-serving-dev-nap-od-1")
    gemma = next(p["metadata"]["name"] for p in pods["items"] if p["metadata"]["name"].startswith("gemma-"))
    edits = {
        "pods": pods,
        "nodes": _class_node("gke-serving-dev-nap-od-1", {"node.kubernetes.io/instance-type": "g2-standard-12"}),
        "events": _stockout_of_spot(gemma),
        "computeclasses": GEMMA_L4,
    }
    run = status_of("ready", edits=edits)

    assert run.code == 0, run.err
    lines = run.out.splitlines()
    at = lines.index("Compute classes (where each pod landed):")
    assert lines[at + 1] == (
        f"  {gemma}  class gemma-l4 option 1: g2-standard-12 on-demand in us-central1-b (node gke-serving-dev-nap-od-1)"
    )
    assert lines[at + 2] == (
        "      not on option 0: option 0 (g2-standard-12 spot) was out of stock in us-central1-a (FailedScaleUp: Node "
        "scale up in zones us-central1-a associated with this pod failed: GCE out of resources. Pod is at risk of not "
        "being scheduled.)"
    )
    assert (
        "  nap-g2-standard-12-gpu1-1a2b3c4d (class gemma-l4)  nvidia-l4  1 node(s), 1 Ready, 1 GPU(s) allocatable  "
        "zones us-central1-b"
    ) in lines


def test_a_class_pod_on_its_first_option_needs_no_reason(status_of: StatusOf) -> None:
    spot = {"node.kubernetes.io/instance-type": "g2-standard-12", "cloud.google.com/gke-spot": "true"}
    edits = {
        "pods": _gemma_on_class("gke-serving-dev-nap-spot-1"),
        "nodes": _class_node("gke-serving-dev-nap-spot-1", spot),
        "computeclasses": GEMMA_L4,
    }
    run = status_of("ready", "--json", edits=edits)

    (landed,) = json.loads(run.out)["classPlacements"]
    assert (landed["service"], landed["option"], landed["shape"], landed["why"]) == (
        "gemma",
        0,
        "g2-standard-12 spot in us-central1-b",
        None,
    )


def test_a_class_pod_that_no_option_can_place_asks_for_another_option(status_of: StatusOf) -> None:
    pods: dict[str, Any] = json.loads((FIXTURES / "stockout" / "pods.json").read_text())
    for pod in pods["items"]:
        if pod["metadata"]["name"].startswith("gemma-"):
            pod["spec"]["nodeSelector"] = {"cloud.google.com/compute-class": "gemma-l4"}
    run = status_of("stockout", edits={"pods": pods, "computeclasses": GEMMA_L4})

    assert run.code == 2
    assert (
        "Pending: GPU stockout in us-central1-a: no option of compute class gemma-l4 could be had for a new node "
        "(the cluster autoscaler's FailedScaleUp); it keeps retrying every option"
    ) in run.out
    assert "fix: add an option to computeClasses.gemma-l4 (another GPU or machine type, flex-start, a reservation)" in (
        run.out
    )
