"""A small Hugging Face Hub on 127.0.0.1 for the real `huggingface_hub` client (HF_ENDPOINT).

It answers the three calls `make model` makes, the way huggingface.co does (huggingface_hub's
hf_api.py model_info, file_download.py get_hf_file_metadata / hf_hub_download, hf_api.py
parse_safetensors_file_metadata, and utils/_http.py hf_raise_for_status for the error headers):

- GET  /api/models/{org}/{name}/revision/{rev}[?blobs=true]: the repo's info at a revision (sha,
  gated, cardData, tags, siblings with sizes).
- HEAD /{org}/{name}/resolve/{rev}/{file}: X-Repo-Commit, ETag and Content-Length (the client refuses
  a response without the first two).
- GET  /{org}/{name}/resolve/{rev}/{file}, with `Range: bytes=a-b` honoured (206): the file.

Errors carry the header the client maps to an exception: X-Error-Code RepoNotFound (401, as the
Hub answers an anonymous caller), RevisionNotFound (404), EntryNotFound (404) and GatedRepo (403
for a gated repo the caller's token may not read).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.stand_in import StandInHandler


@dataclass
class FixtureRepo:
    repo_id: str
    sha: str
    files: dict[str, bytes]
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    gated: bool | str = False
    readers: frozenset[str] = frozenset()  # tokens that accepted a gated repo's license
    card: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    def commit(self, rev: str) -> str | None:
        if rev in self.refs:
            return self.refs[rev]
        found = {c for c in (self.sha, *self.refs.values()) if len(rev) >= 7 and c.startswith(rev)}
        return found.pop() if len(found) == 1 else None


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]


class FixtureHub:
    def __init__(self, repos: list[FixtureRepo]) -> None:
        self.repos = {r.repo_id: r for r in repos}
        self.requests: list[Request] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(StandInHandler):
            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _error(self, status: int, code: str, commit: str | None = None) -> None:
                headers = {"X-Error-Code": code, "X-Error-Message": code} | (
                    {"X-Repo-Commit": commit} if commit else {}
                )
                self.reply(status, b"", headers)

            def _json(self, data: Any, body: bool) -> None:
                self.reply(200, json.dumps(data).encode(), {"Content-Type": "application/json"}, body=body)

            def _serve(self, *, body: bool) -> None:
                url = urlsplit(self.path)
                path = unquote(url.path)
                hub.requests.append(Request(self.command, path, url.query, dict(self.headers)))
                token = (self.headers.get("authorization") or "").removeprefix("Bearer ")
                api = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path)
                resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                match = api or resolve
                if match is None:
                    self._error(404, "NotFound")
                    return
                repo = hub.repos.get(match[1])
                if repo is None:
                    self._error(401, "RepoNotFound")
                    return
                commit = repo.commit(match[2] or "main")
                if commit is None:
                    self._error(404, "RevisionNotFound")
                    return
                if api:
                    self._json(self._info(repo, commit, "blobs=true" in url.query), body)
                    return
                if repo.gated and token not in repo.readers:
                    self._error(403, "GatedRepo")
                    return
                content = repo.files.get(match[3])
                if content is None:
                    self._error(404, "EntryNotFound", commit)
                    return
                self._file(commit, content, body)

            def _info(self, repo: FixtureRepo, commit: str, blobs: bool) -> dict[str, Any]:
                siblings = []
                for name, content in sorted(repo.files.items()):
                    sibling: dict[str, Any] = {"rfilename": name}
                    if blobs:
                        sibling |= {"size": len(content), "blobId": hashlib.sha1(content).hexdigest()}  # noqa: S324 - git's blob id
                    siblings.append(sibling)
                return {
                    "_id": "0" * 24,
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "sha": commit,
                    "private": False,
                    "gated": repo.gated,
                    "disabled": False,
                    "tags": repo.tags,
                    "cardData": repo.card,
                    "siblings": siblings,
                }

            def _file(self, commit: str, content: bytes, body: bool) -> None:
                wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("range") or "")
                start, end = 0, len(content) - 1
                if wanted:
                    start = int(wanted[1])
                    end = min(int(wanted[2]) if wanted[2] else end, len(content) - 1)
                chunk = content[start : end + 1]
                headers = {
                    "X-Repo-Commit": commit,
                    "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
                    "Accept-Ranges": "bytes",
                }
                if wanted:
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
                self.reply(206 if wanted else 200, chunk, headers, body=body)

        return Handler


@contextmanager
def serve(repos: list[FixtureRepo]) -> Iterator[FixtureHub]:
    hub = FixtureHub(repos)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


# --- building a small checkpoint ---------------------------------------------------------------------

_DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4}


def safetensors(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A valid safetensors file (8-byte little-endian header length, JSON header, zeroed data)."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = _DTYPE_BYTES[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def llama_tensors(config: dict[str, Any], dtype: str = "BF16") -> dict[str, tuple[str, list[int]]]:
    """The tensors of a Llama checkpoint with this config, as transformers names and shapes them."""
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    nh, nkv = config["num_attention_heads"], config["num_key_value_heads"]
    hd = h // nh
    tensors: dict[str, tuple[str, list[int]]] = {"model.embed_tokens.weight": (dtype, [v, h])}
    for n in range(config["num_hidden_layers"]):
        p = f"model.layers.{n}"
        tensors |= {
            f"{p}.self_attn.q_proj.weight": (dtype, [nh * hd, h]),
            f"{p}.self_attn.k_proj.weight": (dtype, [nkv * hd, h]),
            f"{p}.self_attn.v_proj.weight": (dtype, [nkv * hd, h]),
            f"{p}.self_attn.o_proj.weight": (dtype, [h, nh * hd]),
            f"{p}.mlp.gate_proj.weight": (dtype, [i, h]),
            f"{p}.mlp.up_proj.weight": (dtype, [i, h]),
            f"{p}.mlp.down_proj.weight": (dtype, [h, i]),
            f"{p}.input_layernorm.weight": (dtype, [h]),
            f"{p}.post_attention_layernorm.weight": (dtype, [h]),
        }
    tensors["model.norm.weight"] = (dtype, [h])
    if not config.get("tie_word_embeddings", False):
        tensors["lm_head.weight"] = (dtype, [v, h])
    return tensors


def sharded(tensors: dict[str, tuple[str, list[int]]], shards: int) -> dict[str, bytes]:
    """model-0000k-of-0000n.safetensors files and their index, as save_pretrained shards them."""
    names = list(tensors)
    per = -(-len(names) // shards)
    files: dict[str, bytes] = {}
    weight_map: dict[str, str] = {}
    for k in range(shards):
        part = names[k * per : (k + 1) * per]
        fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        files[fname] = safetensors({n: tensors[n] for n in part})
        weight_map |= dict.fromkeys(part, fname)
    total = sum(len(b) for b in files.values())
    files["model.safetensors.index.json"] = json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}
    ).encode()
    return files
