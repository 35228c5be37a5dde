"""Upper bounds of the numeric settings. Past them a value crashes a renderer (an infinite queue
target has no integer form) or means nothing (a million GPUs in one pool).

Each bound is far above anything real; the exact limits that depend on the pool, the machine or
the model are cross-checks (config/platform_checks.py, config/service_checks.py, the policies).
"""

from __future__ import annotations

# Nodes of one pool: GKE's limit of nodes per node pool per zone, beyond any project's GPU quota.
MAX_NODES = 1000
# Replicas of one service: each holds at least one GPU, so no pool could place more.
MAX_REPLICAS = MAX_NODES * 16
# GPUs per node or per replica: the most a machine type carries (a2-megagpu-16g); the catalog test
# in tests/test_config.py proves no machine carries more.
MAX_GPUS = 16
# Local NVMe SSDs of one node (375 GiB each): more than any machine type takes.
MAX_LOCAL_SSDS = 32
# Token limits (context length, batch tokens): 10x the longest context of any open model (10M tokens,
# Llama 4 Scout); the memory-fit policy gives the exact one.
MAX_TOKENS = 100_000_000
# Requests or sequences one server holds at once (the servers' defaults are 32-512).
MAX_CONCURRENCY = 100_000
# Requests waiting per replica before the autoscaler adds one: the HPA target is rendered in
# thousandths (`100m`), and GKE's guidance is 3-5; a target of thousands never scales.
MIN_QUEUE_TARGET = 0.1
MAX_QUEUE_TARGET = 1000.0
# Architecture of a model the sizing catalog does not know, per config.json field: a few times the
# largest open model's (DeepSeek-V3: 671B parameters, 61 layers, hidden 7168, vocab 129280).
MAX_PARAMS_BILLION = 10_000.0
MAX_LAYERS = 1024
MAX_WIDTH = 1_048_576  # hidden, intermediate and vocabulary sizes
MAX_HEADS = 4096  # attention heads, KV heads, head dimension
# Size of one model checkpoint in GB (a custom runtime's `checkpointGb`): the largest architecture
# above (10,000B parameters) in float32 is 40,000 GB.
MAX_CHECKPOINT_GB = 40_000.0
