"""The CrossGuard pack: `pulumi preview --policy-pack policies --policy-pack-config policies/config/<env>.json`.

Only builds the pack; the rules live in policies/rules. Constructing PolicyPack starts the analyzer's
gRPC server and never returns, hence the __main__ guard (Pulumi runs this file as __main__).
"""

import sys
from pathlib import Path

# Pulumi runs the pack with policies/ as the working directory; the rules import catalog, sizing and config from the root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policies.rules import PACK_NAME, POLICIES

if __name__ == "__main__":
    PolicyPack(PACK_NAME, policies=POLICIES)
