"""The mirror Job: copies the files the servers read of MODEL@COMMIT from the Hub to gs://BUCKET/PREFIX.

Exits 0 at once when PREFIX/.complete exists. Else, file by file: skip what an earlier attempt uploaded whole,
download one file to SCRATCH, check its size against the list, upload, delete; then check every object and
write the marker last, create-only, with the list it certifies (the fill Job and the readers trust it).
FILES is the list (path -> bytes) the preview computed from the model's lock; without it the Job selects from
the Hub's listing by PATTERNS (the servers' file patterns). Endpoints come the way the client libraries take
them: HF_ENDPOINT (huggingface_hub), STORAGE_EMULATOR_HOST (google-cloud-storage), GCE_METADATA_HOST (google-auth).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

from google.api_core import exceptions
from google.cloud import storage
from huggingface_hub import HfApi, hf_hub_download

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from repo_files import select

MARKER = ".complete"


def present(bucket: storage.Bucket, name: str) -> storage.Blob | None:
    """The object, or None when it does not exist. The writer may read only under its own prefix (an IAM
    condition on resource.name) and so has no storage.objects.list on the bucket: then Cloud Storage answers a
    GET of a missing object with 403, not 404 — its error reads "Permission ... denied on resource (or it may
    not exist)" (reported in seung-lab/cloud-volume#260, googleapis/google-api-php-client#1791; no sentence of
    Cloud Storage's documentation saying it was found). A 403 is read as absent here: a real denial fails the
    upload that follows, loudly."""
    try:
        return bucket.get_blob(name)
    except exceptions.Forbidden:
        return None


def wanted(model: str, commit: str) -> dict[str, int]:
    info = HfApi().model_info(model, revision=commit, files_metadata=True)
    if info.sha != commit:
        sys.exit(f"{model}@{commit}: the Hub answered for {info.sha}")
    listing = {s.rfilename: (s.lfs.size if s.lfs else s.size) for s in info.siblings or ()}
    if "FILES" not in os.environ:
        selected: dict[str, int] = select(listing, json.loads(os.environ["PATTERNS"]))
        return selected
    files: dict[str, int] = json.loads(os.environ["FILES"])
    differs = sorted(p for p, size in files.items() if listing.get(p) != size)
    if differs:
        sys.exit(
            f"{model}@{commit}: the Hub lists other sizes than the lock for {', '.join(differs)} — re-run make model"
        )
    return files


def main() -> None:
    model, commit, prefix = os.environ["MODEL"], os.environ["COMMIT"], os.environ["PREFIX"]
    bucket = storage.Client().bucket(os.environ["BUCKET"])
    marker = bucket.blob(f"{prefix}/{MARKER}")
    if present(bucket, marker.name) is not None:
        print(f"gs://{bucket.name}/{prefix} is complete: nothing to do")
        return
    files = wanted(model, commit)
    if not files:
        sys.exit(f"{model}@{commit}: no file of the repository matches what the servers read")
    scratch = pathlib.Path(os.environ["SCRATCH"]) / "download"
    for name, size in files.items():
        earlier = present(bucket, f"{prefix}/{name}")
        if earlier is not None and earlier.size == size:
            continue  # uploaded whole by an earlier attempt
        local = pathlib.Path(hf_hub_download(model, name, revision=commit, local_dir=scratch))
        if local.stat().st_size != size:
            sys.exit(f"{name}: downloaded {local.stat().st_size} bytes, the list says {size}")
        bucket.blob(f"{prefix}/{name}").upload_from_filename(str(local))
        local.unlink()
        print(f"{name}: {size} bytes", flush=True)
    for name, size in files.items():
        uploaded = present(bucket, f"{prefix}/{name}")
        if uploaded is None or uploaded.size != size:
            sys.exit(f"{name}: gs://{bucket.name}/{prefix}/{name} is not the {size} bytes listed")
    body = {"model": model, "commit": commit, "files": files, "bytes": sum(files.values())}
    try:
        marker.upload_from_string(json.dumps(body), content_type="application/json", if_generation_match=0)
    except exceptions.PreconditionFailed:
        print("another attempt wrote the marker first")
    print(f"gs://{bucket.name}/{prefix}: {len(files)} files, {sum(files.values())} bytes, complete")


if __name__ == "__main__":
    main()
