"""Names and references the config passes on to other systems, checked by those systems' own rules:
Cloud Storage bucket names, Hugging Face Hub ids, git revisions and CIDR lists."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

# cloud.google.com/storage/docs/buckets#naming: 3-63 characters of lowercase letters, digits, `-`, `_`
# and `.`, starting and ending with a letter or digit; with dots up to 222, each dot-separated part at
# most 63; not an IP address in dotted-decimal notation; not beginning with "goog"; not containing
# "google" or close misspellings such as "g00gle".
BUCKET_CHARACTERS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
BUCKET_RULES = (
    "3-63 lowercase letters, digits, -, _ and . (up to 222 with dots, 63 between dots), starting and ending "
    "with a letter or digit, not an IP address, not starting with goog and without google or a look-alike of it"
)
# Digits read as letters in a look-alike ("g00gle", "goog1e").
_LOOK_ALIKES = str.maketrans("0135", "oles")
GOOGLE = "google"

# huggingface_hub utils/_validators.py validate_repo_id: `namespace/name` of letters, digits, `_`, `-`
# and `.`, each starting and ending with a letter, digit or `_`, the name at most 96 characters; no `--`
# or `..` anywhere; not ending in `.git`.
HUB_ID = re.compile(
    r"(?!.*(?:--|\.\.))(?!.*\.git$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?/"
    r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
)
HUB_ID_RULES = (
    "namespace/name of letters, digits, _, - and ., each part starting and ending with a letter, digit or _, "
    "without -- or .., not ending in .git, the name at most 96 characters (e.g. BAAI/bge-m3)"
)

# A revision is a 40-hex commit or a plain branch or tag name by `git check-ref-format` (git-scm.com/docs/
# git-check-ref-format): no `..`, no control character, space, `~ ^ : ? * [ \`, no `@{`, no component
# starting with `.` or ending with `.lock`, no leading, trailing or doubled `/`, no trailing `.`. Characters
# git allows but a URL or a path would re-read (`%`, `@`, `+`, ...) are refused too: a plain ref is letters,
# digits, `.`, `_`, `-` and `/`.
COMMIT = re.compile(r"[0-9a-f]{40}")
REF_CHARACTERS = re.compile(r"[A-Za-z0-9._/-]{1,255}")
REVISION_RULES = (
    "a 40-hex commit, or a branch or tag name of letters, digits, ., _, - and /, with no .., no part starting "
    "with . or ending with .lock, and no leading, trailing or doubled /"
)


def checked_hub_id(model: str) -> str:
    """`model` when it is a Hugging Face Hub id; a ValueError in the config's `what — fix` form otherwise."""
    if not HUB_ID.fullmatch(model):
        raise ValueError(f"{model!r} is not a Hugging Face model id — write {HUB_ID_RULES}")
    return model


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def looks_like_google(name: str) -> bool:
    """Whether `name` holds "google" or a close misspelling: one edit away, digits read as letters,
    separators ignored ("g00gle", "gooogle", "goog-le", "gogle")."""
    letters = re.sub(r"[._-]", "", name.lower()).translate(_LOOK_ALIKES)
    windows = (letters[i : i + n] for n in (5, 6, 7) for i in range(len(letters) - n + 1))
    return any(_edit_distance(window, GOOGLE) <= 1 for window in windows)


def bucket_name_problem(name: str) -> str | None:
    """Why Cloud Storage would refuse `name` as a bucket name, None when it would not."""
    parts = name.split(".")
    if not BUCKET_CHARACTERS.fullmatch(name) or not 3 <= len(name) <= (222 if "." in name else 63):
        return "is not a Cloud Storage bucket name"
    if any(not part or len(part) > 63 for part in parts):
        return "has an empty part or one longer than 63 characters between dots"
    if _is_ip_address(name):
        return "is an IP address"
    if name.startswith("goog"):
        return "starts with goog, which Cloud Storage keeps for Google"
    if looks_like_google(name):
        return "contains google or a look-alike of it, which Cloud Storage refuses"
    return None


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def revision_problem(revision: str) -> str | None:
    """Why `revision` is neither a commit nor a plain ref, None when it is one."""
    if COMMIT.fullmatch(revision):
        return None
    parts = revision.split("/")
    if (
        not REF_CHARACTERS.fullmatch(revision)
        or ".." in revision
        or revision.endswith(".")
        or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts)
    ):
        return "is not a commit or a plain branch or tag name"
    return None


def covers_everything(cidrs: Iterable[str]) -> list[str]:
    """The address families ("0.0.0.0/0", "::/0") the union of `cidrs` covers whole."""
    networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    v4 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network))
    v6 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv6Network))
    return [
        whole for whole, union in (("0.0.0.0/0", list(v4)), ("::/0", list(v6))) if any(n.prefixlen == 0 for n in union)
    ]
