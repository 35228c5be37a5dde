"""Property: whatever an environment file holds, reading and checking it either succeeds or raises
InvalidEnvironment with well-formed problems; never any other exception (a traceback, not a message).

Documents are the real environments (environments/Pulumi.*.yaml), mutated. Half keep their shape —
values replaced by others of the same type, sections replaced by plausible random ones (pools,
services of every runtime, clusters, gateways) — so the catalog, GPU and network cross-checks run;
the other half are broken structurally too: keys dropped, renamed or added, values of another type,
random nested values and YAML-ish strings. The text path dumps such documents as YAML, mutates the
text (tabs, cut lines, stray quotes and brackets, tags) and reads it as the preview does.

Runs are deterministic (derandomize, no example database): CI sees the same examples every time.
"""

from __future__ import annotations

import copy
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import catalog
import runtimes as runtime_models
from catalog.servers import server_facts
from config import InvalidEnvironment, parse_environment
from config import platform as platform_models
from config.environment import decode
from preview.envfile import read_environment_file
from settings import service_base

ROOT = Path(__file__).resolve().parent.parent
BASES = [
    {key: decode(value) for key, value in read_environment_file(path).values.items()}
    for path in sorted((ROOT / "environments").glob("Pulumi.*.yaml"))
]
MODELS = [
    *(
        m
        for module in (platform_models, service_base)
        for m in vars(module).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == module.__name__
    ),
    *(r.config for r in runtime_models.REGISTRY.values()),
]
# Every key the models know (camelCase): renamed and added keys often hit a real field.
FIELD_NAMES = sorted({f.alias or name for m in MODELS for name, f in m.model_fields.items()})
TOP_KEYS = [
    *sorted({key for base in BASES for key in base}),
    "gke-serving:servces",
    "gke-servng:services",
    "services",
    "gcp:zone",
]
# Scalars a person types into YAML, as the language host passes them on.
YAMLISH = [
    *["", " ", "~", "null", "yes", "no", "on", "0x1F", "1e3", "-1", "0", "3.5", ".inf", "NaN", "2024-06-01"],
    *["[", "{", "]", "{}", "[]", '{"a": 1}', "[1, 2]", "a: b", "- x", "ünïcødé", "\t", "\x00", "a\nb"],
    *["us-central1", "us-central1-a", "g2-standard-8", "nvidia-l4", "tei", "vllm", "awq", "fp8", "bfloat16"],
    *["BAAI/bge-m3", "gs://bucket/models", "0.0.0.0/0", "10.10.0.0/20", "1.34", "--port=1", "REGULAR", "l4"],
]
CIDRS = ["10.10.0.0/20", "10.16.0.0/14", "10.20.0.0/20", "10.24.0.0/23", "172.16.0.0/28", "192.168.0.0/16"]
_SERVERS = server_facts()
# Per field: (values that pass the field's own checks, values that do not). The good ones still
# combine into impossible setups (wrong GPU for a machine, overlapping ranges, fp8 on an A100 ...).
FIELD_STRINGS: dict[str, tuple[list[str], list[str]]] = {
    "model": (["BAAI/bge-m3", "google/gemma-7b-AWQ", "meta-llama/Llama-2-13b-hf"], ["gemma", "a/b/c"]),
    "pool": (["l4", "a100", "h100", "t4"], ["gpu", ""]),
    "image": (["vllm/vllm-openai:v0.33.0", "ghcr.io/x/y@sha256:" + "0" * 64], ["a b", "x:"]),
    "revision": (["main", "2024-06-01", "0123abc"], []),
    "location": (["us-central1", "us-central1-a", "us-central1-c"], ["us-central1-d", "europe-west4-a", "us"]),
    "zones": (["us-central1-a", "us-central1-c"], ["us-central1-d", "europe-west4-a", "us-central1-a"]),
    "machineType": (
        [*catalog.machine_types(), *catalog.cpu_machine_types()],
        ["g2-standard-7", "G2-STANDARD-8", ""],
    ),
    "type": ([*catalog.gpus()], ["nvidia-l40", "l4"]),
    "name": (["serving-dev", "office"], ["Serving_Dev", "-x"]),
    "cidr": (CIDRS, ["0.0.0.0/0", "10.0.0.300/20", "fd00::/8"]),
    "subnetCidr": (CIDRS, ["10.0.0.0/8", "10.0.0.300/20"]),
    "podsCidr": (CIDRS, ["10.0.0.0/8", "nope"]),
    "servicesCidr": (CIDRS, ["10.0.0.0/8"]),
    "masterIpv4CidrBlock": (["172.16.0.0/28", "172.16.0.16/28"], ["172.16.0.0/24", "10.10.0.0/28"]),
    "proxySubnetCidr": (["10.24.0.0/23", "10.30.0.0/26"], ["10.24.0.0/27", "10.16.0.0/23"]),
    "modelRepository": (["gs://models/triton"], ["/models", "s3://b/m", "gs://"]),
    "domain": (["llm.example.com"], ["localhost", "LLM.example.com"]),
    "quantize": (_SERVERS["tgi"].quantize, ["awq4", "AWQ"]),
    "quantization": (_SERVERS["vllm"].quantization, ["awq4", "bitsandbytes-nf4"]),
    "kvCacheDtype": ([*_SERVERS["vllm"].kv_cache_dtype, *_SERVERS["tgi"].kv_cache_dtype], ["fp4", ""]),
    "dtype": ([*_SERVERS["vllm"].dtype, *_SERVERS["tei"].dtype], ["bf16"]),
    "pooling": (_SERVERS["tei"].pooling, ["max"]),
    "extraArgs": (
        ["--enable-chunked-prefill", "--trust-remote-code"],
        ["--max-input-length=2048", "--port=1", "--dtype=half", "--hf-api-token", "--model-repository=x"],
    ),
    "cpu": (["6", "5500m"], ["lots"]),
    "memory": (["24Gi"], ["24G"]),
    "ephemeralStorage": (["100Gi"], ["100"]),
    "kubernetesVersion": (["1.34", "1.33"], ["1.9", "latest"]),
    "servedModelName": (["chat", "google/gemma-7b"], ["a b"]),
    "className": (["gke-l7-rilb"], ["gke-l7-global-external-managed"]),
}
TRITON_MODELS = (["resnet50", "densenet_onnx"], ["BAAI/bge-m3"])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=70000),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-", max_size=40),
    st.sampled_from(YAMLISH),
    st.sampled_from(FIELD_NAMES),
)
keys = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=35),
    st.text(max_size=6),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=10,
)
dns_names = st.sampled_from(["l4", "a100", "h100", "t4", "embed", "gemma", "llama"]) | st.from_regex(
    r"\A[a-z][a-z0-9-]{0,8}[a-z0-9]\Z"
)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 12) -> st.SearchStrategy[Any]:
    """`good`, and `bad` about once in `one_in` draws."""
    return st.integers(min_value=1, max_value=one_in).flatmap(lambda i: bad if i == one_in else good)


