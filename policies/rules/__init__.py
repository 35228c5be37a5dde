"""Every policy of the pack, in the order reports list them. Pure: importing this starts nothing.

policies/__main__.py hands POLICIES to PolicyPack; policies/evaluate.py runs the same objects over
the offline preview's resources.
"""

from __future__ import annotations

from pulumi_policy import Policy, ResourceValidationPolicy, StackValidationPolicy

from policies.rules.budget import allowed_gpu_types, max_gpus_at_max_scale, monthly_cost_ceiling
from policies.rules.class_memory import class_options_fit_gpu_memory
from policies.rules.features import cluster_features_ready
from policies.rules.gcp_fields import gcp_field_rules
from policies.rules.gpu_requests import gpu_count_matches_parallelism, gpu_requests_equal_limits
from policies.rules.hygiene import hf_token_from_secret, image_pinned, model_server_has_startup_probe
from policies.rules.images import prod_images_pinned_by_digest
from policies.rules.memory import model_architecture_known, model_fits_gpu_memory
from policies.rules.node_fit import pod_fits_node
from policies.rules.node_pool import node_pool_machine_carries_gpu
from policies.rules.placement import gpu_fits_node, gpu_workload_targets_accelerator
from policies.rules.revisions import revision_pinned
from policies.rules.rollout import await_covers_rollout, rollout_keeps_serving

PACK_NAME = "gke-serving"

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    gpu_requests_equal_limits,
    gpu_count_matches_parallelism,
    model_fits_gpu_memory,
    model_architecture_known,
    hf_token_from_secret,
    image_pinned,
    revision_pinned,
    prod_images_pinned_by_digest,
    model_server_has_startup_probe,
    node_pool_machine_carries_gpu,
    gcp_field_rules,
]

STACK_POLICIES: list[StackValidationPolicy] = [
    gpu_workload_targets_accelerator,
    gpu_fits_node,
    class_options_fit_gpu_memory,
    pod_fits_node,
    rollout_keeps_serving,
    await_covers_rollout,
    cluster_features_ready,
    max_gpus_at_max_scale,
    allowed_gpu_types,
    monthly_cost_ceiling,
]

POLICIES: list[Policy] = [*RESOURCE_POLICIES, *STACK_POLICIES]
