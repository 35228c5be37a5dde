"""Every rendered vLLM and SGLang command, LoRA flags included, parsed by the pinned servers' own parsers
(`make servers`): the commands of each environment's golden manifests (test_golden keeps them equal to the
renders) go to parse_commands.py, run by the servers venv's python (vllm and sglang at catalog/servers.yaml's
versions, from tests/servers/requirements*.txt), and what the servers parsed must be what the platform meant.
The same parsers' choices are compared with the catalog's tables, and known-bad commands must be refused."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog.servers import ServerFacts, server_facts
from config.environment import Environment, decode, parse_environment
from preview.envfile import read_environment_file
from runtimes import runtime_of
from runtimes.sglang import SglangService
from runtimes.vllm import VllmService
from settings.mirror import adapter_path
from tools.new_environment import environment_names

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SERVERS_PYTHON = ROOT / ".cache" / "venv-servers" / "bin" / "python"
GOLDEN = ROOT / "tests" / "golden"
PARSED = ("vllm", "sglang")
SGLANG_LAUNCH = ["python3", "-m", "sglang.launch_server"]


def rendered() -> list[tuple[str, str, str, list[str]]]:
    """(environment, service, runtime, the server container's args) of every vLLM and SGLang pod template."""
    commands = []
    for env in environment_names():
        for path in sorted((GOLDEN / env / "manifests").glob("*.yaml")):
            manifest = yaml.safe_load(path.read_text())
            runtime = manifest["metadata"].get("labels", {}).get("gke-serving/runtime")
            template = manifest.get("spec", {}).get("template")
            if runtime not in PARSED or template is None:
                continue
            (server,) = [c for c in template["spec"]["containers"] if c["name"] == "server"]
            assert server["image"] == f"{facts(runtime).image}:{facts(runtime).version}", path
            commands.append(
                (env, manifest["metadata"]["name"], runtime, list(server.get("command", [])) + server["args"])
            )
    return commands


@cache
def facts(runtime: str) -> ServerFacts:
    return server_facts()[runtime]


def pinned(runtime: str) -> str:
    """The package version of the pinned image (its tag is v<version>)."""
    return facts(runtime).version.removeprefix("v")


@cache
def environment(env: str) -> Environment:
    config = read_environment_file(ROOT / "environments" / f"Pulumi.{env}.yaml")
    return parse_environment({k: decode(v) for k, v in config.values.items()}, stack=env)


COMMANDS = rendered()
STAGING_LLAMA = next(args for env, name, _, args in COMMANDS if (env, name) == ("staging", "llama"))
STAGING_CHAT = next(args for env, name, _, args in COMMANDS if (env, name) == ("staging", "chat"))


def replaced(args: list[str], option: str, *new: str) -> list[str]:
    """`args` with `option=...` dropped and `new` appended."""
    return [a for a in args if not a.startswith(f"{option}=")] + list(new)


# Commands the real parsers must refuse, each with the words of the server's own refusal.
REFUSED = [
    ("vllm", replaced(STAGING_LLAMA, "--max-lora-rank", "--max-lora-rank=17"), "invalid choice: 17"),
    ("vllm", [*STAGING_LLAMA, "--kv-cache-dtype=fp9"], "Invalid kv_cache_dtype: 'fp9'"),
    ("vllm", [*STAGING_LLAMA, "--max-loras=4", "--max-cpu-loras=2"], "max_cpu_loras (2) must be >= max_loras (4)"),
    ("vllm", [*STAGING_LLAMA, "--tensor-parallel-size=two"], "invalid int value: 'two'"),
    ("vllm", [*STAGING_LLAMA, "--lora-modules", "sql-lora"], "Invalid JSON format for --lora-modules: sql-lora"),
    ("sglang", [*STAGING_CHAT, "--kv-cache-dtype=fp9"], "invalid choice: 'fp9'"),
    ("sglang", [*STAGING_CHAT, "--quantization=awq-marlin"], "invalid choice: 'awq-marlin'"),
    ("sglang", STAGING_CHAT[len(SGLANG_LAUNCH) :], "the command does not start with python3 -m sglang.launch_server"),
]


def table(server: str) -> set[str]:
    entries = yaml.safe_load((ROOT / "catalog" / "server_options.yaml").read_text())[server]["options"]
    return {s for entry in entries for s in entry}


# vLLM's parser holds no --no- spelling among its option strings, yet FlexibleArgumentParser takes --no-<flag>
# for the bool options the table lists one for: each is tried alone, and must parse.
SPELLINGS = [("vllm", s) for s in sorted(table("vllm")) if s.startswith("--no-")]


def alone(spelling: str) -> list[str]:
    """`vllm serve m <spelling>`: the option with nothing else."""
    return ["m", spelling]


@pytest.fixture(scope="module")
def parsed() -> dict[str, Any]:
    """One run of parse_commands.py over the rendered commands and then the refused ones (the imports take
    most of its ~20 s)."""
    if not SERVERS_PYTHON.exists():
        pytest.fail(f"no {SERVERS_PYTHON.relative_to(ROOT)}: run `make servers`")
    batch = [{"runtime": runtime, "args": args} for _, _, runtime, args in COMMANDS]
    batch += [{"runtime": runtime, "args": args} for runtime, args, _ in REFUSED]
    batch += [{"runtime": runtime, "args": alone(spelling)} for runtime, spelling in SPELLINGS]
    run = subprocess.run(  # noqa: S603 - our own script, under the servers venv's python
        [str(SERVERS_PYTHON), str(HERE / "parse_commands.py")],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-5000:])
        pytest.fail(f"parse_commands.py exited {run.returncode}")
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def test_every_environment_renders_both_servers() -> None:
    """The check covers what it claims: staging's LoRA service and SGLang service among the commands."""
    assert {(env, name) for env, name, _, _ in COMMANDS} >= {("staging", "llama"), ("staging", "chat")}
    assert {runtime for _, _, runtime, _ in COMMANDS} == set(PARSED)
    assert "--lora-modules" in STAGING_LLAMA


