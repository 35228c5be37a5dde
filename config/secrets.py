"""Secrets of the environment and the shapes of credentials, in one home: the config checks refuse a
secret in plaintext or a credential pasted into a plain field, and the hf-token-from-secret policy
finds a literal token in a rendered pod with the same pattern."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from config.pydantic_errors import shown_key

# The project's secret config keys (under `gke-serving:`), each with the value `pulumi config set
# --secret` takes; every one must be `secure:` in the environment file.
SECRETS: Mapping[str, str] = {
    "hfToken": "hf_...",
    "iapClientSecret": "<the OAuth client's secret>",
}

# Hugging Face user access tokens are "hf_" and 34 letters; 20 is enough to tell one from a flag or a
# model name with "hf_" in it, and still catches a truncated paste.
HF_TOKEN = re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{20,}")

# What a credential looks like, by kind. Each is specific enough that no model id, revision (a commit
# sha is lowercase hex), image digest, flag or path matches it.
TOKENS: Mapping[str, re.Pattern[str]] = {
    "a Hugging Face token (hf_…)": HF_TOKEN,
    "a Google API key (AIza…)": re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{30,}"),
    "a Google OAuth client secret (GOCSPX-…)": re.compile(r"(?<![A-Za-z0-9])GOCSPX-[0-9A-Za-z_-]{20,}"),
    "a private key (-----BEGIN … PRIVATE KEY-----)": re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY"),
    "a GitHub token (ghp_…, github_pat_…)": re.compile(
        r"(?<![A-Za-z0-9])(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"
    ),
    "a JSON Web Token (eyJ…)": re.compile(r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),
    "a bearer token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"),
    # Random-looking: 40 or more letters and digits without a separator, mixing upper and lower case
    # and digits (model names break at `-`, `/` and `.`; hashes are lowercase hex).
    "a long random token": re.compile(
        r"(?<![A-Za-z0-9])(?=[a-z0-9]*[A-Z])(?=[A-Z0-9]*[a-z])(?=[A-Za-z]*[0-9])[A-Za-z0-9]{40,}"
    ),
}


def credential_kind(text: str) -> str | None:
    """What kind of credential `text` holds, None when it looks like none."""
    return next((kind for kind, pattern in TOKENS.items() if pattern.search(text)), None)


def credentials_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(config path, kind) of every string in `value` that holds a credential, map keys included (a
    key's finding is reported at its map, so the path does not spell the credential out)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if kind := credential_kind(item):
                yield where or "config", kind
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and (kind := credential_kind(key)):
                    yield where or "config", f"{kind} in a key"
                else:
                    stack.append((f"{where}.{shown_key(key)}" if where else shown_key(key), child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}.{i}" if where else str(i), child) for i, child in enumerate(item))
