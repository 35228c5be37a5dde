"""What every rule shares: the default enforcement and a tiny helper for counting GPUs in prose."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel

# Without --policy-pack-config a violation blocks: the safe side for a pack that guards GPU spend.
# policies/config/<env>.json relaxes it per environment (advisory in dev).
DEFAULT_ENFORCEMENT = EnforcementLevel.MANDATORY


def gpus(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"
