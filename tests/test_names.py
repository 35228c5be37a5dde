"""Names and references by their owners' rules (settings/names.py): several spellings refused per rule,
and the near misses each rule must let through."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import parse_environment
from config.environment import decode
from preview.envfile import read_environment_file
from runtimes.custom import CustomService
from settings.names import HUB_ID, bucket_name_problem, checked_hub_id, covers_everything, revision_problem
from tests.test_bad_environments import GOOD_FILE
from tests.test_config import problems, with_service

# (bucket, why Cloud Storage refuses it) — cloud.google.com/storage/docs/buckets#naming
BAD_BUCKETS = {
    "goog-models": "starts with goog, which Cloud Storage keeps for Google",
    "googlemodels": "starts with goog, which Cloud Storage keeps for Google",
    "acme-google": "contains google or a look-alike of it, which Cloud Storage refuses",
    "acme-g00gle-x": "contains google or a look-alike of it, which Cloud Storage refuses",
    "acme-gooogle": "contains google or a look-alike of it, which Cloud Storage refuses",
    "acme-gogle": "contains google or a look-alike of it, which Cloud Storage refuses",
    "acme-goo-gle": "contains google or a look-alike of it, which Cloud Storage refuses",
    "models.googie.example.com": "contains google or a look-alike of it, which Cloud Storage refuses",
    "10.0.0.1": "is an IP address",
    "a..b": "has an empty part or one longer than 63 characters between dots",
    "x." + "a" * 64 + ".com": "has an empty part or one longer than 63 characters between dots",
    "Acme": "is not a Cloud Storage bucket name",
    "ab": "is not a Cloud Storage bucket name",
    "-acme": "is not a Cloud Storage bucket name",
}
GOOD_BUCKETS = ["acme-models", "logger-models", "good-models", "go-gl", "models.example.com", "a_b-c", "bigger-ledger"]


@pytest.mark.parametrize(("bucket", "why"), BAD_BUCKETS.items())
def test_bucket_names_cloud_storage_refuses(bucket: str, why: str) -> None:
    assert bucket_name_problem(bucket) == why


@pytest.mark.parametrize("bucket", GOOD_BUCKETS)
def test_bucket_names_cloud_storage_takes(bucket: str) -> None:
    assert bucket_name_problem(bucket) is None


# huggingface_hub utils/_validators.py validate_repo_id
BAD_HUB_IDS = [
    "a--b/c",
    "a/b--c",
    "a/b..c",
    "a..b/c",
    ".a/b",
    "a/.b",
    "-a/b",
    "a/b-",
    "a/b.",
    "a/b.git",
    "a/" + "b" * 97,
]
BAD_HUB_IDS += ["a", "a/b/c", "a b/c", "a/b\n", "é/b"]
GOOD_HUB_IDS = ["BAAI/bge-m3", "TheBloke/Mixtral-8x7B-Instruct-v0.1-GPTQ", "_a/_b", "a/" + "b" * 96, "a.-b/c-.d"]


@pytest.mark.parametrize("model", BAD_HUB_IDS)
def test_hub_ids_the_hub_refuses(model: str) -> None:
    assert not HUB_ID.fullmatch(model)
    with pytest.raises(ValueError, match="is not a Hugging Face model id"):
        checked_hub_id(model)


@pytest.mark.parametrize("model", GOOD_HUB_IDS)
def test_hub_ids_the_hub_takes(model: str) -> None:
    assert checked_hub_id(model) == model


BAD_REVISIONS = [
    "../x",
    "a/../b",
    "%2e%2e",
    "%2E%2E/main",
    "main\x07",
    "main\t",
    "a b",
    ".hidden",
    "refs/.x",
    "v1.lock",
]
BAD_REVISIONS += ["a//b", "/main", "main/", "main.", "main@{1}", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", ""]
GOOD_REVISIONS = [
    "main",
    "v1.0",
    "refs/heads/main",
    "release/2024-06",
    "2024-06-01",
    "0123456789abcdef" * 2 + "01234567",
]


@pytest.mark.parametrize("revision", BAD_REVISIONS)
def test_revisions_that_are_not_plain_refs(revision: str) -> None:
    assert revision_problem(revision) == "is not a commit or a plain branch or tag name"


@pytest.mark.parametrize("revision", GOOD_REVISIONS)
def test_plain_refs_and_commits(revision: str) -> None:
    assert revision_problem(revision) is None


@pytest.mark.parametrize(
    ("cidrs", "whole"),
    [
        (["0.0.0.0/0"], ["0.0.0.0/0"]),
        (["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/0"]),
        ([f"{q * 64}.0.0.0/2" for q in range(4)], ["0.0.0.0/0"]),
        ([f"{n}.0.0.0/8" for n in range(256)], ["0.0.0.0/0"]),
        (["::/1", "8000::/1", "10.0.0.0/8"], ["::/0"]),
        (["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3"], []),  # 224.0.0.0/3 is missing
        (["10.0.0.0/8", "203.0.113.0/24"], []),
    ],
)
def test_the_union_of_authorized_networks(cidrs: list[str], whole: list[str]) -> None:
    assert covers_everything(cidrs) == whole


def test_a_revision_is_checked_on_every_runtime_that_takes_one() -> None:
    found = problems(with_service(runtime="vllm", model="a/b", pool="l4", revision="%2e%2e/x"))
    assert found == [
        "gke-serving:services.svc.revision: the revision is not a commit or a plain branch or tag name — write a "
        "40-hex commit, or a branch or tag name of letters, digits, ., _, - and /, with no .., no part starting with "
        ". or ending with .lock, and no leading, trailing or doubled /"
    ]


CUSTOM = {"runtime": "custom", "model": "acme/ocr", "image": "registry.example.com:5000/ocr:1.0", "port": 8080}


def test_a_health_path_with_a_query_is_accepted() -> None:
    env = parse_environment(with_service(**CUSTOM, pool="l4", auth=False, healthPath="/health?ready=1"))
    service = env.services["svc"]
    assert isinstance(service, CustomService)
    assert service.health_path == "/health?ready=1"


def test_a_tab_inside_a_flow_list_is_yaml_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.tabs.yaml"
    path.write_text(
        GOOD_FILE + "  gke-serving:services:\n    embed: {runtime: tei,\tmodel: BAAI/bge-m3, pool: l4,"
        " extraArgs: [--a,\t--b,\t'--c']}   \t# a comment after a tab\n"
    )
    raw = {key: decode(value) for key, value in read_environment_file(path).values.items()}
    assert parse_environment(raw).services["embed"].extra_args == ["--a", "--b", "--c"]
