"""prod-images-pinned-by-digest against a table of images, its per-environment levels, and the
catalog digests image_for renders."""

from __future__ import annotations

import pytest

import catalog
import runtimes.base
from catalog.servers import server_facts
from policies.evaluate import enforcement, load_config, properties
from policies.rules.images import prod_images_pinned_by_digest
from runtimes import TeiService, VllmService
from tests.test_policy_rules import deployment, server, violations
from workloads.metrics_adapter import IMAGE as ADAPTER_IMAGE
from workloads.server import image_for

DIGEST = "sha256:" + "0123456789abcdef" * 4
L4 = catalog.gpus()["nvidia-l4"]
H100 = catalog.gpus()["nvidia-h100-80gb"]


def message(container: str, image: str) -> str:
    return (
        f"container {container}: image {image} has no digest — append @sha256:<digest of the tag> (a runtime's "
        "`digests` in catalog/servers.yaml, or the service's `image`), so the node pulls the image that was reviewed"
    )


CASES = [
    ("a tag and its digest", f"vllm/vllm-openai:v0.33.0@{DIGEST}", []),
    ("a digest alone", f"vllm/vllm-openai@{DIGEST}", []),
    ("a registry port and a digest", f"registry.example:5000/tgi:3.3.7@{DIGEST}", []),
    ("a version tag only", "vllm/vllm-openai:v0.33.0", [message("server", "vllm/vllm-openai:v0.33.0")]),
    ("no tag at all", "vllm/vllm-openai", [message("server", "vllm/vllm-openai")]),
    (
        "a truncated digest",
        "vllm/vllm-openai:v0.33.0@sha256:0123",
        [message("server", "vllm/vllm-openai:v0.33.0@sha256:0123")],
    ),
    (
        "an uppercase digest (not what registries print)",
        f"vllm/vllm-openai@{DIGEST.upper()}",
        [message("server", f"vllm/vllm-openai@{DIGEST.upper()}")],
    ),
    (
        "a sha512 digest",
        "vllm/vllm-openai@sha512:" + "ab" * 64,
        [message("server", "vllm/vllm-openai@sha512:" + "ab" * 64)],
    ),
]


@pytest.mark.parametrize(("case", "image", "expected"), CASES, ids=[c[0] for c in CASES])
def test_prod_images_pinned_by_digest(case: str, image: str, expected: list[str]) -> None:
    assert violations(prod_images_pinned_by_digest, deployment(server(image=image))) == expected, case


def test_every_container_of_every_workload_is_checked() -> None:
    init = {"name": "fetch", "image": f"busybox:1.37@{DIGEST}"}
    sidecar = {"name": "proxy", "image": "envoyproxy/envoy:v1.34.0"}
    props = deployment(server(image=f"vllm/vllm-openai:v0.33.0@{DIGEST}"), sidecar, init=(init,))
    assert violations(prod_images_pinned_by_digest, props) == [message("proxy", "envoyproxy/envoy:v1.34.0")]
    job = {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "busybox:1.37"}]}}}}
    assert violations(prod_images_pinned_by_digest, job, "kubernetes:batch/v1:Job") == [message("job", "busybox:1.37")]


def test_resources_without_pods_are_not_checked() -> None:
    assert violations(prod_images_pinned_by_digest, {"metadata": {"name": "x"}}, "kubernetes:core/v1:Service") == []


# --- where it applies ---------------------------------------------------------------------------


def test_levels_come_from_each_environments_policy_config() -> None:
    levels = {
        env: enforcement(prod_images_pinned_by_digest, load_config(env)).value for env in ("dev", "staging", "prod")
    }
    # Prod reports every undigested image; advisory until every digest is sourced (the config says why).
    assert levels == {"dev": "disabled", "staging": "disabled", "prod": "advisory"}
    assert "advisory until" in properties(prod_images_pinned_by_digest, load_config("prod"))["note"]


def test_the_adapter_image_is_reported_until_it_has_a_digest() -> None:
    # The fact the advisory level stands on: no digest of the pinned adapter tag was sourced yet.
    assert violations(prod_images_pinned_by_digest, deployment(server(image=ADAPTER_IMAGE, name="adapter"))) == [
        message("adapter", ADAPTER_IMAGE)
    ]


# --- image_for: the catalog's digests ------------------------------------------------------------


def _with_digests(monkeypatch: pytest.MonkeyPatch, runtime: str, digests: dict[str, str] | None) -> None:
    servers = dict(server_facts())
    servers[runtime] = servers[runtime].model_copy(update={"digests": digests or {}})
    monkeypatch.setattr(runtimes.base, "server_facts", lambda: servers)


def test_image_for_renders_tag_and_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_digests(monkeypatch, "vllm", {"v0.33.0": DIGEST})
    vllm = VllmService.model_validate({"runtime": "vllm", "model": "google/gemma-7b-AWQ", "pool": "l4"})
    assert image_for(vllm, L4) == f"vllm/vllm-openai:v0.33.0@{DIGEST}"


def test_tei_digests_are_per_architecture_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_digests(monkeypatch, "tei", {"89-1.9.3": DIGEST})
    tei = TeiService.model_validate({"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4"})
    assert image_for(tei, L4) == f"ghcr.io/huggingface/text-embeddings-inference:89-1.9.3@{DIGEST}"
    # No digest sourced for the H100 tag: the tag alone, which the policy then reports.
    assert image_for(tei, H100) == "ghcr.io/huggingface/text-embeddings-inference:hopper-1.9.3"


def test_a_runtime_without_digests_renders_its_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_digests(monkeypatch, "vllm", None)
    vllm = VllmService.model_validate({"runtime": "vllm", "model": "google/gemma-7b-AWQ", "pool": "l4"})
    assert image_for(vllm, L4) == "vllm/vllm-openai:v0.33.0"


def test_catalog_digests_are_well_formed_and_name_real_tags() -> None:
    for runtime, facts in server_facts().items():
        digests = facts.digests
        prefixes = (facts.tag_prefix or {"": ""}).values()
        tags = {f"{prefix}{facts.version}" for prefix in prefixes if prefix is not None}
        for tag, digest in digests.items():
            assert tag in tags, (runtime, tag)
            assert violations(prod_images_pinned_by_digest, deployment(server(image=f"x:{tag}@{digest}"))) == [], (
                runtime,
                tag,
            )