def strings(key: str) -> st.SearchStrategy[str]:
    good, bad = FIELD_STRINGS.get(key, (YAMLISH, []))
    return mostly(st.sampled_from(good), st.sampled_from(bad) if bad else st.text(max_size=10))


def typed(annotation: Any, key: str = "") -> st.SearchStrategy[Any]:
    """Values of a config field's type, mostly meaningful, now and then of another type entirely."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        right: st.SearchStrategy[Any] = st.sampled_from(args)
    elif origin in (Union, UnionType):
        right = st.one_of([typed(a, key) for a in args if a is not type(None)]) | st.none()
    elif origin is list:
        right = st.lists(typed(args[0], key), max_size=3)
    elif annotation is bool:
        right = st.booleans()
    elif annotation is int:
        right = mostly(st.integers(min_value=1, max_value=8) | st.integers(min_value=1, max_value=20000), st.integers())
    elif annotation is float:
        right = mostly(st.floats(min_value=0.05, max_value=1), st.floats())
    elif annotation is str:
        right = strings(key)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        right = model_dicts(annotation)
    else:
        right = values
    return mostly(right, values, one_in=25)


def model_dicts(model_class: type[BaseModel], **fixed: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A map for `model_class`: its required keys and some optional ones, `fixed` overriding strategies."""
    fields = {f.alias or name: f for name, f in model_class.model_fields.items()}
    strategies = {key: fixed.get(key, typed(f.annotation, key)) for key, f in fields.items()}
    required = {key: strategies[key] for key, f in fields.items() if f.is_required()}
    optional = {key: strategies[key] for key, f in fields.items() if not f.is_required()}
    return st.fixed_dictionaries(required, optional=optional)


