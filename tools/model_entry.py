"""`make model MODEL=<org/name> [REVISION=<ref>]`: a model's catalog entry from the Hub, at a commit.

Resolves the revision (branch, tag or short sha) to its 40-hex commit, reads config.json and the
safetensors headers at that commit, and writes sizing/models.d/<org>--<name>.yaml: the architecture
memory sizing reads, params computed as sizing.md §1 (sizing.models), the checkpoint's size, dtypes
and weight format, whether the repository is gated, its license and the source URL at the commit.
Prints the `revision:` line to pin in the environment file.

Every failure is one line with the fix, exit status 2, and nothing written. HF_TOKEN comes from the
environment and is never printed; HF_ENDPOINT points the client at a mirror (the tests' fixture Hub).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    SafetensorsParsingError,
)
from huggingface_hub.utils._validators import validate_repo_id

import loads.files
import sizing.models
from sizing.models import decoder_params, encoder_params, normalize_dtype

HUB = "https://huggingface.co"
COMMIT = re.compile(r"[0-9a-f]{40}")
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_SINGLE = "model.safetensors"

# config.json keys the catalog cannot do without, per model kind (transformers' names).
DECODER_KEYS = (
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
)
ENCODER_KEYS = DECODER_KEYS
ENCODER_TYPES = frozenset({"bert", "roberta", "xlm-roberta"})
# Decoders whose block decoder_params describes exactly (sizing/models.yaml's entries check it);
# any other model_type gets the same formula, marked [estimate].
VERIFIED_DECODERS = frozenset({"llama", "mistral", "mixtral", "qwen2", "gemma", "gemma2"})
QKV_BIAS_TYPES = frozenset({"qwen2", "qwen2_moe"})
FOUR_NORM_TYPES = frozenset({"gemma2", "gemma3_text"})  # Gemma 2 adds post-attention/-MLP norms
# safetensors dtype -> catalog dtype, for a config.json without torch_dtype.
SAFETENSORS_FLOATS = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


class Refused(Exception):
    """One line saying why nothing was written, and the fix."""


@dataclass(frozen=True)
class Checkpoint:
    files: tuple[str, ...]
    size_bytes: int | None
    dtypes: dict[str, int]  # tensor elements per safetensors dtype ("BF16", "I32", ...)
    tensor_names: frozenset[str]


@dataclass(frozen=True)
class Described:
    repo: str
    ref: str
    sha: str
    config: dict[str, Any]
    checkpoint: Checkpoint
    gated: bool
    license: str | None
    notes: list[str] = field(default_factory=list)
    listing: dict[str, int | None] = field(default_factory=dict)  # every file of the repository at sha, bytes

    @property
    def source(self) -> str:
        return f"{HUB}/{self.repo}/blob/{self.sha}/config.json"


# --- reading the Hub ---------------------------------------------------------------------------------


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or HUB


def _token() -> str | bool:
    # False, not None: without HF_TOKEN the client must not fall back on a token saved on this machine.
    return os.environ.get("HF_TOKEN") or False


def _license(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    found = getattr(card, "license", None) if card is not None else None
    if isinstance(found, list):
        found = ", ".join(str(x) for x in found)
    if not found:
        found = next((t.split(":", 1)[1] for t in info.tags or () if t.startswith("license:")), None)
    name = getattr(card, "license_name", None) if card is not None else None
    return f"{found} ({name})" if found == "other" and name else found


def _checkpoint(api: HfApi, repo: str, sha: str, sizes: Mapping[str, int | None], cache: str) -> Checkpoint:
    """The weight files at `sha` with their sizes and, for safetensors, dtypes and tensor names."""
    if SAFETENSORS_INDEX in sizes:
        index_path = hf_hub_download(
            repo, SAFETENSORS_INDEX, revision=sha, cache_dir=cache, token=_token(), endpoint=_endpoint()
        )
        index = json.loads(Path(index_path).read_text())
        shards = tuple(sorted(set(index.get("weight_map", {}).values())))
    elif SAFETENSORS_SINGLE in sizes:
        shards = (SAFETENSORS_SINGLE,)
    else:
        # No safetensors: size from whatever weight files there are; dtypes unknown.
        bins = tuple(sorted(f for f in sizes if re.fullmatch(r"pytorch_model(-\d+-of-\d+)?\.bin", f)))
        known = [sizes[f] for f in bins]
        total = sum(s for s in known if s is not None) if bins and None not in known else None
        return Checkpoint(bins, total, {}, frozenset())
    dtypes: dict[str, int] = {}
    names: set[str] = set()
    for shard in shards:
        meta = api.parse_safetensors_file_metadata(repo, shard, revision=sha, token=_token())
        for dtype, count in meta.parameter_count.items():
            dtypes[dtype] = dtypes.get(dtype, 0) + count
        names |= set(meta.tensors)
    shard_sizes = [sizes.get(s) for s in shards]
    total = sum(s for s in shard_sizes if s is not None) if None not in shard_sizes else None
    return Checkpoint(shards, total, dict(sorted(dtypes.items())), frozenset(names))


def describe(repo: str, ref: str, *, timeout: float = 30.0) -> Described:
    """Everything the entry needs, read from the Hub; raises the client's errors (see main)."""
    api = HfApi(endpoint=_endpoint(), token=_token())
    info = api.model_info(repo, revision=ref, files_metadata=True, timeout=timeout)
    sha = info.sha or ""
    if not COMMIT.fullmatch(sha):
        raise Refused(f"{_endpoint()} answered no commit for {repo}@{ref} — is HF_ENDPOINT a Hugging Face Hub?")
    sizes = {s.rfilename: (s.lfs.size if s.lfs else s.size) for s in info.siblings or ()}
    with tempfile.TemporaryDirectory(prefix="model-entry-") as cache:
        # At the commit, not the ref: a push between the two calls cannot mix two versions.
        path = hf_hub_download(repo, "config.json", revision=sha, cache_dir=cache, token=_token(), endpoint=_endpoint())
        try:
            config = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise Refused(
                f"{repo}@{sha[:12]}: config.json is not valid JSON ({e.msg}, line {e.lineno}) — the catalog "
                "cannot read its architecture; pick another revision or describe the model by hand"
            ) from None
        if not isinstance(config, dict):
            raise Refused(f"{repo}@{sha[:12]}: config.json is not a JSON object — pick another revision")
        checkpoint = _checkpoint(api, repo, sha, sizes, cache)
    return Described(repo, ref, sha, config, checkpoint, bool(info.gated), _license(info), listing=dict(sizes))


