"""`python -m preview <env>`: the offline preview of an environment (see README)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from preview.run import preview_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preview", description=__doc__)
    parser.add_argument("env", help="environment name: environments/Pulumi.<env>.yaml")
    parser.add_argument("--out-dir", help="where plan.json and manifests/ go (default build/<env>)")
    parser.add_argument("--quiet", action="store_true", help="print only problems and the summary line")
    parser.add_argument("--file", type=Path, help="preview this file as stack <env> instead")
    args = parser.parse_args(argv)
    return preview_environment(args.env, args.out_dir, quiet=args.quiet, env_file=args.file)


if __name__ == "__main__":
    sys.exit(main())
