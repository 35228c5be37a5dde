"""tools.manifest_diff: loading manifest directories, diffing them, and the git/preview plumbing."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import manifest_diff as md


def deployment(name: str, namespace: str = "serving", replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}},
    }


def service(name: str, namespace: str = "serving") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
    }


def core(kind: str, metadata: dict[str, Any], **body: Any) -> dict[str, Any]:
    """An object of the core API group (v1): a ConfigMap, a Secret."""
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **body}


def write(directory: Path, filename: str, *objects: dict[str, Any]) -> Path:
    path = directory / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def manifest_dir(root: Path, name: str, objects: list[dict[str, Any]]) -> Path:
    directory = root / name
    directory.mkdir()
    for index, obj in enumerate(objects):
        write(directory, f"object-{index}.yaml", obj)
    return directory


# ---------------------------------------------------------------------------------------------
# load_manifests


def test_objects_are_keyed_by_content_not_by_file_name(tmp_path: Path) -> None:
    write(tmp_path, "1-manifest/whatever.yaml", deployment("embed"))
    write(tmp_path, "0-crd/zz.yml", service("embed"))
    (tmp_path / "README.txt").write_text("not a manifest")

    objects = md.load_manifests(tmp_path)

    assert set(objects) == {
        md.Identity(kind="Deployment", namespace="serving", name="embed", group="apps"),
        md.Identity(kind="Service", namespace="serving", name="embed", group=""),
    }


def test_same_name_in_two_namespaces_are_two_objects(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", deployment("embed", namespace="serving"))
    write(tmp_path, "b.yaml", deployment("embed", namespace="canary"))

    labels = sorted(identity.label for identity in md.load_manifests(tmp_path))

    assert labels == ["Deployment canary/embed", "Deployment serving/embed"]


def test_cluster_scoped_object_has_no_namespace(tmp_path: Path) -> None:
    write(tmp_path, "ns.yaml", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})

    (identity,) = md.load_manifests(tmp_path)

    assert (identity.namespace, identity.label) == ("", "Namespace x")


def test_multi_document_file_and_empty_documents(tmp_path: Path) -> None:
    path = write(tmp_path, "all.yaml", deployment("a"), service("a"))
    path.write_text(path.read_text() + "---\n")

    assert len(md.load_manifests(tmp_path)) == 2


def test_an_object_defined_twice_is_an_error_naming_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", deployment("embed"))
    write(tmp_path, "b.yaml", deployment("embed", replicas=3))

    with pytest.raises(md.ManifestError, match=r"b\.yaml: Deployment serving/embed .* a\.yaml"):
        md.load_manifests(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- just\n- a list\n", "expected a Kubernetes object, got list"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "missing metadata.name"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "missing apiVersion"),
        ("apiVersion: v1\nkind: [\n", "not valid YAML"),
    ],
)
def test_a_file_that_is_not_a_kubernetes_object_is_an_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(content)

    with pytest.raises(md.ManifestError, match=message):
        md.load_manifests(tmp_path)


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(md.ManifestError, match="no such manifest directory"):
        md.load_manifests(tmp_path / "nope")


# ---------------------------------------------------------------------------------------------
# diff_manifests


def test_added_removed_changed_and_unchanged(tmp_path: Path) -> None:
    base = md.load_manifests(manifest_dir(tmp_path, "base", [deployment("embed"), service("embed"), service("old")]))
    head = md.load_manifests(
        manifest_dir(tmp_path, "head", [deployment("embed", replicas=3), service("embed"), service("new")])
    )

    diffs = md.diff_manifests(base, head)

    assert [(d.status, d.label) for d in diffs] == [
        ("changed", "Deployment serving/embed"),
        ("added", "Service serving/new"),
        ("removed", "Service serving/old"),
    ]
    assert md.summary_line(diffs) == "1 changed, 1 added, 1 removed"


def test_changed_object_shows_a_unified_diff_of_just_the_change(tmp_path: Path) -> None:
    base = md.load_manifests(manifest_dir(tmp_path, "base", [deployment("embed")]))
    head = md.load_manifests(manifest_dir(tmp_path, "head", [deployment("embed", replicas=3)]))

    (diff,) = md.diff_manifests(base, head)

    assert diff.lines[:2] == ("--- a/Deployment serving/embed", "+++ b/Deployment serving/embed")
    assert [line for line in diff.lines if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-  replicas: 1",
        "+  replicas: 3",
    ]


def test_added_and_removed_objects_diff_against_nothing(tmp_path: Path) -> None:
    base = md.load_manifests(manifest_dir(tmp_path, "base", [service("old")]))
    head = md.load_manifests(manifest_dir(tmp_path, "head", [service("new")]))

    added, removed = md.diff_manifests(base, head)

    assert added.lines[:2] == ("--- /dev/null", "+++ b/Service serving/new")
    assert "+  name: new" in added.lines
    assert removed.lines[:2] == ("--- a/Service serving/old", "+++ /dev/null")
    assert "-  name: old" in removed.lines


def test_key_order_and_file_layout_do_not_count_as_changes(tmp_path: Path) -> None:
    obj = deployment("embed")
    reordered = {key: obj[key] for key in reversed(list(obj))}
    base = tmp_path / "base"
    write(base, "one.yaml", obj, service("embed"))
    head = tmp_path / "head"
    write(head, "nested/two.yaml", service("embed"))
    write(head, "three.yaml", reordered)

    assert md.diff_manifests(md.load_manifests(base), md.load_manifests(head)) == []


def test_an_api_version_bump_is_a_change_of_the_same_object() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2beta2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "gemma", "namespace": "serving"},
    }
    bumped = {**hpa, "apiVersion": "autoscaling/v2"}
    identity = md.identity_of(hpa, "hpa.yaml")
    assert md.identity_of(bumped, "hpa.yaml") == identity

    (diff,) = md.diff_manifests({identity: hpa}, {identity: bumped})

    assert diff.status == "changed"
    assert "+apiVersion: autoscaling/v2" in diff.lines


def test_same_kind_and_name_in_two_api_groups_get_distinct_labels() -> None:
    def gateway(group: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{group}/v1",
            "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "serving"},
        }

    head = {md.identity_of(gateway(g), "x"): gateway(g) for g in ("gateway.networking.k8s.io", "networking.istio.io")}

    labels = [diff.label for diff in md.diff_manifests({}, head)]

    assert labels == [
        "Gateway serving/edge (gateway.networking.k8s.io)",
        "Gateway serving/edge (networking.istio.io)",
    ]


def test_multi_line_strings_diff_line_by_line() -> None:
    config = core("ConfigMap", {"name": "c", "namespace": "serving"}, data={"config.yaml": "a: 1\nb: 2\nc: 3\n"})
    changed = {**config, "data": {"config.yaml": "a: 1\nb: 20\nc: 3\n"}}
    identity = md.identity_of(config, "c.yaml")

    (diff,) = md.diff_manifests({identity: config}, {identity: changed})

    assert "-    b: 2" in diff.lines
    assert "+    b: 20" in diff.lines
    assert "     a: 1" in diff.lines  # unchanged lines of the embedded file are context


def test_secret_values_never_appear_but_their_changes_do() -> None:
    secret = core(
        "Secret",
        {"name": "hf-token", "namespace": "serving"},
        data={"token": "aGZfc2VjcmV0"},
        stringData={"plain": "hf_secret"},
    )
    rotated = {**secret, "data": {"token": "aGZfbmV3"}, "stringData": {"plain": "hf_new"}}
    identity = md.identity_of(secret, "s.yaml")

    (diff,) = md.diff_manifests({identity: secret}, {identity: rotated})
    text = "\n".join(diff.lines)

    for value in ("aGZfc2VjcmV0", "hf_secret", "aGZfbmV3", "hf_new"):
        assert value not in text
    assert diff.status == "changed"
    assert "+  token: '[redacted sha256:" in text


def test_output_is_stable_whatever_the_input_order(tmp_path: Path) -> None:
    objects = [deployment("b"), deployment("a", namespace="z"), service("a"), deployment("a")]
    base = md.load_manifests(manifest_dir(tmp_path, "base", []))
    forward = md.load_manifests(manifest_dir(tmp_path, "forward", objects))
    backward = md.load_manifests(manifest_dir(tmp_path, "backward", objects[::-1]))

    first = md.render_text(md.diff_manifests(base, forward))
    second = md.render_text(md.diff_manifests(base, backward))

    assert first == second
    assert [line for line in first.splitlines() if line.startswith("added: ")] == [
        "added: Deployment serving/a",
        "added: Deployment serving/b",
        "added: Deployment z/a",
        "added: Service serving/a",
    ]


# ---------------------------------------------------------------------------------------------
# Reports


def test_text_report_with_no_changes() -> None:
    assert md.render_text([]) == ("No changes to Kubernetes manifests.\n0 changed, 0 added, 0 removed\n")


def test_markdown_report_collapses_each_object_into_a_diff_block(tmp_path: Path) -> None:
    base = md.load_manifests(manifest_dir(tmp_path, "base", [deployment("embed")]))
    head = md.load_manifests(manifest_dir(tmp_path, "head", [deployment("embed", replicas=2), service("embed")]))

    report = md.render_markdown(md.diff_manifests(base, head), "prod", "origin/main", notes=["first line\nsecond line"])

    assert "<code>prod</code> against <code>origin/main</code>" in report
    assert "**1 changed, 1 added, 0 removed**" in report
    assert "> first line\n\n<details><summary>output</summary>\n\n```\nsecond line\n```" in report
    assert "#### Changed (1)" in report
    assert "#### Added (1)" in report
    assert "#### Removed" not in report
    assert "<details><summary><code>Deployment serving/embed</code></summary>" in report
    assert "```diff\n--- a/Deployment serving/embed" in report
    assert report.count("<details>") == report.count("</details>") == 3  # the note and two objects


def test_markdown_fence_outgrows_backticks_in_the_content() -> None:
    config = core("ConfigMap", {"name": "readme"}, data={"README.md": "```sh\nmake\n```\n"})

    report = md.render_markdown(md.diff_manifests({}, {md.identity_of(config, "x"): config}), "dev", "HEAD")

    assert "````diff\n" in report
    assert report.count("````") == 2


def test_markdown_cuts_very_long_diffs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(md, "MARKDOWN_DIFF_LINES", 5)
    config = core("ConfigMap", {"name": "big"}, data={f"key{i:02}": "v" for i in range(20)})
    (diff,) = md.diff_manifests({}, {md.identity_of(config, "x"): config})

    report = md.render_markdown([diff], "prod", "origin/main")

    assert f"{len(diff.lines) - 5} more lines: run `make diff ENV=prod BASE=origin/main`" in report
    assert "key19" not in report


# ---------------------------------------------------------------------------------------------
# The command: git worktree of the base, offline preview on both sides

# A stand-in for the project's offline preview with the same command line and output layout:
# it writes each entry of `objects` in the environment file as one manifest file, and its
# `resources` as plan.json.
FAKE_PREVIEW = textwrap.dedent(
    """
    import argparse, json, pathlib, sys, yaml

    parser = argparse.ArgumentParser()
    parser.add_argument("env")
    parser.add_argument("--out-dir")
    args = parser.parse_args()
    env = yaml.safe_load(pathlib.Path(f"environments/Pulumi.{args.env}.yaml").read_text())
    if env.get("invalid"):
        print("environments/Pulumi.dev.yaml: invalid", file=sys.stderr)
        sys.exit(2)
    out = pathlib.Path(args.out_dir or f"build/{args.env}") / "manifests"
    out.mkdir(parents=True)
    for index, obj in enumerate(env["objects"]):
        (out / f"{index:03}.yaml").write_text(yaml.safe_dump(obj))
    (out.parent / "plan.json").write_text(json.dumps({"resources": env.get("resources", [])}))
    print("Type  Name  Plan   <- resource tree noise that must not reach the diff")
    sys.exit(env.get("exit", 0))
    """
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(  # noqa: S603 (an argument list, no shell)
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],  # noqa: S607
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def node_pool(disk_type: str, max_nodes: int = 2) -> dict[str, Any]:
    """A plan.json entry of a GPU node pool, as the preview records it."""
    return {
        "urn": "urn:pulumi:dev::gke-serving::gke-serving:infra:GpuNodePool$gcp:container/nodePool:NodePool::l4-pool",
        "type": "gcp:container/nodePool:NodePool",
        "name": "l4-pool",
        "inputs": {
            "name": "l4",
            "autoscaling": {"totalMaxNodeCount": max_nodes},
            "nodeConfig": {"diskType": disk_type, "machineType": "g2-standard-8"},
        },
        "options": {"ignoreChanges": [], "replaceOnChanges": [], "deleteBeforeReplace": False},
    }


def set_environment(repo: Path, env: str, objects: list[dict[str, Any]], **extra: Any) -> None:
    path = repo / "environments" / f"Pulumi.{env}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"objects": objects, **extra}))


def committed_pool(repo: Path, pool: dict[str, Any]) -> None:
    """dev, one Deployment and `pool`, committed as HEAD."""
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed")], resources=[pool])
    commit_all(repo)


def pool_changed(repo: Path, pool: dict[str, Any]) -> None:
    """dev with a pd-balanced node pool at HEAD, and `pool` in its place in the working tree."""
    committed_pool(repo, node_pool("pd-balanced"))
    set_environment(repo, "dev", [deployment("embed")], resources=[pool])


def add_preview(repo: Path) -> None:
    (repo / "preview").mkdir()
    (repo / "preview" / "__init__.py").write_text("")
    (repo / "preview" / "__main__.py").write_text(FAKE_PREVIEW)


def commit_all(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    monkeypatch.chdir(root)
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = md.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_diff_of_working_tree_against_a_commit(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed"), service("embed"), service("old")])
    commit_all(repo)
    set_environment(repo, "dev", [service("new"), deployment("embed", replicas=2), service("embed")])

    status, out, _ = run(capsys, "--env", "dev", "--base", "HEAD")

    assert status == 0
    assert out.splitlines()[-1] == "1 changed, 1 added, 1 removed"
    assert "changed: Deployment serving/embed" in out
    assert "resource tree noise" not in out
    assert git(repo, "worktree", "list").count("\n") == 1  # the base worktree is gone


def test_markdown_flag(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed")])
    commit_all(repo)

    status, out, _ = run(capsys, "--env", "dev", "--base", "HEAD", "--markdown")

    assert status == 0
    assert "**0 changed, 0 added, 0 removed**" in out
    assert "No changes to Kubernetes manifests." in out


def test_base_without_a_preview_counts_as_empty(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "README.md").write_text("nothing rendered yet\n")
    commit_all(repo)
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed")])

    status, out, _ = run(capsys, "--env", "dev", "--base", "HEAD")

    assert status == 0
    assert out.startswith("note: HEAD has no offline preview of dev: every object is new.\n")
    assert out.splitlines()[-1] == "0 changed, 1 added, 0 removed"


def test_base_without_the_environment_counts_as_empty(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed")])
    commit_all(repo)
    set_environment(repo, "staging", [deployment("embed"), service("embed")])

    status, out, _ = run(capsys, "--env", "staging", "--base", "HEAD")

    assert status == 0
    assert out.splitlines()[-1] == "0 changed, 2 added, 0 removed"


def test_base_whose_preview_fails_counts_as_empty_with_its_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_preview(repo)
    set_environment(repo, "dev", [], invalid=True)
    commit_all(repo)
    set_environment(repo, "dev", [deployment("embed")])

    status, out, _ = run(capsys, "--env", "dev", "--base", "HEAD")

    assert status == 0
    assert "failed (exit 2) and is compared as empty." in out
    assert "environments/Pulumi.dev.yaml: invalid" in out


def test_a_policy_failure_still_diffs_the_rendered_manifests(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed")])
    commit_all(repo)
    set_environment(repo, "dev", [deployment("embed", replicas=9)], exit=1)

    status, out, _ = run(capsys, "--env", "dev", "--base", "HEAD")

    assert (status, out.splitlines()[-1]) == (0, "1 changed, 0 added, 0 removed")


def test_working_tree_that_cannot_render_exits_1(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed")])
    commit_all(repo)
    set_environment(repo, "dev", [], invalid=True)

    status, out, err = run(capsys, "--env", "dev", "--base", "HEAD")

    assert (status, out) == (1, "")
    assert "wrote no manifests (exit 2)" in err


def test_head_dir_skips_rendering_the_working_tree(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed")])
    commit_all(repo)
    rendered = manifest_dir(tmp_path, "rendered", [deployment("embed"), service("embed")])

    status, out, _ = run(capsys, "--env", "dev", "--base", "HEAD", "--head-dir", str(rendered))

    assert (status, out.splitlines()[-1]) == (0, "0 changed, 1 added, 0 removed")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "qa", "--base", "HEAD"], "unknown environment 'qa'; environments/ has: dev"),
        (["--env", "../dev", "--base", "HEAD"], "unknown environment '../dev'"),
        (["--env", "dev", "--base", "no-such-branch"], "unknown revision 'no-such-branch'"),
    ],
)
def test_usage_errors_exit_2(repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    add_preview(repo)
    set_environment(repo, "dev", [deployment("embed")])
    commit_all(repo)

    status, out, err = run(capsys, *argv)

    assert (status, out) == (2, "")
    assert message in err


@pytest.mark.usefixtures("repo")
def test_missing_env_argument_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        md.main(["--base", "HEAD"])
    assert exit_info.value.code == 2


def test_outside_a_git_checkout_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))

    status, _, err = run(capsys, "--env", "dev")

    assert status == 2
    assert "is not inside a git checkout" in err


# ---------------------------------------------------------------------------------------------
# GCP resources, from the plan.json beside the manifests


def test_a_disk_type_change_prints_the_node_recreation_and_its_warning_first(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool_changed(repo, node_pool("pd-ssd", max_nodes=3))

    status, out, _ = run(capsys, "--env", "dev", "--base", "HEAD")

    lines = out.splitlines()
    assert status == 0
    assert lines[:4] == [
        "updated: container.NodePool l4-pool",
        "  ~ autoscaling.totalMaxNodeCount: 2 → 3",
        '  ~ nodeConfig.diskType: "pd-balanced" → "pd-ssd"   [GKE recreates every node]',
        "  warning: node pool l4: GKE recreates every node of the pool with its upgrade strategy (surge by "
        "default): every model server on it is evicted and restarts on a new node, downloading and loading its "
        "model again; a service with a single replica is down meanwhile.",
    ]
    assert "GCP resources: 0 replaced, 1 updated, 0 added, 0 removed" in lines
    assert lines[-2:] == ["No changes to Kubernetes manifests.", "0 changed, 0 added, 0 removed"]


def test_a_base_without_plan_counts_every_gcp_resource_as_added(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "README.md").write_text("nothing rendered yet\n")
    commit_all(repo)
    add_preview(repo)
    set_environment(repo, "dev", [], resources=[node_pool("pd-ssd")])

    _, out, _ = run(capsys, "--env", "dev", "--base", "HEAD")

    assert "added: container.NodePool l4-pool" in out.splitlines()
    assert "GCP resources: 0 replaced, 0 updated, 1 added, 0 removed" in out


def test_head_dir_reads_the_plan_beside_the_manifests(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    committed_pool(repo, node_pool("pd-ssd"))
    rendered = manifest_dir(tmp_path, "build", [deployment("embed")])
    (tmp_path / "plan.json").write_text(json.dumps({"resources": [node_pool("pd-ssd", max_nodes=5)]}))

    _, out, _ = run(capsys, "--env", "dev", "--base", "HEAD", "--head-dir", str(rendered))

    assert "  ~ autoscaling.totalMaxNodeCount: 2 → 5" in out.splitlines()


def test_head_dir_without_a_plan_says_gcp_is_not_compared(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    committed_pool(repo, node_pool("pd-ssd"))
    (tmp_path / "nested").mkdir()
    rendered = manifest_dir(tmp_path / "nested", "rendered", [deployment("embed")])

    _, out, _ = run(capsys, "--env", "dev", "--base", "HEAD", "--head-dir", str(rendered))

    assert out.startswith(f"note: no plan.json beside {rendered}: GCP resources not compared.\n")
    assert "GCP resources:" not in out


def test_a_gcp_type_without_rules_is_named_in_a_note(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = {
        "urn": "urn:b",
        "type": "gcp:storage/bucketObject:BucketObject",
        "name": "models",
        "inputs": {},
        "options": {},
    }
    add_preview(repo)
    set_environment(repo, "dev", [], resources=[bucket])
    commit_all(repo)

    _, out, _ = run(capsys, "--env", "dev", "--base", "HEAD")

    assert out.startswith(
        "note: gcp:storage/bucketObject:BucketObject has no entry in tools/gcp_replacements.yaml: "
        "its changes are not checked for replacement.\n"
    )


def test_markdown_shows_gcp_warnings_outside_the_collapsed_changes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool_changed(repo, node_pool("pd-ssd"))

    _, out, _ = run(capsys, "--env", "dev", "--base", "HEAD", "--markdown")

    assert "**GCP resources: 0 replaced, 1 updated, 0 added, 0 removed**" in out
    assert "> **Warning:** node pool l4: GKE recreates every node of the pool" in out
    summary = "<details><summary>GCP resources, input by input</summary>"
    assert out.index("> **Warning:**") < out.index(summary)
    assert '  ~ nodeConfig.diskType: "pd-balanced" → "pd-ssd"   [GKE recreates every node]' in out
