"""The base of the tests' stand-in HTTP servers (the Hub, the Kubernetes API, the gateway)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any


class StandInHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        """Drop the access log: the tests read the responses and the recorded requests instead."""

    def reply(self, code: int, data: bytes = b"", headers: dict[str, str] | None = None, *, body: bool = True) -> None:
        """One complete response; `body=False` answers a HEAD with the headers a GET would get."""
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)
