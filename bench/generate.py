"""Synthetic environments of N services, mixing the four runtimes over three GPU pools."""

from __future__ import annotations

from typing import Any

import yaml

RUNTIMES: tuple[dict[str, Any], ...] = (
    {"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "maxBatchTokens": 16384},
    {
        "runtime": "vllm",
        "model": "google/gemma-7b-AWQ",
        "pool": "l4",
        "quantization": "awq",
        "maxModelLen": 4096,
        "autoscaling": {"minReplicas": 1, "maxReplicas": 2},
    },
    {
        "runtime": "tgi",
        "model": "meta-llama/Llama-2-13b-hf",
        "pool": "a100",
        "numShard": 2,
        "quantize": "eetq",
        "maxInputTokens": 2048,
        "maxTotalTokens": 4096,
    },
    {
        "runtime": "triton",
        "model": "detector",
        "pool": "l4",
        "modelRepository": "gs://bench-models/triton",
        "auth": False,
    },
)


def environment(services: int) -> str:
    """An environment file with `services` services; pools are sized so every replica and each
    single-replica service's rollout surge pod fits."""
    specs = {f"svc-{i:03d}": dict(RUNTIMES[i % len(RUNTIMES)]) for i in range(services)}
    l4_gpus = sum(3 if "autoscaling" in s else 2 for s in specs.values() if s["pool"] == "l4")
    a100_nodes = sum(2 for s in specs.values() if s["pool"] == "a100")
    config = {
        "gcp:project": "bench-project",
        "gcp:region": "us-central1",
        "gke-serving:hfToken": {"secure": "v1:bench"},
        "gke-serving:cluster": {"name": "bench", "location": "us-central1", "deletionProtection": False},
        # Internal: the bench's services run without auth, which an external gateway refuses outside dev.
        "gke-serving:gateway": {"className": "gke-l7-rilb"},
        "gke-serving:nodePools": {
            "l4": {
                "machineType": "g2-standard-8",
                "gpu": {"type": "nvidia-l4", "count": 1},
                "maxNodes": max(l4_gpus, 1),
            },
            "a100": {
                "machineType": "a2-highgpu-2g",
                "gpu": {"type": "nvidia-tesla-a100", "count": 2},
                "maxNodes": max(a100_nodes, 1),
            },
        },
        "gke-serving:services": specs,
    }
    return yaml.safe_dump({"config": config}, sort_keys=False)
