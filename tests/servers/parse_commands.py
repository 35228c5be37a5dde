"""Parse model-server commands with the pinned servers' own parsers: run by the servers venv's python (make
servers), not the project's. Reads a JSON list of {"runtime": "vllm" | "sglang", "args": [...]} on stdin and
prints one JSON result per command: {"ok": true, "values": {...}} or {"ok": false, "error": "..."}.

vLLM: the parser `vllm serve` builds (vllm/entrypoints/cli/main.py: a FlexibleArgumentParser with the serve
subcommand's make_arg_parser), the serve subcommand's validate (validate_parsed_serve_args), EngineArgs from the
parsed namespace (EngineArgs.from_cli_args) and the LoRAConfig create_engine_config builds from it. The rest of
create_engine_config needs the model's config.json (ModelConfig) and the platform's device, so it does not run.
SGLang: the parser `python3 -m sglang.launch_server` builds (prepare_server_args: ServerArgs.add_cli_args). Its
ServerArgs.__post_init__ reads the model's config and the GPU, so it does not run either.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import sys
from typing import Any

# The container's command before SGLang's own arguments (runtimes/sglang.py LAUNCH).
SGLANG_LAUNCH = ["python3", "-m", "sglang.launch_server"]


def refused(stderr: io.StringIO, error: BaseException) -> dict[str, Any]:
    message = stderr.getvalue().strip().splitlines()[-1:] or [f"{type(error).__name__}: {error}"]
    return {"ok": False, "error": message[0]}


def vllm_serve_parser() -> argparse.ArgumentParser:
    """`vllm serve`'s parser, built the way vllm/entrypoints/cli/main.py builds it."""
    from vllm import platforms
    from vllm.platforms.cpu import CpuPlatform

    # Without a GPU the platform resolver finds none, and building the parser needs one (its DeviceConfig default
    # "auto" asks the platform for a device type). The image's CUDA platform does not import without libcuda.so.1,
    # so the CPU platform stands in, set as `vllm bench` sets it (vllm/entrypoints/cli/main.py) before the
    # modules that read it are imported. Only --mm-processor-device's choices depend on it (the CUDA image also
    # takes "cuda" there; vllm/engine/arg_utils.py), an option the platform never renders.
    platforms.current_platform = CpuPlatform()
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser: argparse.ArgumentParser = FlexibleArgumentParser(prog="vllm")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    ServeSubcommand().subparser_init(subparsers)
    return parser


def serve_subparser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve: argparse.ArgumentParser = subparsers.choices["serve"]
    return serve


