"""Does every service answer through the gateway? One authenticated request each, in its own API.

    python -m tools.smoke <env> [--timeout 60s] [--wait 10m] [--outputs FILE] [--stack NAME]

The URL of each service comes from the stack output `serviceUrls`, its key from the secret output
`apiKeys` (read with --show-secrets, held in memory, never printed: every line this command prints
passes through a redaction of the keys), its runtime from the environment file. Each runtime says
what to ask (runtimes/*.py `smoke_requests`): TEI `/embed` (a reranker: `/rerank`), an OpenAI chat
completion of 8 tokens for vLLM, TGI, SGLang and OpenAI-compatible custom images, Triton's model
readiness. Per service it prints the status code, the latency and the first tokens or numbers of
the answer.

`--wait` retries what a fresh deploy can still be settling (no connection, a timeout, 404 or 5xx
while the load balancer is programmed and its certificate provisioned) until the time is up; a
refused key (401/403) fails at once.

Exit status: 0 every service answered; 2 any failed; 3 cannot tell (no stack output, no environment
file, a service the environment file does not describe), printed as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from runtimes import runtime_of
from runtimes.base import SmokeRequest
from tools.stack import EXIT_CANNOT_TELL, CannotTell, duration, environment, redact, stack_outputs

EXIT_PASSED, EXIT_FAILED = 0, 2
Outcome = Literal["passed", "failed", "skipped", "unknown"]
IAP_SIGN_IN = "accounts.google.com"  # where Identity-Aware Proxy redirects a request without a Google identity
RETRYABLE = frozenset({404, 429, 500, 502, 503, 504})  # a load balancer or a backend still settling
SHOWN_WORDS = 8
SHOWN_NUMBERS = 3


@dataclass(frozen=True)
class Answer:
    """What one request got: an HTTP status (None: no response), the body, the time it took."""

    status: int | None
    body: bytes
    ms: float
    error: str | None = None  # no response: why
    location: str | None = None  # a redirect's target


@dataclass(frozen=True)
class Result:
    service: str
    runtime: str
    outcome: Outcome
    request: str  # "POST /embed"
    status: int | None
    ms: float | None
    detail: str  # the first tokens or numbers, or what went wrong
    retryable: bool = False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer here (IAP's sign-in page), not something to follow with the key."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def send(url: str, request: SmokeRequest, key: str | None, timeout: float) -> Answer:
    method, _, body = request
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    started = time.perf_counter()
    try:
        with _OPENER.open(urllib.request.Request(url, data, headers, method=method), timeout=timeout) as response:  # noqa: S310 (the stack's own URLs)
            return Answer(response.status, response.read(), (time.perf_counter() - started) * 1000)
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.read(), (time.perf_counter() - started) * 1000, location=e.headers.get("Location"))
    except TimeoutError:
        return Answer(None, b"", (time.perf_counter() - started) * 1000, error=f"no answer within {timeout:g} s")
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            return Answer(None, b"", (time.perf_counter() - started) * 1000, error=f"no answer within {timeout:g} s")
        words = getattr(reason, "strerror", None) or str(reason)
        return Answer(None, b"", (time.perf_counter() - started) * 1000, error=f"cannot connect: {words}")
    except (ConnectionError, OSError) as e:
        return Answer(None, b"", (time.perf_counter() - started) * 1000, error=f"connection failed: {e}")


def summary(body: bytes) -> str:
    """The first tokens or numbers of an answer, whatever the API's shape."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "(empty body)"
    try:
        data = json.loads(text)
    except ValueError:
        return _clip(text)
    if isinstance(data, dict) and data.get("choices"):
        choice = data["choices"][0]
        content = (choice.get("message") or {}).get("content") or choice.get("text") or ""
        words = str(content).split()
        return json.dumps(
            " ".join(words[:SHOWN_WORDS]) + (" …" if len(words) > SHOWN_WORDS else ""), ensure_ascii=False
        )
    if isinstance(data, dict) and isinstance(data.get("data"), list) and data["data"]:  # OpenAI embeddings
        data = [data["data"][0].get("embedding", [])]
    if isinstance(data, list) and data and isinstance(data[0], list):
        data = data[0]
    if isinstance(data, list) and data and all(isinstance(x, int | float) for x in data):
        shown = ", ".join(f"{x:.4f}" for x in data[:SHOWN_NUMBERS])
        return f"{len(data)} numbers: {shown}{' …' if len(data) > SHOWN_NUMBERS else ''}"
    if isinstance(data, list) and data and isinstance(data[0], dict) and "score" in data[0]:
        ranked = ", ".join(f"#{r.get('index')} {r['score']:.4f}" for r in data[:SHOWN_NUMBERS])
        return f"{len(data)} scores: {ranked}"
    return _clip(text)


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _failure(answer: Answer) -> tuple[str, bool]:
    """(what went wrong, whether a settling deploy may still fix it)."""
    if answer.status is None:
        return answer.error or "no answer", True
    if answer.status in (401, 403):
        return (
            f"the key was refused ({answer.status}): {_clip(answer.body.decode('utf-8', 'replace')) or 'no body'} — "
            "the apiKeys output must match the server's key (re-run `pulumi up`)",
            False,
        )
    if 300 <= answer.status < 400 and IAP_SIGN_IN in (answer.location or ""):
        return "behind Identity-Aware Proxy: call it with a Google identity that IAP admits", False
    body = _clip(answer.body.decode("utf-8", "replace")) or "no body"
    return f"{answer.status}: {body}", answer.status in RETRYABLE


