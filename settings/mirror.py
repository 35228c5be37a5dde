"""The model mirror: a Cloud Storage bucket per environment holding each `model@commit` once. Pure: names,
paths and the config model; how pods read it is loads/, the component workloads/model_mirror.py.

Layout: gs://<bucket>/<org>/<name>/<commit>/ holds the repository's files at that commit, and
`<prefix>/.complete` is written last, only after every file was uploaded and checked.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pydantic import Field, model_validator

from settings.base import StrictModel

COMMIT = re.compile(r"[0-9a-f]{40}")  # used with fullmatch
# Bucket names: 3-63 characters, lowercase letters, digits, '-', '_' and '.', starting and ending with a
# letter or digit (cloud.google.com/storage/docs/buckets#naming); no dots here, so no domain verification.
BUCKET_NAME = r"^[a-z0-9][-a-z0-9_]{1,61}[a-z0-9]$"
MARKER = ".complete"  # written last: its presence means every file of the prefix is there and checked
# Where a mounted load path shows the mirror inside a serving pod: every copy at MOUNT_ROOT/<prefix>, so
# arguments and policies read one kind of path (loads/gcsfuse.py, loads/hyperdisk_ml.py).
MOUNT_ROOT = "/models"
# Where a serving pod sees the mirror's LoRA adapter copies, whatever the base model's load path: a read-only
# Cloud Storage FUSE mount of the bucket of its own (the server reads an adapter from a local folder).
ADAPTER_ROOT = "/adapters"


class ModelMirrorConfig(StrictModel):
    bucket: str | None = Field(None, pattern=BUCKET_NAME)
    """Bucket name; default: generated from the cluster name and a hash of the project
    (`<cluster>-models-<hash>`), globally unique enough."""
    existing: bool = False
    """Use `bucket` as it is (uniform bucket-level access required, for the IAM conditions); do not create it."""

    @model_validator(mode="after")
    def _existing_needs_a_name(self) -> ModelMirrorConfig:
        if self.existing and self.bucket is None:
            raise ValueError("existing: true needs the bucket's name — set bucket, or remove existing to create one")
        return self


def bucket_name(mirror: ModelMirrorConfig, cluster: str, project: str) -> str:
    """The mirror's bucket: the configured name, else `<cluster>-models-<6 hex of the project>` (bucket
    names are global across all projects: the hash keeps two projects' same-named clusters apart)."""
    if mirror.bucket is not None:
        return mirror.bucket
    digest = hashlib.sha256(project.encode()).hexdigest()[:6]
    return f"{cluster[: 63 - len('-models-') - 6]}-models-{digest}"


def prefix(model: str, commit: str) -> str:
    """`<org>/<name>/<commit>` (no trailing slash)."""
    return f"{model}/{commit}"


def job_name(model: str, commit: str) -> str:
    """The Job that mirrors model@commit: a new commit is a new Job, the same one the same Job."""
    return f"mirror-{hashlib.sha256(f'{model}@{commit}'.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class WeightSource:
    """Where a server's weights come from, when not the Hub."""

    load: str  # the load path that reads it (loads/)
    bucket: str
    model: str
    commit: str

    @property
    def prefix(self) -> str:
        return prefix(self.model, self.commit)

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}"

    @property
    def path(self) -> str:
        """The checkpoint's folder inside a pod that mounts the mirror (a mounted load path)."""
        return f"{MOUNT_ROOT}/{self.prefix}"

    @property
    def marker(self) -> str:
        return f"{self.prefix}/{MARKER}"


def adapter_path(model: str, commit: str) -> str:
    """The folder of a LoRA adapter's mirror copy inside a serving pod."""
    return f"{ADAPTER_ROOT}/{prefix(model, commit)}"


_LOCATION = re.compile(
    rf"^(?:gs://[a-z0-9][-a-z0-9_.]*[a-z0-9]|{re.escape(MOUNT_ROOT)})/([A-Za-z0-9][\w.-]*/[\w.-]+)/([0-9a-f]{{40}})/?$"
)


def mirrored(location: str) -> tuple[str, str] | None:
    """(model, commit) of a server argument that names a mirror copy (gs://<bucket>/<org>/<name>/<commit>
    or /models/<org>/<name>/<commit>), else None: how policies read the model off a rendered pod."""
    match = _LOCATION.fullmatch(location)
    return (match[1], match[2]) if match else None