def test_the_venv_holds_the_pinned_servers(parsed: dict[str, Any]) -> None:
    assert parsed["versions"] == {runtime: pinned(runtime) for runtime in PARSED}
    assert f"vllm=={pinned('vllm')}" in (HERE / "requirements.txt").read_text().split()
    assert f"sglang=={pinned('sglang')}" in (HERE / "requirements-sglang.txt").read_text().split()


def expected_model(service: VllmService | SglangService, model: str) -> None:
    """The server loads the service's model: its Hub id, or its mirror copy at the pinned revision."""
    assert model == service.model or model.endswith(f"/{service.model}/{service.revision}"), model


def expected_vllm(env: str, name: str, values: dict[str, Any], ranks: list[int]) -> None:
    """`ranks`: the parser's --max-lora-rank choices."""
    service = environment(env).services[name]
    assert isinstance(service, VllmService)
    vllm = facts("vllm")
    assert vllm.lora is not None
    expected_model(service, values["model"])
    assert values["served_model_name"] == [service.served_model_name or name]
    assert values["port"] == vllm.port
    assert values["tensor_parallel_size"] == service.tensor_parallel_size
    assert values["pipeline_parallel_size"] == service.pipeline_parallel_size
    assert values["quantization"] == service.quantization
    assert values["kv_cache_dtype"] == (service.kv_cache_dtype or "auto")
    assert values["max_model_len"] == service.max_model_len
    assert values["max_num_seqs"] == service.max_num_seqs
    if service.gpu_memory_utilization is not None:
        assert values["gpu_memory_utilization"] == service.gpu_memory_utilization
    # Prefix caching asked for where the endpoint picker routes by prefix; otherwise left to vLLM (None).
    assert values["enable_prefix_caching"] == (True if runtime_of(service).picked(service) else None)
    if values["load_format"] == "runai_streamer":
        assert values["model"].startswith("gs://")
        split = service.tensor_parallel_size * service.pipeline_parallel_size > 1
        assert values["model_loader_extra_config"] == ({"distributed": True} if split else {})
    assert values["lora_modules"] == [
        {"name": a.name, "path": adapter_path(a.model, a.revision)} for a in service.adapters
    ]
    if not service.adapters:
        assert values["lora"] is None
        assert not values["enable_lora"]
        return
    assert values["enable_lora"] is True
    lora = values["lora"]
    needed = max(a.rank for a in service.adapters)
    assert lora["max_lora_rank"] == (service.max_lora_rank or min(r for r in ranks if r >= needed))
    assert lora["max_loras"] == (service.max_loras or vllm.lora.default_max_loras)
    assert lora["max_cpu_loras"] == (service.max_cpu_loras or lora["max_loras"])