RUNTIME_MODELS: dict[str, type[BaseModel]] = {
    "tei": runtime_models.TeiService,
    "tgi": runtime_models.TgiService,
    "vllm": runtime_models.VllmService,
    "triton": runtime_models.TritonService,
}
service_maps = st.sampled_from(list(RUNTIME_MODELS)).flatmap(
    lambda runtime: model_dicts(
        RUNTIME_MODELS[runtime],
        runtime=st.just(runtime),
        model=mostly(st.sampled_from(TRITON_MODELS[0]), st.sampled_from(TRITON_MODELS[1]))
        if runtime == "triton"
        else strings("model"),
    )
)
pool_maps = model_dicts(
    platform_models.NodePoolConfig,
    gpu=st.fixed_dictionaries({"type": strings("type"), "count": st.integers(min_value=1, max_value=8)}),
)
services = st.dictionaries(mostly(dns_names, keys), service_maps, max_size=4)
pools = st.dictionaries(mostly(dns_names, keys), pool_maps, max_size=3)
clusters = model_dicts(platform_models.ClusterConfig)
gateways = model_dicts(platform_models.GatewayConfig)
TOP_STRINGS = {
    "gcp:project": (["acme-ml-dev", "my-project-123"], ["Acme", "", "a"]),
    "gcp:region": ([*catalog.regions()], ["us-central", "europe-west9", ""]),
}


def _retyped(key: Any, value: Any) -> st.SearchStrategy[Any]:
    """Another value of the same type: passes the shape checks, exercises the cross-checks."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int | float):
        return typed(type(value))
    if isinstance(value, str) and key in TOP_STRINGS:
        good, bad = TOP_STRINGS[key]
        return mostly(st.sampled_from(good), st.sampled_from(bad))
    if isinstance(value, str):
        return strings(str(key))
    return values


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in the document a value sits (map keys and list indexes)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*path, i)
            yield from _paths(value, (*path, i))


def _swap_type(value: Any) -> Any:
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return [value]
    return {}


SECTIONS = {"services": services, "nodePools": pools, "cluster": clusters, "gateway": gateways}
SHAPE_KEEPING = ["retype", "retype", "retype", *SECTIONS]
SHAPE_BREAKING = ["drop", "rename", "replace", "swap", "add", "top"]


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A real environment with one to four mutations."""
    doc: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASES)))
    ops = SHAPE_KEEPING if draw(st.booleans()) else SHAPE_KEEPING + SHAPE_BREAKING
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(ops))
        if op in SECTIONS:
            doc[f"gke-serving:{op}"] = draw(SECTIONS[op])
            continue
        if op == "top":
            doc[draw(st.sampled_from(TOP_KEYS))] = draw(values)
            continue
        paths = list(_paths(doc))
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if op == "retype":
            parent[last] = draw(_retyped(last, parent[last]))
        elif op == "drop":
            del parent[last]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(keys if len(path) > 1 else st.sampled_from(TOP_KEYS) | keys)] = parent.pop(last)
        elif op == "replace":
            parent[last] = draw(values)
        elif op == "swap":
            parent[last] = _swap_type(parent[last])
        elif op == "add" and isinstance(parent[last], dict):
            parent[last][draw(keys)] = draw(values)
    return doc


def clean_or_invalid(parse: Callable[[], object]) -> None:
    """The property: a clean parse, or InvalidEnvironment with well-formed one-line problems."""
    try:
        parse()
    except InvalidEnvironment as e:
        problems = e.problems
    else:
        return
    assert problems, "InvalidEnvironment without problems"
    for problem in problems:
        assert problem.path and problem.what and problem.fix, problem
        assert "\n" not in str(problem), f"a problem spans lines: {problem!r}"


DEV = BASES[0]
INFINITE_QUEUE_TARGET = {
    "runtime": "tei",
    "model": "a/b",
    "pool": "l4",
    "autoscaling": {"maxReplicas": 2, "targetQueueSize": "inf"},
}
HF_TOKEN = "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"
DOUBLING_ALIASES = "config:\n  a0: &a0 [x, x]\n" + "".join(
    f"  a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 40)
)


