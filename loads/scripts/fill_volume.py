"""The Hyperdisk ML fill Job: copies the files the mirror's marker certifies from gs://BUCKET/PREFIX onto the
volume at VOLUME, and writes the volume's own marker last. Run after the marker exists (its init container).

Copies exactly the marker's list (never what else a prefix may hold), skips files copied whole by an earlier
attempt, checks each size. STORAGE_EMULATOR_HOST is honoured by google-cloud-storage itself.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

from google.cloud import storage

MARKER = ".complete"


def main() -> None:
    root, prefix = pathlib.Path(os.environ["VOLUME"]), os.environ["PREFIX"]
    done = root / MARKER
    if done.exists():
        print(f"{root} is complete: nothing to do")
        return
    bucket = storage.Client().bucket(os.environ["BUCKET"])
    certified = bucket.get_blob(f"{prefix}/{MARKER}")
    if certified is None:
        sys.exit(f"gs://{bucket.name}/{prefix}/{MARKER} is missing: the mirror Job has not finished")
    files: dict[str, int] = json.loads(certified.download_as_bytes())["files"]
    for name, size in files.items():
        target = root / name
        if not target.resolve().is_relative_to(root.resolve()):
            sys.exit(f"{name}: outside the volume")
        if target.exists() and target.stat().st_size == size:
            continue  # copied whole by an earlier attempt
        target.parent.mkdir(parents=True, exist_ok=True)
        bucket.blob(f"{prefix}/{name}").download_to_filename(str(target))
        if target.stat().st_size != size:
            sys.exit(f"{name}: copied {target.stat().st_size} bytes, the marker lists {size}")
        print(f"{name}: {size} bytes", flush=True)
    os.sync()
    done.write_text(json.dumps({"bucket": bucket.name, "prefix": prefix, "files": files}))
    os.sync()
    print(f"{root}: {len(files)} files, {sum(files.values())} bytes from gs://{bucket.name}/{prefix}, complete")


if __name__ == "__main__":
    main()