# --- building the entry ----------------------------------------------------------------------------


def _int(config: Mapping[str, Any], key: str) -> int:
    return int(config[key])


def _weight_format(config: Mapping[str, Any]) -> str:
    """The `checkpoints` value: quantization_config.quant_method, or none for full precision."""
    q = config.get("quantization_config")
    if not isinstance(q, Mapping) or not q.get("quant_method"):
        return "none"
    method = str(q["quant_method"]).lower()
    if method == "bitsandbytes" and q.get("load_in_4bit"):
        return f"bitsandbytes-{q.get('bnb_4bit_quant_type', 'fp4')}"
    return method


def _kind(config: Mapping[str, Any]) -> str:
    return "encoder" if config.get("model_type") in ENCODER_TYPES else "decoder"


def _dtype(d: Described) -> str | None:
    raw = d.config.get("torch_dtype") or d.config.get("dtype")
    if isinstance(raw, str):
        try:
            return normalize_dtype(raw)
        except ValueError:
            return None
    floats = {SAFETENSORS_FLOATS[k]: n for k, n in d.checkpoint.dtypes.items() if k in SAFETENSORS_FLOATS}
    return max(floats, key=lambda k: floats[k]) if floats else None


def _missing(d: Described) -> list[str]:
    keys = ENCODER_KEYS if _kind(d.config) == "encoder" else DECODER_KEYS
    missing = []
    for key in keys:
        value = d.config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            missing.append(key if value is None else f"{key} (is {value!r})")
    if _dtype(d) is None:
        missing.append("torch_dtype (and no 16/32-bit float tensors to read it from)")
    return missing


