"""Secrets of the environment and the shapes of credentials, in one home: the config checks refuse a
secret in plaintext or a credential pasted into a plain field, and the hf-token-from-secret policy
finds a literal token in a rendered pod with the same pattern.

One detector: `CREDENTIAL_SHAPES` (what a credential's text looks like) and `CREDENTIAL_NAME` (what a
key or flag that holds one is called) are the data; `credentials_in` walks every plain string of the
environment, map keys and list items included, and applies both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from settings.problems import shown_key

# The project's secret config keys (under `gke-serving:`), each with the value `pulumi config set
# --secret` takes; every one must be `secure:` in the environment file.
SECRETS: Mapping[str, str] = {
    "hfToken": "hf_...",
    "iapClientSecret": "<the OAuth client's secret>",
}

# Hugging Face user access tokens are "hf_" and 34 letters; 20 is enough to tell one from a flag or a
# model name with "hf_" in it, and still catches a truncated paste.
HF_TOKEN = re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{20,}")
_START = r"(?<![A-Za-z0-9_-])"  # a credential starts a word: `sk-` inside `task-...` is not one

# What a credential looks like, by kind, with where the shape is documented. Each is specific enough
# that no model id (`sk-learn/...` has no 20-character run), revision (a commit sha is lowercase hex),
# image digest, flag or path matches it. Order matters: the first match names the kind.
CREDENTIAL_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # huggingface.co/docs/hub/security-tokens
    ("a Hugging Face token (hf_…)", HF_TOKEN),
    # docs.anthropic.com API keys: sk-ant-api03-…, sk-ant-admin01-…
    ("an Anthropic API key (sk-ant-…)", re.compile(_START + r"sk-ant-[A-Za-z0-9_-]{20,}")),
    # platform.openai.com API keys: legacy sk-<48>, project sk-proj-…, service account sk-svcacct-…
    (
        "an OpenAI API key (sk-…)",
        re.compile(
            _START
            + r"sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_/-])|[A-Za-z0-9]{20,}(?![A-Za-z0-9/.]))"
        ),
    ),
    # docs.aws.amazon.com IAM identifiers: unique id prefixes of access keys (AKIA long-term, ASIA STS)
    (
        "an AWS access key id (AKIA…, ASIA…)",
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ),
    # an AWS secret access key: 40 base64 characters, with a / or + (no model id or path holds both
    # mixed-case runs and those without a separator)
    (
        "an AWS secret access key",
        re.compile(
            r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[/+])(?=[A-Za-z0-9/+]{0,39}[a-z])"
            r"(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
        ),
    ),
    # docs.github.com "About authentication": ghp_ gho_ ghu_ ghs_ ghr_ and fine-grained github_pat_
    (
        "a GitHub token (ghp_…, github_pat_…)",
        re.compile(r"(?<![A-Za-z0-9])(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ),
    # api.slack.com/messaging/webhooks and api.slack.com/authentication/token-types
    ("a Slack webhook URL", re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{8,}")),
    ("a Slack token (xox…-)", re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}")),
    # pulumi.com/docs access tokens: pul- and 40 hex
    ("a Pulumi access token (pul-…)", re.compile(r"(?<![A-Za-z0-9])pul-[0-9a-f]{40}")),
    # developers.google.com/identity: OAuth 2.0 access tokens start ya29.
    ("a Google OAuth access token (ya29.…)", re.compile(r"(?<![A-Za-z0-9])ya29\.[0-9A-Za-z_-]{20,}")),
    # cloud.google.com/docs/authentication/api-keys: AIza and 35 characters
    ("a Google API key (AIza…)", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{30,}")),
    ("a Google OAuth client secret (GOCSPX-…)", re.compile(r"(?<![A-Za-z0-9])GOCSPX-[0-9A-Za-z_-]{20,}")),
    # cloud.google.com/iam/docs/keys-create-delete: the JSON key file's fields
    (
        "a Google service-account key",
        re.compile(r"\"type\"\s*:\s*\"service_account\"|\"private_key_id\"\s*:\s*\"[0-9a-f]{8,}"),
    ),
    ("a private key (-----BEGIN … PRIVATE KEY-----)", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY")),
    ("a JSON Web Token (eyJ…)", re.compile(r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.")),
    ("a bearer token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}")),
    # Random-looking: 40 or more letters and digits without a separator, mixing upper and lower case
    # and digits (model names break at `-`, `/` and `.`; hashes are lowercase hex).
    (
        "a long random token",
        re.compile(r"(?<![A-Za-z0-9])(?=[a-z0-9]*[A-Z])(?=[A-Z0-9]*[a-z])(?=[A-Za-z]*[0-9])[A-Za-z0-9]{40,}"),
    ),
)

# A key or flag whose name says it holds a credential: its words, lowercased and run together, end
# with one of these (DB_PASSWORD, gcp:accessToken, --api-key, aws_secret_access_key). `maxInputTokens`
# (plural) and `apiKeyEnv` (a variable's name) do not.
CREDENTIAL_NAME = re.compile(
    r"(password|passwd|passphrase|secret|token|credential|credentials|apikey|accesskey|secretkey|privatekey|"
    r"privatekeyid|authkey|kubeconfig)$"
)
# A value under such a name that is no credential: a file that holds one, a reference to a variable,
# a number or a switch.
_NOT_A_LITERAL = re.compile(r"(?i)(~?/|\./|\$\().*|[0-9.]+|true|false|yes|no|none|null")
NAMED_KIND = "a credential (a literal value under a name such as PASSWORD, SECRET, TOKEN or API_KEY)"


def credential_kind(text: str) -> str | None:
    """What kind of credential `text` holds by its shape, None when it looks like none."""
    return next((kind for kind, pattern in CREDENTIAL_SHAPES if pattern.search(text)), None)


def names_a_credential(name: str) -> bool:
    """Whether a key or flag (`DB_PASSWORD`, `--api-key`, `gcp:accessToken`) is named for a credential."""
    words = re.sub(r"[^a-z0-9]", "", name.rpartition(":")[2].lower())
    return bool(CREDENTIAL_NAME.search(words))


def _literal(value: Any) -> bool:
    """A string that is a value itself; maps and lists are walked, so what they hold is judged on its own."""
    return isinstance(value, str) and bool(value.strip()) and not _NOT_A_LITERAL.fullmatch(value.strip())


def _flag_findings(items: list[Any] | tuple[Any, ...], where: str) -> Iterator[tuple[str, str]]:
    """`--api-key=literal` or `--api-key literal` in an argument list."""
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.startswith("-"):
            continue
        flag, equals, value = item.partition("=")
        following = items[i + 1] if i + 1 < len(items) else None
        if not names_a_credential(flag):
            continue
        if equals and _literal(value) and not credential_kind(value):
            yield f"{where}.{i}" if where else str(i), NAMED_KIND
        elif (
            not equals
            and isinstance(following, str)
            and not following.startswith("-")
            and _literal(following)
            and not credential_kind(following)
        ):
            yield f"{where}.{i + 1}" if where else str(i + 1), NAMED_KIND


def credentials_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(config path, kind) of every plain string in `value` that holds a credential, by its shape or by
    the name it sits under; map keys included (a key's finding is reported at its map, so the path does
    not spell the credential out). One finding per place: nothing under a finding is walked again."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if kind := credential_kind(item):
                yield where or "config", kind
        elif isinstance(item, Mapping):
            if item.get("type") == "service_account":
                yield where or "config", "a Google service-account key"
                continue
            for key, child in item.items():
                child_path = f"{where}.{shown_key(key)}" if where else shown_key(key)
                if isinstance(key, str) and (kind := credential_kind(key)):
                    yield where or "config", f"{kind} in a key"
                elif (
                    isinstance(key, str) and names_a_credential(key) and _literal(child) and not credential_kind(child)
                ):
                    yield child_path, NAMED_KIND
                else:
                    stack.append((child_path, child))
        elif isinstance(item, list | tuple):
            flagged = dict(_flag_findings(item, where))
            yield from flagged.items()
            stack.extend(
                (f"{where}.{i}" if where else str(i), child)
                for i, child in enumerate(item)
                if (f"{where}.{i}" if where else str(i)) not in flagged
            )


def credential_fix(path: str) -> str:
    """How to fix a credential found at `path`: a top-level key can itself become a secret."""
    key = path if "." not in path and ":" in path else "<key>"
    return (
        "remove it, and revoke it if it is real: a credential goes only into a secret key "
        f"(`pulumi config set --secret {key} ...`), never into a plain setting"
    )
