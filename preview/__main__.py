"""`python -m preview <env>`: the offline preview of an environment (see README).

Exit status: 0 clean, 1 a mandatory policy failed or a manifest fails its schema, 2 the environment
(its name or its file) or the output folder is invalid, 3 an internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType


def _leave(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 (signal handler signature)
    os._exit(128 + signum)  # nothing written yet: Pulumi and the providers are still being imported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m preview", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("env", help="environment name: environments/Pulumi.<env>.yaml")
    parser.add_argument("--out-dir", help="where plan.json and manifests/ go (default build/<env>)")
    parser.add_argument("--quiet", action="store_true", help="print only problems and the summary line")
    parser.add_argument("--file", "--env-file", dest="file", type=Path, help="preview this file as stack <env> instead")
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an internal error (or set GKE_SERVING_DEBUG=1)"
    )
    args = parser.parse_args(argv)
    # Imported here, after the early handler below: importing Pulumi takes a second or two.
    if not args.quiet and sys.stderr.isatty() and os.environ.get("CI", "") in ("", "0", "false"):
        print("loading Pulumi and the provider SDKs (a few seconds)…", file=sys.stderr, flush=True)
    try:
        from preview.run import INTERRUPTS, preview_environment  # noqa: PLC0415
    except Exception as e:
        # A checkout that does not import is an internal error too (preview/run.py reports the others).
        if args.debug or os.environ.get("GKE_SERVING_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, INTERRUPTS.handle)
    return preview_environment(args.env, args.out_dir, quiet=args.quiet, env_file=args.file, debug=args.debug)


if __name__ == "__main__":
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, _leave)
    sys.exit(main())