def smoke(
    service: str, runtime: str, url: str, requests: Sequence[SmokeRequest], key: str | None, timeout: float
) -> Result:
    """The service's requests in order until one succeeds; a refused key stops at once."""
    failures: list[str] = []
    retryable = False
    answer: Answer | None = None
    label = ""
    for request in requests:
        label = f"{request[0]} {urlsplit(url).path.rstrip('/')}{request[1]}"
        answer = send(url.rstrip("/") + request[1], request, key, timeout)
        if answer.status is not None and 200 <= answer.status < 300:
            return Result(service, runtime, "passed", label, answer.status, answer.ms, summary(answer.body))
        what, retryable = _failure(answer)
        if answer.status is not None and 300 <= answer.status < 400 and IAP_SIGN_IN in (answer.location or ""):
            return Result(service, runtime, "skipped", label, answer.status, answer.ms, what)
        failures.append(what if len(requests) == 1 else f"{label}: {what}")
        # The next request is for a server of another kind (a reranker's /rerank): not for a refused
        # key, a timeout, or a load balancer without a healthy backend.
        if answer.status is None or answer.status in (401, 403, 429) or answer.status >= 500:
            break
    ms = answer.ms if answer else None
    status = answer.status if answer else None
    return Result(service, runtime, "failed", label, status, ms, "; ".join(failures), retryable)


def run_all(
    urls: Mapping[str, str],
    keys: Mapping[str, str],
    services: Mapping[str, Any],
    timeout: float,
    wait: float | None,
    interval: float,
    say: Callable[[str], None],
) -> list[Result]:
    deadline = time.monotonic() + (wait or 0)
    results: dict[str, Result] = {}
    pending = sorted(urls)
    while True:
        for name in pending:
            service = services.get(name)
            if service is None:
                results[name] = Result(
                    name, "?", "unknown", "-", None, None, "not in the environment file: its API is unknown"
                )
                continue
            runtime = runtime_of(service)
            requests = runtime.smoke_requests(name, service)
            results[name] = smoke(name, runtime.name, urls[name], requests, keys.get(name), timeout)
        pending = [n for n in pending if results[n].outcome == "failed" and results[n].retryable]
        if not pending or time.monotonic() + interval > deadline:
            return [results[n] for n in sorted(results)]
        say(f"retrying {', '.join(pending)} (a fresh deploy may still be settling)")
        time.sleep(interval)


def render(results: Sequence[Result]) -> list[str]:
    width = max((len(r.service) for r in results), default=0)
    lines = []
    for r in results:
        code = str(r.status) if r.status is not None else "-"
        ms = f"{r.ms:.0f} ms" if r.ms is not None else "-"
        lines.append(
            f"  {r.service:<{width}}  {r.runtime:<6}  {r.outcome:<7}  {code:>3}  {ms:>8}  {r.request}  {r.detail}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment (environments/Pulumi.<env>.yaml) and stack name")
    parser.add_argument("--stack", help="stack name when it is not the environment's (e.g. acme/prod)")
    parser.add_argument(
        "--outputs", type=Path, help="serviceUrls and apiKeys as JSON instead of `pulumi stack output` (CI: /dev/stdin)"
    )
    parser.add_argument("--env-file", type=Path, help="the environment file (default environments/Pulumi.<env>.yaml)")
    parser.add_argument("--timeout", type=duration, default=60.0, help="seconds per request (default 60)")
    parser.add_argument("--wait", type=duration, metavar="TIMEOUT", help="retry settling failures until, e.g. 10m")
    parser.add_argument("--interval", type=duration, default=15.0, help="seconds between retries (default 15)")
    args = parser.parse_args(argv)
    keys: dict[str, str] = {}
    try:
        outputs = stack_outputs(
            args.stack or args.env, ["serviceUrls", "apiKeys"], outputs_file=args.outputs, reveal="apiKeys"
        )
        urls, keys = outputs["serviceUrls"], outputs["apiKeys"]
        if not isinstance(urls, dict) or not isinstance(keys, dict):
            raise CannotTell("serviceUrls and apiKeys must be maps of service name to value (read with --show-secrets)")
        services = environment(args.env, args.env_file).services
        results = run_all(
            urls, keys, services, args.timeout, args.wait, args.interval, lambda s: print(s, file=sys.stderr)
        )
    except CannotTell as e:
        print(redact(f"smoke: cannot tell: {e}", keys.values()), file=sys.stderr)
        return EXIT_CANNOT_TELL
    failed = [r for r in results if r.outcome == "failed"]
    unknown = [r for r in results if r.outcome == "unknown"]
    code = EXIT_FAILED if failed else EXIT_CANNOT_TELL if unknown else EXIT_PASSED
    passed = sum(r.outcome == "passed" for r in results)
    lines = [f"smoke {args.env}: {passed} of {len(results)} services answered", *render(results)]
    lines.append(f"exit {code}: " + ("passed" if code == EXIT_PASSED else "failed" if failed else "cannot tell"))
    print(redact("\n".join(lines), keys.values()))
    return code


if __name__ == "__main__":
    sys.exit(main())