# @example: what the property found during development, kept as fixed cases (see each comment).
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(documents())
@example({**DEV, "gke-serving:gateway": None})  # was InvalidEnvironment with no problem ("0 problem(s)")
@example({**DEV, "gke-serving:services": None})  # same
@example({**DEV, "gke-serving:cluster": {**DEV["gke-serving:cluster"], "a\nb": 1}})  # a two-line problem
@example({**DEV, "gke-serving:services": {"emb\ned": {}}})  # same, from the name check
@example({**DEV, "": "x"})  # an empty config key: a problem with an empty path
@example({**DEV, "gke-serving:services": {"e": INFINITE_QUEUE_TARGET}})  # OverflowError rendering the HPA
@example({**DEV, "gke-serving:cluster": {**DEV["gke-serving:cluster"], "kubernetesVersion": "1.99"}})  # no schemas
@example({**DEV, HF_TOKEN: {"a": [HF_TOKEN]}})  # a token as a config key and a value
def test_parse_environment_never_crashes(raw: dict[str, Any]) -> None:
    clean_or_invalid(lambda: parse_environment(raw))


TEXT_EDITS = ["tab", "dedent", "indent", "duplicate", "delete", "append", "cut", "unbracket"]
APPENDED = ["'", '"', "[", "{", ":", " #", " &a", " *a", " !!binary", " !!set", " !!timestamp", "\x07", " ? "]


def _edit(lines: list[str], draw: st.DrawFn) -> None:
    i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    op, line = draw(st.sampled_from(TEXT_EDITS)), lines[i]
    if op == "duplicate":
        lines.insert(i, line)
    elif op == "delete":
        del lines[i]
    else:
        lines[i] = {
            "tab": lambda: "\t" + line.lstrip(" "),
            "dedent": lambda: line[1:],
            "indent": lambda: " " + line,
            "append": lambda: line + draw(st.sampled_from(APPENDED)),
            "cut": lambda: line[: draw(st.integers(min_value=0, max_value=len(line)))],
            "unbracket": lambda: line.replace("]", "").replace("}", ""),
        }[op]()


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    """An environment file's text: a mutated document dumped as YAML, then edited as text."""
    doc = draw(documents())
    if draw(st.booleans()):
        doc["gke-serving:hfToken"] = draw(
            st.sampled_from([{"secure": "v1:abc"}, {"secure": ""}, {"secure": None}, {"secure": 1}, "hf_x", None])
        )
    body: Any = {"config": doc} if draw(st.integers(0, 9)) else draw(st.sampled_from([doc, [doc], None, "config"]))
    flow = draw(st.sampled_from([False, None]))
    lines = yaml.safe_dump(body, default_flow_style=flow, allow_unicode=True, sort_keys=False).splitlines()
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        if lines:
            _edit(lines, draw)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "Pulumi.fuzz.yaml"


def _read_and_parse(path: Path) -> None:
    """What the preview does: read the file as the Pulumi CLI would, then parse what the program sees."""
    config = read_environment_file(path)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in config.values.items())
    parse_environment({key: decode(value) for key, value in config.values.items()})


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=yaml_texts() | st.text(max_size=200))
@example(text="\x1f")  # yaml ReaderError (a control character) escaped as a traceback
@example(text="config:\n  1: x\n")  # AttributeError: 'int' object has no attribute 'endswith'
@example(text="config:\n  ~: x\n")  # same, None
@example(text="config:\n  gke-serving:services:\n    embed: {revision: 2024-06-01}\n")  # date not JSON
@example(text="config:\n  gcp:project: !!binary aGk=\n")  # bytes not JSON serializable
@example(text="config:\n  gcp:project: !!set {a}\n")  # set not JSON serializable
@example(text="config:\n  ? [a, b]\n  : x\n")  # TypeError: unhashable type: 'list'
@example(text="# caf\udce9\nconfig: {}\n")  # not UTF-8: UnicodeDecodeError
@example(text="config:\n  a: &a [x, *a]\n")  # a recursive alias: an infinite value
@example(text=DOUBLING_ALIASES)  # 2^40 values: memory grew until MemoryError
def test_reading_any_text_never_crashes(env_file: Path, text: str) -> None:
    # surrogatepass: lone surrogates become bytes that are not UTF-8, as a mis-saved file would hold.
    env_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    clean_or_invalid(lambda: _read_and_parse(env_file))


def test_the_property_catches_a_crash() -> None:
    """The harness is not vacuous: a crash planted in the checks (here, in the unknown-key
    suggestion) is found by the same strategy and reported as that exception, not swallowed."""

    def planted(word: str, _choices: list[str]) -> str | None:
        raise KeyError(word)

    @settings(max_examples=100, deadline=None, derandomize=True, database=None, phases=[Phase.generate])
    @given(documents())
    def probe(raw: dict[str, Any]) -> None:
        clean_or_invalid(lambda: parse_environment(raw))

    with mock.patch("config.pydantic_errors.closest", planted), pytest.raises(KeyError):
        probe()