def expected_sglang(env: str, name: str, values: dict[str, Any]) -> None:
    service = environment(env).services[name]
    assert isinstance(service, SglangService)
    expected_model(service, values["model_path"])
    assert values["host"] == "0.0.0.0"  # noqa: S104 - the pod's address, as rendered
    assert values["port"] == facts("sglang").port
    assert values["served_model_name"] == (service.served_model_name or name)
    assert values["enable_metrics"] is True
    assert values["tp_size"] == service.tensor_parallel_size
    assert values["dp_size"] == service.data_parallel_size
    assert values["quantization"] == service.quantization
    assert values["kv_cache_dtype"] == (service.kv_cache_dtype or "auto")
    assert values["context_length"] == service.context_length
    assert values["mem_fraction_static"] == service.mem_fraction_static
    assert values["max_running_requests"] == service.max_running_requests
    assert values["chunked_prefill_size"] == service.chunked_prefill_size


def choices(options: list[dict[str, Any]], dest: str) -> list[str]:
    (option,) = [o for o in options if o["dest"] == dest]
    found: list[str] = option["choices"]
    return found


@pytest.mark.parametrize(("index", "env", "name", "runtime"), [(i, e, n, r) for i, (e, n, r, _) in enumerate(COMMANDS)])
def test_rendered_command_parses_as_meant(
    parsed: dict[str, Any], index: int, env: str, name: str, runtime: str
) -> None:
    result = parsed["results"][index]
    assert result["ok"], f"{env}/{name}: {runtime} refuses its command: {result['error']}"
    if runtime == "vllm":
        ranks = sorted(int(r) for r in choices(parsed["options"]["vllm"], "max_lora_rank"))
        expected_vllm(env, name, result["values"], ranks)
    else:
        expected_sglang(env, name, result["values"])


@pytest.mark.parametrize(("index", "runtime", "words"), [(i, r, w) for i, (r, _, w) in enumerate(REFUSED)])
def test_bad_command_is_refused_by_the_server(parsed: dict[str, Any], index: int, runtime: str, words: str) -> None:
    result = parsed["results"][len(COMMANDS) + index]
    assert not result["ok"], f"{runtime} accepted {REFUSED[index][1]}"
    assert words in result["error"]


def test_catalog_choices_are_the_parsers(parsed: dict[str, Any]) -> None:
    """The values config checks refuse against (catalog/servers.yaml) are the ones the servers accept. vLLM
    checks --kv-cache-dtype in CacheConfig and --quantization in ModelConfig, not in argparse: those lists come
    from vllm/config/cache.py KV_CACHE_DTYPES and vllm/model_executor/layers/quantization QUANTIZATION_METHODS."""
    vllm, sglang = parsed["options"]["vllm"], parsed["options"]["sglang"]
    assert set(parsed["vllm_kv_cache_dtypes"]) == set(facts("vllm").kv_cache_dtype)
    assert set(parsed["vllm_quantization_methods"]) == set(facts("vllm").quantization)
    assert set(choices(vllm, "dtype")) == set(facts("vllm").dtype)
    lora = facts("vllm").lora
    assert lora is not None
    assert [int(r) for r in choices(vllm, "max_lora_rank")] == lora.ranks
    assert set(choices(sglang, "quantization")) == set(facts("sglang").quantization)
    assert set(choices(sglang, "kv_cache_dtype")) == set(facts("sglang").kv_cache_dtype)
    assert set(choices(sglang, "dtype")) == set(facts("sglang").dtype)


def test_vllm_quantization_is_not_checked_by_argparse(parsed: dict[str, Any]) -> None:
    """vLLM's --quantization takes any string at parse time (ModelConfig checks it against the model), so the
    config check against catalog/servers.yaml's list (QUANTIZATION_METHODS, above) is the only check before a
    GPU is touched: a misspelt value parses, as the refusal tests' bad --kv-cache-dtype would without CacheConfig."""
    assert choices(parsed["options"]["vllm"], "quantization") is None


def spellings(options: list[dict[str, Any]]) -> set[str]:
    return {s for o in options for s in o["spellings"] if s not in ("-h", "--help")}


def test_option_tables_against_the_parsers(parsed: dict[str, Any]) -> None:
    """The table (runtimes/cli.py's) holds every option string of the real parsers and nothing else, but for
    vLLM's --no- forms, which its parser takes without listing them (tried one by one below)."""
    vllm_real, sglang_real = spellings(parsed["options"]["vllm"]), spellings(parsed["options"]["sglang"])
    assert vllm_real <= table("vllm")
    assert {s for s in table("vllm") - vllm_real if not s.startswith("--no-")} == set()
    assert table("sglang") == sglang_real


@pytest.mark.parametrize("index", range(len(SPELLINGS)), ids=[f"{r}{s}" for r, s in SPELLINGS])
def test_a_no_spelling_of_the_table_parses(parsed: dict[str, Any], index: int) -> None:
    result = parsed["results"][len(COMMANDS) + len(REFUSED) + index]
    assert result["ok"], result.get("error")
