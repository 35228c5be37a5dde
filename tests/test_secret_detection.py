"""The one credential detector (settings/secrets.py) and the `$(VAR)` expansion reader
(config/expansion.py): several spellings of each shape must be found, near misses must pass."""

from __future__ import annotations

from typing import Any

import pytest

import catalog
from config.expansion import platform_secret_env, references, secret_references
from settings.secrets import NAMED_KIND, credential_kind, credentials_in, names_a_credential

# Built from pieces so no scanner mistakes this file for a leak.
# Each sample is made of two pieces joined at import, so that a secret scanner of the repository (the CI's, a
# push protection) does not take the fixture itself for a leaked credential; the detector sees the whole value.
SHAPES = {
    "an OpenAI API key (sk-…)": [
        "sk-" + "T3BlbkFJ" * 6,
        "--api-key=sk-proj-" + "Ab1_Cd2-" * 8,
        "OPENAI_API_KEY=sk-svcacct-" + "x9Y8z7W6" * 5,
    ],
    "an Anthropic API key (sk-ant-…)": ["sk-ant-api03-" + "Zz9_" * 10, "key: sk-ant-admin01-" + "q1W2e3R4" * 4],
    "an AWS access key id (AKIA…, ASIA…)": ["AKIA" + "IOSFODNN7EXAMPLE", "id=ASIA" + "Y34FZKBOKMUTVV7A"],
    "an AWS secret access key": ["wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY", "s=" + "Ab3+" * 10],
    "a GitHub token (ghp_…, github_pat_…)": [
        f"{prefix}_" + "aBcDeFgHiJ" * 4 for prefix in ("ghp", "gho", "ghu", "ghs", "ghr")
    ]
    + ["github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnop"],
    "a Slack webhook URL": [
        "https://hooks.slack.com/services/T000" + "0000/B0000000/XXXXXXXXXXXXXXXX",
        "hooks.slack.com/workflows/T01/A02/123/abc" + "def",
    ],
    "a Slack token (xox…-)": [
        "xoxb-" + "1234567890-abcdefghij",
        "xoxp-" + "0000-1111-2222-aaaa",
        "xoxa-" + "2-abcdefghijkl",
    ],
    "a Pulumi access token (pul-…)": ["pul-" + "0123456789abcdef" * 2 + "01234567"],
    "a Google OAuth access token (ya29.…)": ["ya29." + "a0AfH6SMB_x-" * 3, "Bearer-less ya29." + "c" * 40],
    "a Google API key (AIza…)": ["AIza" + "SyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tUvW"],
    "a Google service-account key": [
        '{"type": "service_account", "project_id": "p"}',
        '{"private_key_id": "0a1b2c3d4e5f"}',
    ],
    "a private key (-----BEGIN … PRIVATE KEY-----)": [
        "-----BEGIN PRIVATE KEY-----\nMII",
        "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ],
    "a Hugging Face token (hf_…)": ["hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345", "--token=hf_" + "x" * 34],
}
NEAR_MISSES = [
    "sk-learn/text-classifier",  # a Hub id whose org starts like an OpenAI key
    "scikit-learn/sk-learn-model-v1",
    "task-" + "a" * 30,  # `sk-` inside a word
    "meta-llama/Llama-2-13b-hf",
    "Qwen/Qwen2.5-7B-Instruct-AWQ",
    "0123456789abcdef0123456789abcdef01234567",  # a commit
    "gs://acme-models/meta-llama/Llama-2-13b-hf/0123456789abcdef0123456789abcdef01234567",
    "registry.example.com:5000/team/server:1.2.3",
    "AKIA-is-not-a-key",
    "pul-abc",
    "ya29",
    "https://hooks.slack.com/",
    "xoxb",
]


@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, texts in SHAPES.items() for t in texts])
def test_every_spelling_of_a_credential_shape_is_found(kind: str, text: str) -> None:
    assert credential_kind(text) == kind


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_not_credentials(text: str) -> None:
    assert credential_kind(text) is None


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ({"env": {"DB_PASSWORD": "hunter2"}}, ["env.DB_PASSWORD"]),
        (
            {"env": {"dbPassword": "hunter2", "SMTP_PASSWD": "x1", "ADMIN_SECRET": "s"}},
            ["env.ADMIN_SECRET", "env.SMTP_PASSWD", "env.dbPassword"],
        ),
        (
            {"env": {"OCR_API_KEY": "abc", "aws_secret_access_key": "abc"}},
            ["env.OCR_API_KEY", "env.aws_secret_access_key"],
        ),
        ({"args": ["--api-key", "literal"]}, ["args.1"]),
        ({"args": ["--api-key=literal", "--password=pw", "--hf_token", "abc"]}, ["args.0", "args.1", "args.3"]),
        ({"gcp:accessToken": "abc"}, ["gcp:accessToken"]),
        ({"kubernetes:kubeconfig": "apiVersion: v1\nusers: []"}, ["kubernetes:kubeconfig"]),
    ],
)
def test_a_literal_under_a_credential_name_is_found(value: dict[str, Any], found: list[str]) -> None:
    assert sorted(credentials_in(value)) == [(path, NAMED_KIND) for path in found]


