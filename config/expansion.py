"""Kubernetes' `$(VAR)` expansion, read the way the kubelet reads it, to find a secret referenced from a
container's `command`, `args` or an env `value`.

The kubelet expands `$(NAME)` in a container's command and args from its environment, and in an env
value from the entries before it; `$$` is an escape for one `$`, and a reference to a name it does not
know stays literal (k8s.io/kubernetes third_party/forked/golang/expansion/expand.go, Expand and
tryReadVariableName). So `--x=$(HF_TOKEN)` puts the Hugging Face token on the command line, where
the process list, the server's own start-up log and `kubectl get pod -o yaml` show it, while
`--x=$$(HF_TOKEN)` passes the literal text `$(HF_TOKEN)`.

The project's own arguments follow the same rule: a server that takes its key only on the command line
(SGLang, Triton) gets no key at all (catalog/servers.yaml `apiKeyEnv: null`); `auth: true` puts the
gateway's Identity-Aware Proxy in front of it instead (config/service_checks.py `_auth`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import catalog
from settings.problems import Problem

OPERATOR, OPENER, CLOSER = "$", "(", ")"


def references(text: str) -> Iterator[str]:
    """The names `text` references as `$(NAME)`, in order, as the kubelet's Expand reads it: `$$` is one
    literal `$`, an unclosed `$(` is literal, a `$` before anything else is literal."""
    cursor = 0
    while cursor < len(text) - 1:
        if text[cursor] != OPERATOR:
            cursor += 1
            continue
        following = text[cursor + 1]
        if following == OPENER:
            closer = text.find(CLOSER, cursor + 2)
            if closer == -1:
                return  # an incomplete reference: the rest is literal
            yield text[cursor + 2 : closer]
            cursor = closer + 1
        else:
            cursor += 2  # `$$` (an escaped `$`) or `$x`: both literal, the second character consumed


def secret_references(text: str, secret_names: Iterable[str]) -> list[str]:
    """The secret-bearing variables `text` would expand, in order, each once."""
    secrets = set(secret_names)
    found: list[str] = []
    for name in references(text):
        if name in secrets and name not in found:
            found.append(name)
    return found


def platform_secret_env() -> tuple[str, ...]:
    """The variables the platform fills from a Secret in every server (catalog/reserved_env.yaml)."""
    return tuple(name for name, variable in catalog.reserved_env().items() if variable.secret)


def secret_reference_problems(
    path: str, texts: Iterable[tuple[str, str]], secret_names: Iterable[str]
) -> list[Problem]:
    """A Problem for each user-supplied (config path, text) that would expand a secret-bearing variable."""
    names = tuple(secret_names)
    problems = []
    for where, text in texts:
        for name in secret_references(text, names):
            problems.append(
                Problem(
                    f"{path}.{where}",
                    f"references $({name}), which holds a secret: Kubernetes expands it into the container's "
                    "command line or environment, where the process list, logs and the pod spec show it",
                    f"remove the reference (the server reads {name} from its environment), or write $$({name}) "
                    "for the literal text; a value may reference any variable that holds no secret",
                )
            )
    return problems