def parse_vllm(parser: argparse.ArgumentParser, args: list[str]) -> dict[str, Any]:
    from vllm.config.cache import CacheConfig
    from vllm.config.load import LoadConfig
    from vllm.config.lora import LoRAConfig
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.cli.serve import ServeSubcommand

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            namespace = parser.parse_args(["serve", *args])
            ServeSubcommand().validate(namespace)
    except (SystemExit, TypeError, ValueError) as error:
        return refused(stderr, error)
    if namespace.model_tag is not None:  # ServeSubcommand.cmd: the positional model wins over --model
        namespace.model = namespace.model_tag
    try:
        engine = AsyncEngineArgs.from_cli_args(namespace)
        # The configs EngineArgs.create_engine_config builds (vllm/engine/arg_utils.py) that need neither the
        # model's config.json nor a device, from the fields the platform's commands set. The KV cache dtype goes
        # in unresolved: create_engine_config resolves only "auto", from the model's quantization_config.
        CacheConfig(
            cache_dtype=engine.kv_cache_dtype,
            gpu_memory_utilization=engine.gpu_memory_utilization,
            enable_prefix_caching=bool(engine.enable_prefix_caching),
        )
        LoadConfig(load_format=engine.load_format, model_loader_extra_config=engine.model_loader_extra_config)
        lora = (
            LoRAConfig(
                max_lora_rank=engine.max_lora_rank,
                max_loras=engine.max_loras,
                fully_sharded_loras=engine.fully_sharded_loras,
                lora_dtype=engine.lora_dtype,
                max_cpu_loras=engine.max_cpu_loras if engine.max_cpu_loras and engine.max_cpu_loras > 0 else None,
            )
            if engine.enable_lora
            else None
        )
    except (TypeError, ValueError) as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    return {
        "ok": True,
        "values": {
            "model": engine.model,
            "served_model_name": engine.served_model_name,
            "port": namespace.port,
            "tensor_parallel_size": engine.tensor_parallel_size,
            "pipeline_parallel_size": engine.pipeline_parallel_size,
            "quantization": engine.quantization,
            "kv_cache_dtype": engine.kv_cache_dtype,
            "max_model_len": engine.max_model_len,
            "gpu_memory_utilization": engine.gpu_memory_utilization,
            "max_num_seqs": engine.max_num_seqs,
            "load_format": engine.load_format,
            "model_loader_extra_config": engine.model_loader_extra_config,
            "enable_prefix_caching": engine.enable_prefix_caching,
            "enable_lora": engine.enable_lora,
            "lora_modules": [{"name": m.name, "path": m.path} for m in namespace.lora_modules or []],
            "lora": None
            if lora is None
            else {
                "max_lora_rank": lora.max_lora_rank,
                "max_loras": lora.max_loras,
                "max_cpu_loras": lora.max_cpu_loras,
            },
        },
    }


def sglang_parser() -> argparse.ArgumentParser:
    """The parser `python3 -m sglang.launch_server` builds (sglang/srt/server_args.py prepare_server_args)."""
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    return parser


def parse_sglang(parser: argparse.ArgumentParser, args: list[str]) -> dict[str, Any]:
    if args[: len(SGLANG_LAUNCH)] != SGLANG_LAUNCH:
        return {"ok": False, "error": f"the command does not start with {' '.join(SGLANG_LAUNCH)}"}
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            namespace = parser.parse_args(args[len(SGLANG_LAUNCH) :])
    except SystemExit as error:
        return refused(stderr, error)
    names = (
        "model_path",
        "host",
        "port",
        "served_model_name",
        "enable_metrics",
        "tp_size",
        "dp_size",
        "quantization",
        "kv_cache_dtype",
        "context_length",
        "mem_fraction_static",
        "max_running_requests",
        "chunked_prefill_size",
    )
    return {"ok": True, "values": {name: getattr(namespace, name) for name in names}}


def options(parser: argparse.ArgumentParser) -> list[dict[str, Any]]:
    """Each option of `parser`: its spellings and, where argparse checks them, its choices."""
    return [
        {
            "dest": action.dest,
            "spellings": list(action.option_strings),
            "choices": None if action.choices is None else [str(c) for c in action.choices],
        }
        for action in parser._actions
        if action.option_strings
    ]


def main() -> None:
    commands = json.load(sys.stdin)
    # The servers log while they build their parsers and configs: stdout is kept for the results.
    with contextlib.redirect_stdout(sys.stderr):
        from vllm.config.cache import KV_CACHE_DTYPES
        from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS

        vllm, sglang = vllm_serve_parser(), sglang_parser()
        parse = {"vllm": lambda args: parse_vllm(vllm, args), "sglang": lambda args: parse_sglang(sglang, args)}
        results = [parse[command["runtime"]](command["args"]) for command in commands]
    json.dump(
        {
            "results": results,
            "options": {"vllm": options(serve_subparser(vllm)), "sglang": options(sglang)},
            # vLLM checks --kv-cache-dtype in CacheConfig, not in argparse (vllm/config/cache.py).
            "vllm_kv_cache_dtypes": list(KV_CACHE_DTYPES),
            # and --quantization in ModelConfig, against the model's config (vllm/config/model.py).
            "vllm_quantization_methods": list(QUANTIZATION_METHODS),
            "versions": {name: importlib.metadata.version(name) for name in ("vllm", "sglang")},
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