def test_a_service_account_key_written_as_a_map_is_found_at_its_map() -> None:
    key = {"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com", "private_key": "..."}
    assert list(credentials_in({"gcp:credentials": key})) == [("gcp:credentials", "a Google service-account key")]


@pytest.mark.parametrize(
    "value",
    [
        {"maxInputTokens": 2048, "maxTotalTokens": 4096},  # plural, and numbers
        {"apiKeyEnv": "OCR_API_KEY"},  # the name of a variable
        {"env": {"HF_TOKEN_PATH": "/var/run/token", "DB_PASSWORD_FILE": "/run/secrets/db"}},
        {"env": {"DB_PASSWORD": "$(DB_PASSWORD_FROM_SECRET)", "TOKEN": "./token.txt", "SECRET": "~/.s"}},
        {"args": ["--max-total-tokens", "4096", "--api-key-file=/run/key", "--tokenizer", "x/y"]},
        {"gcp:credentials": "/home/me/sa.json", "kubernetes:kubeconfig": "~/.kube/config"},
        {"services": {"hf-token": {"model": "BAAI/bge-m3"}}},  # a name, not a value
    ],
)
def test_names_that_only_look_like_credentials_pass(value: dict[str, Any]) -> None:
    assert list(credentials_in(value)) == []


def test_a_shape_under_a_credential_name_is_reported_by_its_shape_once() -> None:
    token = "sk-" + "T3BlbkFJ" * 6
    assert list(credentials_in({"args": ["--api-key", token]})) == [("args.1", "an OpenAI API key (sk-…)")]
    assert list(credentials_in({"env": {"OPENAI_API_KEY": token}})) == [
        ("env.OPENAI_API_KEY", "an OpenAI API key (sk-…)")
    ]


@pytest.mark.parametrize("name", ["DB_PASSWORD", "--api-key", "gcp:accessToken", "clientSecret", "X_AUTH_KEY"])
def test_credential_names(name: str) -> None:
    assert names_a_credential(name)


@pytest.mark.parametrize("name", ["maxInputTokens", "apiKeyEnv", "--tokenizer", "HF_TOKEN_PATH", "secretName"])
def test_names_that_are_not_for_credentials(name: str) -> None:
    assert not names_a_credential(name)


# (text, the names the kubelet would expand) per k8s.io/kubernetes third_party/forked/golang/expansion.
EXPANSIONS = [
    ("--x=$(HF_TOKEN)", ["HF_TOKEN"]),
    ("$(A)$(B)", ["A", "B"]),
    ("$$(HF_TOKEN)", []),  # escaped: the literal text $(HF_TOKEN)
    ("$$$(HF_TOKEN)", ["HF_TOKEN"]),  # `$` then a reference
    ("$$$$(HF_TOKEN)", []),
    ("$(HF_TOKEN", []),  # unclosed: literal
    ("$HF_TOKEN", []),  # shell syntax is not Kubernetes syntax
    ("${HF_TOKEN}", []),
    ("$($(HF_TOKEN))", ["$(HF_TOKEN"]),  # the name runs to the first `)`
    ("a$b$(C)d", ["C"]),
    ("$", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "names"), EXPANSIONS)
def test_references_are_read_as_the_kubelet_reads_them(text: str, names: list[str]) -> None:
    assert list(references(text)) == names


def test_secret_references_name_each_secret_once() -> None:
    assert secret_references("$(HF_TOKEN)-$(PATH)-$(HF_TOKEN)-$(KEY)", ["HF_TOKEN", "KEY"]) == ["HF_TOKEN", "KEY"]


def test_the_secret_bearing_variables_come_from_the_reserved_list() -> None:
    assert "HF_TOKEN" in platform_secret_env()
    assert set(platform_secret_env()) <= set(catalog.reserved_env())
    assert "PATH" not in platform_secret_env()


def test_every_reserved_variable_has_a_reason_and_a_source() -> None:
    sources = {"posix", "ld.so", "python", "nvidia-ctk", "cuda", "platform"}
    for variable in catalog.reserved_env().values():
        assert variable.why and variable.source in sources, variable
    for required in ("PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        assert required in catalog.reserved_env()
    for required in ("NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "HF_HOME"):
        assert required in catalog.reserved_env()
