"""`make smoke` (tools/smoke.py) against a stand-in for the gateway and its model servers on 127.0.0.1.

The stand-in answers under each service's URL prefix (as the gateway routes /<service>/...) in that
server's own API: TEI /embed (an embedder) and /rerank (a reranker, which refuses /embed), the OpenAI
chat completion of vLLM, TGI, SGLang and llama.cpp (checking the model name each server serves), and
Triton's model readiness. It checks the bearer key of every service that has one and, like servers
that log what they refuse, echoes a wrong key back in its 401 body — which the command must not print.
The services come from tests/fixtures/smoke/Pulumi.staging.yaml, one per runtime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.stand_in import StandInHandler
from tools import smoke

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "tests" / "fixtures" / "smoke" / "Pulumi.staging.yaml"
KEYS = {
    name: f"{name}Key0123456789abcdefghijklmnopqrstuvwxyzABCDEF"[:48]
    for name in ("embed", "rerank", "gemma", "llama", "gguf")
}
# The model name each OpenAI-compatible server answers to (vLLM, SGLang: the service name; TGI: any).
SERVED = {"gemma": "gemma", "chat": "chat", "llama": None, "gguf": None}
EMBEDDING = [round(0.0123 * (i % 7 - 3), 4) for i in range(1024)]


@dataclass
class Behaviour:
    """How the stand-in answers: per service, seconds to stall, failures to give first, IAP in front."""

    slow: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, int] = field(default_factory=dict)  # service -> 503s before it answers
    iap: set[str] = field(default_factory=set)
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Authorization


class _Handler(StandInHandler):
    server: _Gateway

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.reply(code, data, {"Content-Type": "application/json", **(headers or {})})

    def _answer(self, method: str) -> None:
        behaviour = self.server.behaviour
        auth = self.headers.get("Authorization")
        behaviour.seen.append((method, self.path, auth))
        service, _, rest = self.path.lstrip("/").partition("/")
        path = "/" + rest
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        time.sleep(behaviour.slow.get(service, 0))
        if behaviour.unavailable.get(service, 0) > 0:
            behaviour.unavailable[service] -= 1
            self._send(503, {"error": "no healthy upstream"})
            return
        if service in behaviour.iap:
            self._send(302, None, {"Location": "https://accounts.google.com/o/oauth2/v2/auth?client_id=x"})
            return
        if service in KEYS and auth != f"Bearer {KEYS[service]}":
            self._send(401, {"error": f"invalid api key in header: {auth}", "error_type": "Unauthorized"})
            return
        self._send(*self._api(service, method, path, body))

    def _api(self, service: str, method: str, path: str, body: Any) -> tuple[int, Any]:
        if (service, method, path) == ("embed", "POST", "/embed") and body == {"inputs": "hello"}:
            return 200, [EMBEDDING]
        if (service, method, path) == ("rerank", "POST", "/embed"):
            return 400, {"error": "model is not an embedding model", "error_type": "Validation"}
        if (service, method, path) == ("rerank", "POST", "/rerank") and body["texts"]:
            return 200, [{"index": 0, "score": 0.9981}, {"index": 1, "score": 0.0123}]
        if (service, method, path) == ("detector", "GET", "/v2/models/toxicity/ready"):
            return 200, None
        if service in SERVED and (method, path) == ("POST", "/v1/chat/completions"):
            if SERVED[service] not in (None, body["model"]):
                return 404, {"error": {"message": f"The model `{body['model']}` does not exist.", "code": 404}}
            assert body["max_tokens"] == 8
            text = "Hello! How can I help you today? I am a language model."
            return 200, {"object": "chat.completion", "choices": [{"index": 0, "message": {"content": text}}]}
        return 404, {"error": "fault filter abort"}  # the gateway's answer for a path it does not route

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")


class _Gateway(ThreadingHTTPServer):
    behaviour: Behaviour

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closed the connection before the stalled answer


@pytest.fixture
def gateway() -> Iterator[_Gateway]:
    server = _Gateway(("127.0.0.1", 0), _Handler)
    server.behaviour = Behaviour()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def outputs(gateway: _Gateway, keys: dict[str, str] | None = None) -> dict[str, Any]:
    host = f"http://127.0.0.1:{gateway.server_address[1]}"
    names = ["embed", "rerank", "gemma", "llama", "detector", "chat", "gguf"]
    return {"serviceUrls": {n: f"{host}/{n}" for n in names}, "apiKeys": KEYS if keys is None else keys}


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str], stack_outputs: dict[str, Any], *args: str) -> Run:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(stack_outputs))
    code = smoke.main(["staging", "--env-file", str(ENV_FILE), "--outputs", str(path), *args])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def line(run: Run, service: str) -> list[str]:
    found = [row.split() for row in run.out.splitlines() if row.split()[:1] == [service]]
    assert len(found) == 1, run.out
    return found[0]


def assert_no_key(run: Run, *keys: str) -> None:
    for key in keys or tuple(KEYS.values()):
        assert key not in run.out
        assert key not in run.err


def test_every_runtime_answers_in_its_own_api(
    gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_smoke(tmp_path, capsys, outputs(gateway))

    assert run.code == 0, run.out + run.err
    assert run.out.splitlines()[0] == "smoke staging: 7 of 7 services answered"
    embed = line(run, "embed")
    assert embed[:5] == ["embed", "tei", "passed", "200", embed[4]]
    assert embed[5:] == ["ms", "POST", "/embed/embed", "1024", "numbers:", "-0.0369,", "-0.0246,", "-0.0123", "…"]
    # A reranker refuses /embed; the same runtime's next request is its /rerank.
    assert line(run, "rerank")[6:] == ["POST", "/rerank/rerank", "2", "scores:", "#0", "0.9981,", "#1", "0.0123"]
    answer = '"Hello! How can I help you today? I …"'
    assert line(run, "gemma")[6:] == ["POST", "/gemma/v1/chat/completions", *answer.split()]
    assert line(run, "detector")[6:] == ["GET", "/detector/v2/models/toxicity/ready", "(empty", "body)"]
    assert line(run, "chat")[2] == line(run, "llama")[2] == line(run, "gguf")[2] == "passed"
    assert run.out.splitlines()[-1] == "exit 0: passed"
    # Each key went only to its own service; the services without one got no Authorization header.
    sent = {(path.split("/")[1], auth) for _, path, auth in gateway.behaviour.seen}
    assert sent == {(n, f"Bearer {k}") for n, k in KEYS.items()} | {("detector", None), ("chat", None)}
    assert_no_key(run)


def test_a_wrong_key_is_a_failure_and_never_printed(
    gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = {**KEYS, "gemma": "WrongKey0123456789abcdefghijklmnopqrstuvwxyzABCD"}
    run = run_smoke(tmp_path, capsys, outputs(gateway, wrong))

    assert run.code == 2
    gemma = line(run, "gemma")
    assert gemma[:4] == ["gemma", "vllm", "failed", "401"]
    assert "the key was refused (401):" in run.out
    # The stand-in echoed the key it refused: the line shows it redacted.
    assert "invalid api key in header: Bearer [redacted]" in run.out
    assert run.out.splitlines()[-1] == "exit 2: failed"
    assert_no_key(run, *wrong.values())


def test_a_slow_server_times_out(gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gateway.behaviour.slow["gemma"] = 2
    run = run_smoke(tmp_path, capsys, outputs(gateway), "--timeout", "0.3s")

    assert run.code == 2
    gemma = line(run, "gemma")
    assert gemma[:4] == ["gemma", "vllm", "failed", "-"]
    assert run.out.count("no answer within 0.3 s") == 1
    assert line(run, "embed")[2] == "passed"
    assert_no_key(run)


def test_wait_retries_a_deploy_that_is_still_settling(
    gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.behaviour.unavailable["embed"] = 2  # the load balancer has no healthy backend yet
    run = run_smoke(tmp_path, capsys, outputs(gateway), "--wait", "5s", "--interval", "0.05")

    assert run.code == 0, run.out
    assert line(run, "embed")[2:4] == ["passed", "200"]
    assert run.err.splitlines() == ["retrying embed (a fresh deploy may still be settling)"] * 2


def test_without_wait_a_503_fails(gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gateway.behaviour.unavailable["embed"] = 1
    run = run_smoke(tmp_path, capsys, outputs(gateway))

    assert run.code == 2
    assert '503: {"error": "no healthy upstream"}' in run.out


def test_a_refused_key_is_not_retried(gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = {**KEYS, "embed": "x" * 48}
    run = run_smoke(tmp_path, capsys, outputs(gateway, wrong), "--wait", "1h", "--interval", "0.05")

    assert run.code == 2
    assert len([p for _, p, _ in gateway.behaviour.seen if p.startswith("/embed/")]) == 1
    assert_no_key(run, "x" * 48)


def test_an_iap_guarded_service_is_skipped(
    gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.behaviour.iap.add("detector")
    run = run_smoke(tmp_path, capsys, outputs(gateway))

    assert run.code == 0
    assert line(run, "detector")[2:4] == ["skipped", "302"]
    assert "behind Identity-Aware Proxy" in run.out


def test_unreachable_gateway(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    urls = {"embed": "http://127.0.0.1:9/embed"}  # nothing listens on port 9
    run = run_smoke(tmp_path, capsys, {"serviceUrls": urls, "apiKeys": {"embed": KEYS["embed"]}})

    assert run.code == 2
    assert "cannot connect: Connection refused" in run.out
    assert_no_key(run)


def test_missing_stack_output_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_smoke(tmp_path, capsys, {"serviceUrls": {"embed": "http://127.0.0.1:9/embed"}})

    assert run.code == 3
    assert run.out == ""
    assert run.err.splitlines() == [
        f"smoke: cannot tell: {tmp_path / 'outputs.json'} has no output apiKeys — run `pulumi up` for the stack "
        "first (or check --stack names the deployed stack)"
    ]


def test_a_service_the_environment_file_does_not_describe(
    gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = outputs(gateway)
    stack["serviceUrls"]["ghost"] = stack["serviceUrls"]["embed"].replace("embed", "ghost")
    run = run_smoke(tmp_path, capsys, stack)

    assert run.code == 3
    assert line(run, "ghost")[2] == "unknown"
    assert run.out.splitlines()[-1] == "exit 3: cannot tell"


def test_no_key_in_any_output_of_the_module(gateway: _Gateway, tmp_path: Path) -> None:
    # The whole process, as make runs it: a refused key, a slow server and a missing environment file.
    wrong = {**KEYS, "embed": "Zz" * 24}
    gateway.behaviour.slow["gemma"] = 1
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs(gateway, wrong)))
    for extra in ([], ["--env-file", str(tmp_path / "missing.yaml")]):
        result = subprocess.run(  # noqa: S603
            [
                *(sys.executable, "-m", "tools.smoke", "staging", "--env-file", str(ENV_FILE)),
                *("--outputs", str(path), "--timeout", "0.2s", *extra),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        assert result.returncode in (2, 3)
        assert "Traceback" not in result.stderr
        for key in wrong.values():
            assert key not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b'{"choices": [{"message": {"content": "Hi there"}}]}', '"Hi there"'),
        (
            b'{"choices": [{"text": " one two three four five six seven eight nine"}]}',
            '"one two three four five six seven eight …"',
        ),
        (b'{"data": [{"embedding": [0.5, 0.25]}]}', "2 numbers: 0.5000, 0.2500"),
        (b"OK", "OK"),
    ],
)
def test_summary_of_other_answer_shapes(body: bytes, shown: str) -> None:
    assert smoke.summary(body) == shown


def test_reads_the_keys_with_show_secrets_and_nothing_else(
    gateway: _Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in `pulumi` CLI: all outputs with secrets hidden, or one output with --show-secrets.
    stack = outputs(gateway)
    log = tmp_path / "pulumi-argv"
    script = tmp_path / "bin" / "pulumi"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"stack = {stack!r}\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "args = sys.argv[1:]\n"
        "if '--show-secrets' in args:\n"
        "    print(json.dumps(stack[args[2]]))\n"
        "else:\n"
        "    print(json.dumps({**stack, 'apiKeys': '[secret]'}))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")

    code = smoke.main(["staging", "--env-file", str(ENV_FILE), "--stack", "acme/staging"])
    run = Run(code, *capsys.readouterr())

    assert run.code == 0, run.out + run.err
    assert log.read_text().splitlines() == [
        "stack output --json --stack acme/staging",
        "stack output apiKeys --show-secrets --json --stack acme/staging",
    ]
    assert_no_key(run)
