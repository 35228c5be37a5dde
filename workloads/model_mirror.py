"""The environment's model mirror: a bucket, one Job per model@commit filling its prefix with the files the
servers read, the identities that write one prefix each or read the bucket, and what each load path keeps
beside the bucket copy (loads/). Manifest bodies are plain functions in loads/mirror.py; this registers.

Design:
- Bucket `<cluster>-models-<hash of project>` (or `modelMirror.bucket`), uniform bucket-level access (IAM
  conditions need it), public access prevention enforced, never force-destroyed.
- Writer: one Google service account per environment (`<cluster>-mirror`) for the Jobs, bound by Workload
  Identity to the KSA `model-mirror`, with roles/storage.objectUser on the bucket under an IAM condition per
  model@commit: resource.name starts with that prefix. The Job never lists: it GETs each object it checks and
  takes a 403 as absent as well as a 404 (a caller without list permission is reported to get 403 for a missing
  object: loads/scripts/mirror_copy.py says from where).
- Reader: one Google service account per environment (`<cluster>-models`), roles/storage.objectViewer on the
  bucket, bound to the KSA `model-reader` that every serving pod loading from the mirror runs as.
- A Job per model@commit (`mirror-<hash>`) on the system pool, the only pod with the HF token: it exits 0 at
  once when `<prefix>/.complete` exists, else copies exactly the servers' files (the model's lock, or the
  servers' file patterns over the Hub's listing), checks every object's size and writes the marker last.
- Serving pods wait for the marker in an init container (the Cloud Storage JSON API with the pod's Workload
  Identity token), not for the Job object.
- A LoRA adapter@commit is a copy like a model's (its own Job, marker and writer condition) holding the files its
  server reads of an adapter; the pods that serve it mount the bucket read-only for it (loads/adapters.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import naming
from config import Environment
from config.services import ServiceConfig, load_of
from infra.identity import WorkloadIdentity, WorkloadIdentityArgs, grant_bucket_read, workload_identity
from infra.secrets import HF_TOKEN_KEY
from loads import MirrorContext, Placed, load_path, load_paths, mirror
from loads.adapters import ADAPTER_LOAD, AdapterCopy
from loads.files import served
from loads.mirror import Copy
from loads.scripts.repo_files import union
from runtimes import runtime_of
from settings.lora import LoraAdapter
from settings.mirror import WeightSource, bucket_name, job_name
from sizing.memory import lora_slot_bytes
from sizing.models import resolve
from workloads.probes import duration, served_files, weights_gib

# [estimate] An adapter without a lock is sized as one over every linear module and the embeddings of its base
# model at its rank, in float32 (PEFT keeps the trained LoRA weights in float32 unless they are cast).
ADAPTER_ESTIMATE_BYTES = 4.0

WRITER_KSA = naming.MIRROR_WRITER_KSA
READER_KSA = naming.MIRROR_READER_KSA


def weight_sources(env: Environment) -> dict[str, WeightSource]:
    """Service -> the mirror copy its pods load, for every service whose load reads the mirror."""
    if env.model_mirror is None:
        return {}
    bucket = bucket_name(env.model_mirror, env.cluster.name, env.project)
    found = {}
    for name, service in env.services.items():
        load = load_of(service, mirror=True)
        if load is None or not load_path(load).reads_mirror or service.revision is None:
            continue  # config refuses a mirror load without a commit
        found[name] = WeightSource(load, bucket, service.model, service.revision)
    return found


def copies(env: Environment, sources: dict[str, WeightSource]) -> dict[str, Copy]:
    """One bucket copy per model@commit, holding what every server of it reads (by prefix)."""
    readers: dict[str, list[ServiceConfig]] = {}
    for name, source in sorted(sources.items()):
        readers.setdefault(source.prefix, []).append(env.services[name])
    found = {}
    for prefix, services in readers.items():
        source = next(sources[n] for n in sorted(sources) if sources[n].prefix == prefix)
        served = [served_files(s) for s in services]
        patterns = _merged_patterns(services)
        listed = union([s.files for s in served if s is not None]) if all(s is not None for s in served) else None
        verified = all(s is not None and s.lock.verified for s in served)
        found[prefix] = Copy(
            source,
            listed,
            patterns,
            max((g for s in services if (g := weights_gib(s)) is not None), default=None),
            enforced=verified,
        )
    return found


def adapter_copies(env: Environment) -> dict[str, tuple[AdapterCopy, ...]]:
    """Service -> the mirror copy of each LoRA adapter it serves (none without a mirror: config refuses them)."""
    if env.model_mirror is None:
        return {}
    bucket = bucket_name(env.model_mirror, env.cluster.name, env.project)
    found = {}
    for name, service in sorted(env.services.items()):
        adapters = runtime_of(service).adapters(service)
        if adapters:
            found[name] = tuple(
                AdapterCopy(_adapter_copy(service, a, WeightSource(ADAPTER_LOAD, bucket, a.model, a.revision)))
                for a in adapters
            )
    return found


def adapter_mirror_copies(env: Environment) -> dict[str, Copy]:
    """One bucket copy per adapter@commit (by prefix), however many services serve it."""
    return {a.source.prefix: a.copy for served_adapters in adapter_copies(env).values() for a in served_adapters}


def _adapter_copy(service: ServiceConfig, adapter: LoraAdapter, source: WeightSource) -> Copy:
    """The files the service's server reads of the adapter: from its lock when there is one (sizing/locks/), else
    selected by the server's adapter patterns from the Hub's listing, sized from its base model and rank."""
    lora = runtime_of(service).facts_for(service).lora
    patterns = lora.files if lora is not None else {}
    files = served(adapter.model, adapter.revision, patterns)
    base = resolve(adapter.base_model)
    estimate = lora_slot_bytes(base[1], adapter.rank, 1, ADAPTER_ESTIMATE_BYTES) / 2**30 if base else None
    return Copy(
        source,
        files.files if files is not None else None,
        patterns,
        estimate,
        enforced=files is not None and files.lock.verified,
    )


def _merged_patterns(services: list[ServiceConfig]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for service in services:
        for kind, patterns in runtime_of(service).facts_for(service).files.items():
            merged[kind] = sorted({*merged.get(kind, []), *patterns})
    return merged


def placements(env: Environment, sources: dict[str, WeightSource], found: dict[str, Copy]) -> dict[str, list[Placed]]:
    """Per load path, each copy it reads with the zones of the pools whose pods read it that way."""
    zones: dict[tuple[str, str], set[str]] = {}
    for name, source in sources.items():
        for shape in env.shapes(env.services[name]):
            zones.setdefault((source.load, source.prefix), set()).update(shape.zones)
    placed: dict[str, list[Placed]] = {}
    for (load, prefix), where in sorted(zones.items()):
        placed.setdefault(load, []).append(Placed(found[prefix], tuple(sorted(where))))
    return placed


@dataclass(frozen=True)
class ModelMirrorArgs:
    project: str
    region: str
    bucket: str
    existing: bool
    cluster: str  # the cluster's name: the Google service accounts' ids start with it
    namespace: pulumi.Input[str]
    hf_token_secret: str
    gcp_labels: dict[str, str]
    copies: tuple[Copy, ...]  # one per model@commit, however many services load it
    sources: dict[str, WeightSource]  # service -> the copy it loads
    placed: dict[str, list[Placed]]  # load path -> the copies it reads and where
    queue_seconds: int = 0  # how long a Job may wait for a system node behind the others
    adapters: dict[str, tuple[AdapterCopy, ...]] = field(default_factory=dict)  # service -> its adapters' copies

    @classmethod
    def of(
        cls, env: Environment, namespace: pulumi.Input[str], hf_token_secret: str, labels: dict[str, str]
    ) -> ModelMirrorArgs:
        if env.model_mirror is None:
            raise ValueError("the environment has no modelMirror")
        sources = weight_sources(env)
        found = copies(env, sources)
        every = {**found, **adapter_mirror_copies(env)}  # the adapters' Jobs queue for system nodes too
        return cls(
            project=env.project,
            region=env.region,
            bucket=bucket_name(env.model_mirror, env.cluster.name, env.project),
            existing=env.model_mirror.existing,
            cluster=env.cluster.name,
            namespace=namespace,
            hf_token_secret=hf_token_secret,
            gcp_labels=labels,
            copies=tuple(every[p] for p in sorted(every)),
            sources=sources,
            placed=placements(env, sources, found),
            queue_seconds=mirror.queue_seconds(tuple(every.values()), env.cluster.system_pool.min_nodes),
            adapters=adapter_copies(env),
        )


class ModelMirror(pulumi.ComponentResource):
    jobs: dict[str, k8s.batch.v1.Job]  # by prefix
    reader_ksa: str
    sources: dict[str, WeightSource]  # service -> the copy it loads
    adapters: dict[str, tuple[AdapterCopy, ...]]  # service -> its LoRA adapters' copies
    kept: dict[tuple[str, str], pulumi.Resource]  # (load path, prefix) -> what the path keeps beside the copy

    def ready_for(self, service: str) -> pulumi.Resource | None:
        """What a service's first rollout waits for: what its load path keeps of the copy (a Hyperdisk ML
        claim), else the Job filling its bucket copy."""
        source = self.sources.get(service)
        if source is None:
            return None
        return self.kept.get((source.load, source.prefix)) or self.jobs.get(source.prefix)

    def adapters_ready_for(self, service: str) -> tuple[pulumi.Resource, ...]:
        """The Jobs filling the copies of a service's LoRA adapters: its first rollout waits for them too."""
        return tuple(self.jobs[a.source.prefix] for a in self.adapters.get(service, ()))

    def __init__(self, name: str, args: ModelMirrorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:ModelMirror", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket: pulumi.Input[str] = args.bucket
        after_bucket = child
        if not args.existing:
            created = gcp.storage.Bucket(
                f"{name}-bucket",
                project=args.project,
                name=args.bucket,
                location=args.region.upper(),  # same region as the nodes: no egress, lowest latency
                uniform_bucket_level_access=True,  # IAM only (no ACLs): IAM conditions need it
                public_access_prevention="enforced",
                force_destroy=False,  # `pulumi destroy` fails on a non-empty mirror rather than emptying it
                labels=args.gcp_labels,
                opts=child,
            )
            bucket = created.name
            after_bucket = pulumi.ResourceOptions(parent=self, depends_on=[created])
        writer = self._identity(name, "writer", naming.mirror_writer_account_id(args.cluster), WRITER_KSA, args)
        reader = self._identity(name, "reader", naming.mirror_reader_account_id(args.cluster), READER_KSA, args)
        grant_bucket_read(f"{name}-reader-objects", bucket, reader, after_bucket)
        self.reader_ksa = READER_KSA
        self.sources = args.sources
        self.adapters = args.adapters
        self.jobs = {}
        scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata={
                "name": mirror.SCRIPTS_CONFIGMAP,
                "namespace": args.namespace,
                "labels": {"app.kubernetes.io/part-of": "gke-serving", "app.kubernetes.io/component": "model-mirror"},
            },
            data=mirror.scripts_configmap_data(),
            opts=child,
        )
        for copy in args.copies:
            source = copy.source
            key = naming.short_hash(source.prefix)
            binding = gcp.storage.BucketIAMMember(
                f"{name}-writer-{key}",
                bucket=bucket,
                role="roles/storage.objectUser",  # create, overwrite (a retried upload) and read, no IAM
                member=writer.member,
                condition=mirror.prefix_condition(args.bucket, source.prefix),
                opts=after_bucket,
            )
            # `pulumi up` waits in wall-clock time: the Job's own attempts, and the others' ahead of it for a node.
            seconds = mirror.job_seconds(copy.gib) + args.queue_seconds + 60
            self.jobs[source.prefix] = k8s.batch.v1.Job(
                f"{name}-job-{key}",
                metadata={
                    "name": job_name(source.model, source.commit),
                    "namespace": args.namespace,
                    "labels": mirror.labels(source),
                    "annotations": mirror.job_annotations(source),
                },
                spec=cast(Any, mirror.mirror_job_spec(copy, (args.hf_token_secret, HF_TOKEN_KEY), WRITER_KSA)),
                # pulumi-kubernetes waits for a Job to complete (Job docstring), 10 minutes by default: as long
                # as the Job may run. A Job's template is immutable: a change replaces it, and the new Job
                # finds the marker and exits 0.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[binding, scripts],
                    custom_timeouts=pulumi.CustomTimeouts(create=duration(seconds), update=duration(seconds)),
                ),
            )
        ctx = MirrorContext(self, name, args.namespace, READER_KSA, dict(self.jobs), args.queue_seconds)
        self.kept = {
            (load, prefix): resource
            for load, path in load_paths().items()
            for prefix, resource in path.register(ctx, tuple(args.placed.get(load, ()))).items()
        }
        self.register_outputs(
            {"bucket": bucket, "copies": sorted(self.jobs), "kept": sorted(f"{k[0]}:{k[1]}" for k in self.kept)}
        )

    def _identity(self, name: str, role: str, account_id: str, ksa: str, args: ModelMirrorArgs) -> WorkloadIdentity:
        return workload_identity(
            f"{name}-{role}",
            WorkloadIdentityArgs(
                project=args.project,
                account_id=account_id,
                display_name=f"model mirror {role} of gs://{args.bucket}",
                namespace=args.namespace,
                ksa=ksa,
                labels={"app.kubernetes.io/part-of": "gke-serving", "app.kubernetes.io/component": "model-mirror"},
            ),
            pulumi.ResourceOptions(parent=self),
        )
