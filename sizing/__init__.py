"""Pure sizing and cost logic: model architectures, per-GPU memory fit, and node-pool prices.

Nothing here touches the network or a GPU: the facts live in the YAML files beside the modules,
each with its source, and the arithmetic is documented in sizing/memory.py and sizing/cost.py.
"""

from __future__ import annotations

from sizing.cost import PoolCostInput, ServiceCostInput, estimate_cost, format_cost, hourly_price
from sizing.memory import FitRequest, FitResult, estimate, gpus_needed
from sizing.models import Architecture, quantization_from_name, resolve, weight_bytes

__all__ = [
    "Architecture",
    "FitRequest",
    "FitResult",
    "PoolCostInput",
    "ServiceCostInput",
    "estimate",
    "estimate_cost",
    "format_cost",
    "gpus_needed",
    "hourly_price",
    "quantization_from_name",
    "resolve",
    "weight_bytes",
]