def architecture(d: Described) -> dict[str, Any]:
    """The sizing/models.yaml fields of the checkpoint, in the catalog's order and spelling."""
    c = d.config
    missing = _missing(d)
    if missing:
        raise Refused(
            f"{d.repo}@{d.sha[:12]}: config.json lacks {', '.join(missing)}, which the catalog needs — pick another "
            "revision, or give the service an `architecture` with the values from the model card"
        )
    heads = _int(c, "num_attention_heads")
    kv_heads = int(c.get("num_key_value_heads") or heads)
    head_dim = int(c.get("head_dim") or _int(c, "hidden_size") // heads)
    kind = _kind(c)
    fields: dict[str, Any] = {
        "kind": kind,
        "layers": _int(c, "num_hidden_layers"),
        "hiddenSize": _int(c, "hidden_size"),
        "attentionHeads": heads,
        "kvHeads": kv_heads,
        "headDim": head_dim,
        "intermediateSize": _int(c, "intermediate_size"),
        "vocabSize": _int(c, "vocab_size"),
        "maxPositionEmbeddings": _int(c, "max_position_embeddings"),
        "dtype": _dtype(d),
    }
    if kind == "encoder":
        architectures = [str(a) for a in c.get("architectures") or ()]
        classifier = any(a.endswith("ForSequenceClassification") for a in architectures)
        fields["params"] = encoder_params(
            layers=fields["layers"],
            hidden_size=fields["hiddenSize"],
            intermediate_size=fields["intermediateSize"],
            vocab_size=fields["vocabSize"],
            max_position_embeddings=fields["maxPositionEmbeddings"],
            type_vocab_size=int(c.get("type_vocab_size") or 1),
            pooler=not classifier,
            classifier_labels=len(c.get("id2label") or {"0": ""}) if classifier else None,
        )
        return fields
    tied = c.get("tie_word_embeddings")
    if not isinstance(tied, bool):
        # Not in the config: the checkpoint says, since an untied lm_head is a tensor of its own.
        tied = "lm_head.weight" not in d.checkpoint.tensor_names if d.checkpoint.tensor_names else False
    experts = int(c.get("num_local_experts") or c.get("num_experts") or 1)
    model_type = str(c.get("model_type", ""))
    fields["tiedEmbeddings"] = tied
    if experts > 1:
        fields["experts"] = experts
    fields["params"] = decoder_params(
        layers=fields["layers"],
        hidden_size=fields["hiddenSize"],
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=fields["intermediateSize"],
        vocab_size=fields["vocabSize"],
        tied_embeddings=tied,
        experts=experts,
        qkv_bias=model_type in QKV_BIAS_TYPES or bool(c.get("attention_bias")),
        norms_per_layer=4 if model_type in FOUR_NORM_TYPES else 2,
    )
    if model_type not in VERIFIED_DECODERS:
        d.notes.append(
            f"params: model_type {model_type or '(none)'!r} is counted with the Llama-like formula [estimate]"
        )
    return fields


def _check_params(d: Described, fields: Mapping[str, Any], method: str) -> None:
    """A full-precision checkpoint counts its own parameters: say so where the formula disagrees."""
    counted = sum(d.checkpoint.dtypes.values())
    if method == "none" and counted and abs(counted - fields["params"]) > 0.01 * counted:
        d.notes.append(f"params: the formula gives {fields['params']}, the safetensors headers count {counted}")


def _yaml_scalar(value: Any) -> str:
    return (
        json.dumps(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    )


def entry_text(
    d: Described, fields: Mapping[str, Any], method: str, *, write_checkpoint: bool, write_gated: bool
) -> str:
    """The file's YAML, comments included (the catalog's own format, one file per checkpoint)."""
    ck = d.checkpoint
    lines = [
        f"# {d.repo} at {d.sha} ({d.ref} when read).",
        f"# Written by `make model MODEL={d.repo} REVISION={d.ref}` (tools/model_entry.py); re-run it with FORCE=1",
        "# to rewrite. Fields are [read] from config.json at that commit; params are [computed] as sizing.md §1",
        "# (sizing.models); the checkpoint facts are [read] from its safetensors headers and file sizes.",
        "models:",
        f"  {d.repo}:",
        f"    source: {json.dumps(d.source)}",
        f"    revision: {json.dumps(d.sha)}",
        f"    license: {json.dumps(d.license) if d.license else 'null  # the model card names none'}",
    ]
    lines += [f"    {k}: {_yaml_scalar(v)}" for k, v in fields.items()]
    lines += [
        "    checkpoint:",
        f"      bytes: {ck.size_bytes if ck.size_bytes is not None else 'null  # the Hub gave no file sizes'}",
        f"      files: {json.dumps(list(ck.files))}",
    ]
    if ck.dtypes:
        dtypes = ", ".join(f"{k}: {v}" for k, v in ck.dtypes.items())
        lines.append(f"      tensorElements: {{{dtypes}}}  # per safetensors dtype")
    else:
        lines.append("      tensorElements: {}  # no safetensors headers to read")
    lines += [f"# {note}" for note in d.notes]
    if write_checkpoint:
        how = "quantization_config.quant_method" if method != "none" else "no quantization_config: full precision"
        lines += ["checkpoints:", f"  {d.repo}: {method}  # config.json {how}"]
    if write_gated:
        lines += ["gated:", f"  - {d.repo}  # the Hub serves it only to accounts that accepted its license"]
    return "\n".join(lines) + "\n"


# --- writing -----------------------------------------------------------------------------------------


def lock_path(repo: str, root: Path) -> Path:
    return root / "locks" / f"{repo.replace('/', '--')}.yaml"


def entry_path(root: Path, repo: str) -> Path:
    return root / "models.d" / f"{repo.replace('/', '--')}.yaml"


def plan(d: Described, root: Path, *, force: bool) -> tuple[Path, str | None]:
    """(the file, its new text or None to keep the existing entry); Refused when it cannot be written."""
    target = entry_path(root, d.repo)
    catalog = sizing.models.load_catalog(root)
    held = catalog.where.get(("models", d.repo.lower()))
    if held is not None and held != target:
        if force:
            raise Refused(f"{d.repo} is catalogued by hand in {held}: edit it there (its {d.ref} is {d.sha})")
        return held, None
    if held == target and not force:
        return target, None
    fields = architecture(d)
    method = _weight_format(d.config)
    _check_params(d, fields, method)
    recorded = catalog.checkpoints.get(next((k for k in catalog.checkpoints if k.lower() == d.repo.lower()), ""))
    ck_home = catalog.where.get(("checkpoints", d.repo.lower()))
    if recorded is not None and ck_home != target and str(recorded) != method:
        raise Refused(
            f"{ck_home} records {d.repo}'s weights as {recorded!r}, but its config.json at {d.sha[:12]} says "
            f"{method!r} — correct {ck_home} first"
        )
    write_checkpoint = recorded is None or ck_home == target
    gated_elsewhere = any(d.repo.lower().startswith(p.lower()) for p in catalog.gated if p.lower() != d.repo.lower())
    text = entry_text(d, fields, method, write_checkpoint=write_checkpoint, write_gated=d.gated and not gated_elsewhere)
    return target, text


def lock_text(d: Described, existing: str | None) -> str | None:
    """The model's lock (sizing/locks/) with this commit's listing, verified: read from the Hub itself. Other
    commits already locked are kept. None when the Hub gave a file no size (nothing is locked then)."""
    if any(size is None for size in d.listing.values()):
        return None
    revisions: dict[str, Any] = {}
    if existing:
        revisions = dict((yaml.safe_load(existing) or {}).get("revisions") or {})
    revisions[d.sha] = {
        "verified": True,
        "source": f"the Hub's listing at this commit ({_endpoint()}), read by `make model REVISION={d.ref}`",
        "files": dict(sorted(d.listing.items())),
    }
    head = [
        f"# {d.repo}: the repository's files at each pinned commit, path -> bytes (the model lock).",
        "# Written by `make model` (tools/model_entry.py); the mirror Job copies exactly what each server reads of a",
        "# verified listing and refuses any difference from the Hub's.",
    ]
    body = yaml.safe_dump({"model": d.repo, "revisions": revisions}, sort_keys=False, width=120)
    return "\n".join(head) + "\n" + body


def write(target: Path, text: str) -> None:
    """All or nothing: a temporary file in the same directory, renamed over the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sizing.models.reload()
    loads.files.lock.cache_clear()


def snippet(d: Described) -> str:
    return (
        "Pin it in the service (environments/Pulumi.<env>.yaml):\n"
        f"      model: {d.repo}\n"
        f"      revision: {d.sha}  # {d.ref} on {HUB}/{d.repo}/commit/{d.sha}\n"
    )


# --- the command -------------------------------------------------------------------------------------


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def refusal(e: BaseException, repo: str, ref: str) -> str:
    """The one line for an error of the client, with the fix; the token never appears in it."""
    token_hint = "" if os.environ.get("HF_TOKEN") else " (HF_TOKEN is not set: export it)"
    if isinstance(e, GatedRepoError):
        return (
            f"{repo} is gated: accept the license at {HUB}/{repo} with the account of HF_TOKEN, then retry{token_hint}"
        )
    if isinstance(e, RevisionNotFoundError):
        return f"{repo} has no revision {ref!r} — use a branch, tag or commit listed at {HUB}/{repo}/commits/main"
    if isinstance(e, RepositoryNotFoundError):
        return (
            f"no repository {repo} on {_endpoint()} (or it is private and HF_TOKEN cannot read it) — check the id at "
            f"{HUB}/models?search={repo.split('/')[-1]}"
        )
    if isinstance(e, httpx2.TimeoutException):
        return f"{_endpoint()} did not answer in time ({_reason(e)}) — check the network or HF_ENDPOINT, then retry"
    if isinstance(e, httpx2.TransportError | LocalEntryNotFoundError | OSError):
        return f"cannot reach {_endpoint()} ({_reason(e)}) — check the network, proxy or HF_ENDPOINT, then retry"
    if isinstance(e, SafetensorsParsingError):
        return f"{repo}@{ref}: a safetensors header is unreadable ({_reason(e)}) — pick another revision"
    return f"{repo}@{ref}: the Hub refused ({_reason(e)}) — retry, or check {HUB}/{repo}"


def run(repo: str, ref: str, *, root: Path, force: bool = False, dry_run: bool = False, timeout: float = 30.0) -> str:
    """The lines to print; raises Refused with the one line to print instead."""
    problem = hub_id_problem(repo)
    if problem:
        raise Refused(problem)
    try:
        d = describe(repo, ref, timeout=timeout)
    except Refused:
        raise
    except (HfHubHTTPError, httpx2.HTTPError, LocalEntryNotFoundError, SafetensorsParsingError, OSError) as e:
        raise Refused(refusal(e, repo, ref)) from None
    target, text = plan(d, root, force=force)
    shown = target.relative_to(root.parent) if target.is_relative_to(root.parent) else target
    out = [f"{repo} {ref} = {d.sha}"]
    if text is None:
        out.append(f"kept the existing entry {shown} (FORCE=1 rewrites it)")
    elif dry_run:
        out += [f"would write {shown}:", text.rstrip()]
    else:
        write(target, text)
        out.append(f"wrote {shown}")
    locked = lock_path(d.repo, root)
    lock = lock_text(d, locked.read_text() if locked.is_file() else None)
    shown_lock = locked.relative_to(root.parent) if locked.is_relative_to(root.parent) else locked
    if lock is None:
        out.append(f"not locked: the Hub gave no size for some files of {repo}@{d.sha[:12]}")
    elif dry_run:
        out.append(f"would lock {len(d.listing)} files in {shown_lock}")
    else:
        write(locked, lock)
        out.append(f"locked {len(d.listing)} files in {shown_lock}")
    out += [f"note: {n}" for n in d.notes]
    if d.gated:
        out.append(f"gated: the cluster's hfToken must belong to an account that accepted the license at {HUB}/{repo}")
    out.append(snippet(d).rstrip())
    return "\n".join(out)


def hub_id_problem(repo: str) -> str | None:
    """Why `repo` is not a model id the Hub takes, before any request: <org>/<name>, then the Hub client's
    own rules (huggingface_hub validate_repo_id, utils/_validators.py: at most 96 characters of letters,
    digits, -, _ and . per part, not starting or ending with - or ., no -- or .., not ending in .git)."""
    fix = "use <org>/<name>, e.g. BAAI/bge-m3"
    if not REPO_ID.fullmatch(repo):
        return f"{repo!r} is not a Hub model id — {fix}"
    try:
        validate_repo_id(repo)
    except HFValidationError as e:
        return f"{repo!r} is not a Hub model id ({_reason(e)}) — {fix}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make model", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="Hub model id, <org>/<name>")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    parser.add_argument("--catalog", type=Path, default=None, help="directory of models.yaml (default sizing/)")
    parser.add_argument("--force", action="store_true", help="rewrite the entry this command wrote before")
    parser.add_argument("--dry-run", action="store_true", help="print the entry, write nothing")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer of the Hub")
    args = parser.parse_args(argv)
    root = args.catalog or sizing.models.CATALOG_ROOT
    try:
        print(run(args.model, args.revision, root=root, force=args.force, dry_run=args.dry_run, timeout=args.timeout))
    except Refused as e:
        print(f"make model: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
