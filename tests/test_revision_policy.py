"""revision-pinned against a table of model-server pods, with the exact messages."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from policies.evaluate import enforcement, load_config
from policies.rules.revisions import revision_pinned
from tests.test_policy_rules import deployment, not_applicable, server, violations

COMMIT = "5617a9f61b028005a4858fdac845db406aefb181"
FIX = "two replicas may serve different weights — pin the commit: make model MODEL="


def pod(runtime: str, *args: str, name: str = "svc", image: str = "vllm/vllm-openai:v0.33.0") -> dict[str, Any]:
    return deployment(server(*args, image=image), name=name, runtime=runtime)


CASES = [
    ("vLLM at a commit", pod("vllm", "BAAI/bge-m3", f"--revision={COMMIT}"), []),
    ("TGI at a commit, flag and value apart", pod("tgi", "--model-id=m/x", "--revision", COMMIT), []),
    ("TEI at a commit", pod("tei", "--model-id=BAAI/bge-m3", f"--revision={COMMIT}"), []),
    ("SGLang at a commit", pod("sglang", "--model-path=Qwen/Qwen2.5-7B-Instruct-AWQ", f"--revision={COMMIT}"), []),
    ("the last --revision wins", pod("vllm", "m/x", "--revision=main", f"--revision={COMMIT}"), []),
    (
        "no revision",
        pod("vllm", "google/gemma-7b-AWQ", name="gemma"),
        [
            f"services.gemma: no revision: the server loads main, a moving branch: {FIX}google/gemma-7b-AWQ REVISION=main prints it"
        ],
    ),
    (
        "main",
        pod("tgi", "--model-id=meta-llama/Llama-2-13b-hf", "--revision=main", name="llama"),
        [f"services.llama: revision 'main' is a moving branch: {FIX}meta-llama/Llama-2-13b-hf REVISION=main prints it"],
    ),
    (
        "a tag",
        pod("tei", "--model-id=BAAI/bge-m3", "--revision=v1.0", name="embed"),
        [
            f"services.embed: revision 'v1.0' is a branch or tag, and either can move: {FIX}BAAI/bge-m3 REVISION=v1.0 prints it"
        ],
    ),
    (
        "an abbreviated commit",
        pod("sglang", "--model-path=Qwen/Qwen2.5-7B-Instruct-AWQ", "--revision=b250375", name="chat"),
        [
            "services.chat: revision 'b250375' is an abbreviated commit, which the Hub resolves like a branch name: "
            f"{FIX}Qwen/Qwen2.5-7B-Instruct-AWQ REVISION=b250375 prints it"
        ],
    ),
    (
        "an upper-case commit (the Hub's commit ids are lower case)",
        pod("vllm", "m/x", f"--revision={COMMIT.upper()}"),
        [
            f"services.svc: revision '{COMMIT.upper()}' is a branch or tag, and either can move: {FIX}m/x REVISION={COMMIT.upper()} prints it"
        ],
    ),
    ("not a model server", deployment(server(gpus=None), runtime=None, accelerator=None, pool=None), []),
]


@pytest.mark.parametrize(("case", "props", "expected"), CASES, ids=[c[0] for c in CASES])
def test_revision_pinned(case: str, props: dict[str, Any], expected: list[str]) -> None:
    assert violations(revision_pinned, props) == expected, case


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        (
            pod("triton", "tritonserver", "--model-repository=gs://acme-triton/models", image="nvcr.io/t:1"),
            "the model comes from gs://acme-triton/models, not the Hub",
        ),
        (
            pod("custom", "--port", "8080", image="ghcr.io/ggml-org/llama.cpp:server-cuda-b11206"),
            "the model comes from the image ghcr.io/ggml-org/llama.cpp:server-cuda-b11206, not the Hub",
        ),
        (pod("ollama", "serve"), "no server container of a known runtime (label 'ollama')"),
    ],
)
def test_servers_that_do_not_read_the_hub_are_not_checked(props: dict[str, Any], reason: str) -> None:
    assert not_applicable(revision_pinned, props) == reason


@pytest.mark.parametrize(
    ("env", "level"),
    [("dev", EnforcementLevel.ADVISORY), ("staging", EnforcementLevel.MANDATORY), ("prod", EnforcementLevel.MANDATORY)],
)
def test_mandatory_in_staging_and_prod_advisory_in_dev(env: str, level: EnforcementLevel) -> None:
    assert enforcement(revision_pinned, load_config(env)) == level
