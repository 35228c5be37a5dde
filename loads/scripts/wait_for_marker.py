"""A serving pod's init container: exits 0 once gs://BUCKET/MARKER exists; standard library only.

Authenticates as the pod's Workload Identity through the metadata server (GCE_METADATA_HOST, as google-auth
reads it); against STORAGE_EMULATOR_HOST it sends no token, as the client libraries do.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


def token() -> str | None:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return None
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    request = urllib.request.Request(f"http://{host}{TOKEN_PATH}", headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["access_token"])


def object_url(bucket: str, name: str) -> str:
    base = os.environ.get("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com").rstrip("/")
    if "://" not in base:
        base = f"http://{base}"
    return f"{base}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}"


def main() -> None:
    bucket, marker = os.environ["BUCKET"], os.environ["MARKER"]
    deadline = time.monotonic() + int(os.environ["WAIT_SECONDS"])
    while True:
        try:
            bearer = token()
            headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
            with urllib.request.urlopen(
                urllib.request.Request(object_url(bucket, marker), headers=headers), timeout=10
            ):
                print(f"gs://{bucket}/{marker} found")
                return
        except urllib.error.HTTPError as e:
            if e.code != 404:  # the reader may list the bucket: a missing object is a 404
                print(f"gs://{bucket}/{marker}: HTTP {e.code}", file=sys.stderr)
        except OSError as e:
            print(f"gs://{bucket}/{marker}: {e}", file=sys.stderr)
        if time.monotonic() > deadline:
            sys.exit(f"gs://{bucket}/{marker} is still missing: see the mirror Job's logs (make status)")
        time.sleep(int(os.environ["POLL_SECONDS"]))


if __name__ == "__main__":
    main()
