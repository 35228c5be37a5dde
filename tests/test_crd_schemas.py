"""Each vendored schema (preview/crd_schemas/) accepts an example from its upstream and refuses what the cluster
or the picker refuses: the CEL rules, the defaults the API server applies first, and the closed objects."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml

from preview.manifests import CRD_SCHEMAS, crd_schema_path, validate_manifest, with_defaults

K8S = "1.34"

# kubernetes-sigs/gateway-api-inference-extension v1.5.0 config/charts/inferencepool/templates/inferencepool.yaml,
# rendered with the chart's values.yaml (extProcPort 9002, failureMode FailOpen) and one target port.
INFERENCE_POOL = """
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: vllm-llama3-8b-instruct, namespace: default}
spec:
  targetPorts:
  - number: 8000
  appProtocol: http
  selector:
    matchLabels: {app: vllm-llama3-8b-instruct}
  endpointPickerRef:
    name: vllm-llama3-8b-instruct-epp
    port: {number: 9002}
    failureMode: FailOpen
"""

# llm-d/llm-d-router v0.10.0 config/manifests/inferenceobjective.yaml (the first of its objects).
INFERENCE_OBJECTIVE = """
apiVersion: llm-d.ai/v1alpha2
kind: InferenceObjective
metadata: {name: small-segment-lora, namespace: default}
spec:
  priority: 1
  poolRef: {group: inference.networking.k8s.io, name: vllm-qwen3-32b}
"""

# gateway-api-inference-extension v1.5.0 config/charts/body-based-routing/templates/gke.yaml with its values.yaml
# (bbr.name body-based-router, port 9004, healthCheckPort 9005).
ROUTING_EXTENSION = """
apiVersion: networking.gke.io/v1
kind: GCPRoutingExtension
metadata: {name: body-based-router, namespace: default}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: Gateway, name: inference-gateway}
  extensionChains:
  - name: chain1
    extensions:
    - name: ext1
      authority: myext.com
      timeout: 1s
      supportedEvents: [RequestHeaders, RequestBody, RequestTrailers]
      requestBodySendMode: FullDuplexStreamed
      backendRef: {group: "", kind: Service, name: body-based-router, port: 9004}
"""

# The same chart file's HealthCheckPolicy (gRPC, fixed port) ...
BBR_HEALTH_CHECK = """
apiVersion: networking.gke.io/v1
kind: HealthCheckPolicy
metadata: {name: bbr-healthcheck, namespace: default}
spec:
  default:
    logConfig: {enabled: true}
    config:
      type: GRPC
      grpcHealthCheck: {portSpecification: USE_FIXED_PORT, port: 9005}
  targetRef: {group: "", kind: Service, name: body-based-router, namespace: default}
"""

# ... and v1.5.0 config/charts/inferencepool/templates/gke.yaml, whose HTTP check sets a port without
# portSpecification: written before the April 2026 rule, the current CRD refuses it.
POOL_HEALTH_CHECK = """
apiVersion: networking.gke.io/v1
kind: HealthCheckPolicy
metadata: {name: vllm-llama3-8b-instruct, namespace: default}
spec:
  targetRef: {group: inference.networking.k8s.io, kind: InferencePool, name: vllm-llama3-8b-instruct}
  default:
    timeoutSec: 2
    checkIntervalSec: 2
    config:
      type: HTTP
      httpHealthCheck: {requestPath: /health, port: 8000}
"""

# The same file's GCPBackendPolicy.
POOL_BACKEND_POLICY = """
apiVersion: networking.gke.io/v1
kind: GCPBackendPolicy
metadata: {name: vllm-llama3-8b-instruct, namespace: default}
spec:
  targetRef: {group: inference.networking.k8s.io, kind: InferencePool, name: vllm-llama3-8b-instruct}
  default:
    timeoutSec: 300
    logging: {enabled: true}
"""

# GoogleCloudPlatform/accelerated-platforms (commit 18843e7)
# platforms/gke/base/core/custom_compute_class/templates/manifests/gpu/l4-24gb/custom-compute-gpu-l4-24gb-s8-x1.yaml:
# no whenUnsatisfiable (required, defaulted by the API server), flex-start options with maxRunDurationSeconds.
COMPUTE_CLASS = """
apiVersion: cloud.google.com/v1
kind: ComputeClass
metadata: {name: gpu-l4-24gb-s8-x1}
spec:
  activeMigration: {optimizeRulePriority: true}
  nodePoolAutoCreation: {enabled: true}
  priorities:
  - gpu: {count: 1, driverVersion: latest, type: nvidia-l4}
    machineType: g2-standard-8
    maxPodsPerNode: 32
    reservations: {affinity: AnyBestEffort}
    spot: false
  - gpu: {count: 1, driverVersion: latest, type: nvidia-l4}
    machineType: g2-standard-8
    maxPodsPerNode: 32
    spot: false
  - flexStart:
      enabled: true
      nodeRecycling: {leadTimeSeconds: 3600}
    gpu: {count: 1, driverVersion: latest, type: nvidia-l4}
    machineType: g2-standard-8
    maxPodsPerNode: 32
    maxRunDurationSeconds: 604800
  - gpu: {count: 1, driverVersion: latest, type: nvidia-l4}
    machineType: g2-standard-8
    maxPodsPerNode: 32
    spot: true
"""

# llm-d/llm-d-router v0.10.0 config/charts/routerlib/templates/_config.yaml, default-plugins.yaml rendered with
# the chart's defaults (model server type vllm over http: no parser, no latency predictor).
PICKER_CONFIG = """
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: prefix-cache-scorer
- type: metrics-data-source
  parameters: {scheme: http, path: /metrics, insecureSkipVerify: true}
- type: core-metrics-extractor
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - {pluginRef: prefix-cache-scorer, weight: 3}
"""

SAMPLES = [
    INFERENCE_POOL,
    INFERENCE_OBJECTIVE,
    ROUTING_EXTENSION,
    BBR_HEALTH_CHECK,
    POOL_BACKEND_POLICY,
    COMPUTE_CLASS,
    PICKER_CONFIG,
]


def load(text: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(text)
    return body


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: load(s)["kind"])
def test_the_upstream_example_is_accepted(sample: str) -> None:
    assert validate_manifest(load(sample), K8S) == []


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: load(s)["kind"])
def test_a_misspelt_field_is_refused(sample: str) -> None:
    body = load(sample)
    body.get("spec", body)["colour"] = "blue"
    assert any("'colour' was unexpected" in e for e in validate_manifest(body, K8S))


def errors_of(sample: str, change: Any) -> list[str]:
    body = load(sample)
    change(body)
    return validate_manifest(body, K8S)


# --- InferencePool, InferenceObjective -------------------------------------------------------------------------


def test_an_inference_pool_takes_at_most_eight_distinct_target_ports() -> None:
    nine = errors_of(INFERENCE_POOL, lambda b: b["spec"].update(targetPorts=[{"number": 8000 + i} for i in range(9)]))
    assert any(e.startswith("spec.targetPorts: ") and "is too long" in e for e in nine), nine
    twice = errors_of(INFERENCE_POOL, lambda b: b["spec"].update(targetPorts=[{"number": 8000}, {"number": 8000}]))
    assert twice == ["spec.targetPorts: port number must be unique"]


def test_a_picker_service_reference_needs_its_port() -> None:
    """kind defaults to Service (applied before the rule runs), and a Service reference needs a port."""
    errors = errors_of(INFERENCE_POOL, lambda b: b["spec"]["endpointPickerRef"].pop("port"))
    assert errors == [
        "spec.endpointPickerRef: port is required when kind is 'Service' or unspecified (defaults to 'Service')"
    ]


def test_gaie_v1_5_requires_the_picker_reference() -> None:
    errors = errors_of(INFERENCE_POOL, lambda b: b["spec"].pop("endpointPickerRef"))
    assert errors == ["spec: 'endpointPickerRef' is a required property"]


def test_an_objective_needs_its_pool_and_an_integer_priority() -> None:
    assert errors_of(INFERENCE_OBJECTIVE, lambda b: b["spec"].pop("poolRef")) == [
        "spec: 'poolRef' is a required property"
    ]
    assert errors_of(INFERENCE_OBJECTIVE, lambda b: b["spec"].update(priority="high")) != []


# --- GCPRoutingExtension ---------------------------------------------------------------------------------------


def extension(body: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = body["spec"]["extensionChains"][0]["extensions"][0]
    return found


PATH = "spec.extensionChains.0.extensions.0"


def test_a_routing_extension_timeout_above_ten_seconds_is_refused() -> None:
    assert errors_of(ROUTING_EXTENSION, lambda b: extension(b).update(timeout="10s")) == []
    errors = errors_of(ROUTING_EXTENSION, lambda b: extension(b).update(timeout="11s"))
    assert errors == [f"{PATH}: timeout must be between 10-10000 milliseconds"]


def test_full_duplex_streaming_needs_the_request_trailers_event() -> None:
    errors = errors_of(
        ROUTING_EXTENSION, lambda b: extension(b).update(supportedEvents=["RequestHeaders", "RequestBody"])
    )
    assert len(errors) == 1
    assert errors[0].startswith(f"{PATH}: If requestBodySendMode is set to `FullDuplexStreamed`")


def test_a_backend_reference_needs_an_authority() -> None:
    errors = errors_of(ROUTING_EXTENSION, lambda b: extension(b).pop("authority"))
    assert errors == [f"{PATH}: authority must be set if backendRef is set"]


def test_the_backend_reference_group_and_kind_are_defaulted_before_their_required_check() -> None:
    def bare(body: dict[str, Any]) -> None:
        extension(body)["backendRef"] = {"name": "body-based-router", "port": 9004}

    assert errors_of(ROUTING_EXTENSION, bare) == []


# --- HealthCheckPolicy, GCPBackendPolicy ---------------------------------------------------------------------


def test_a_health_check_port_without_port_specification_is_refused() -> None:
    """The rules of USE_FIXED_PORT and USE_NAMED_PORT read the absent field (an error refuses the object), and the
    one of USE_SERVING_PORT, the default, refuses a port."""
    errors = validate_manifest(load(POOL_HEALTH_CHECK), K8S)
    at = "spec.default.config.httpHealthCheck: "
    assert [e.startswith(at) and "no such key: portSpecification" in e for e in errors] == [True, True, False]
    assert (
        errors[2]
        == f"{at}port and portName must be unset for portSpecification being USE_SERVING_PORT (which is the default)"
    )


def test_a_fixed_port_health_check_passes_and_a_serving_port_one_takes_no_port() -> None:
    fixed = load(POOL_HEALTH_CHECK)
    check = fixed["spec"]["default"]["config"]["httpHealthCheck"]
    check["portSpecification"] = "USE_FIXED_PORT"
    assert validate_manifest(fixed, K8S) == []
    check["portSpecification"] = "USE_SERVING_PORT"
    assert validate_manifest(fixed, K8S) == [
        "spec.default.config.httpHealthCheck: port and portName must be unset for portSpecification being "
        "USE_SERVING_PORT (which is the default)"
    ]


def test_a_health_check_timeout_above_its_interval_is_refused() -> None:
    body = load(BBR_HEALTH_CHECK)
    body["spec"]["default"].update(checkIntervalSec=2, timeoutSec=3)
    assert validate_manifest(body, K8S) == ["spec.default: timeOutSec cannot exceed checkIntervalSec"]
    del body["spec"]["default"]["checkIntervalSec"]
    body["spec"]["default"]["timeoutSec"] = 6  # the interval defaults to 5
    assert len(validate_manifest(body, K8S)) == 1


def test_a_backend_policy_takes_the_backend_preference_added_upstream() -> None:
    body = load(POOL_BACKEND_POLICY)
    body["spec"]["default"]["backendPreference"] = "PREFERRED"
    assert validate_manifest(body, K8S) == []
    body["spec"]["default"]["backendPreference"] = "FIRST"
    assert validate_manifest(body, K8S) != []


# --- ComputeClass ------------------------------------------------------------------------------------------------


def option(body: dict[str, Any], index: int) -> dict[str, Any]:
    found: dict[str, Any] = body["spec"]["priorities"][index]
    return found


def test_a_node_pool_option_carries_nothing_else() -> None:
    def pools_only(body: dict[str, Any]) -> None:
        body["spec"]["priorities"][0] = {"nodepools": ["l4-reserved"]}

    assert errors_of(COMPUTE_CLASS, pools_only) == []
    errors = errors_of(COMPUTE_CLASS, lambda b: option(b, 1).update(nodepools=["l4-reserved"]))
    assert errors == ["spec.priorities.1: Nodepool field cannot be set along with other fields"]


def test_flex_start_excludes_spot() -> None:
    errors = errors_of(COMPUTE_CLASS, lambda b: option(b, 2).update(spot=True))
    assert errors == ["spec.priorities.2: Flex Start provisioning model is incompatible with Spot"]


def test_when_unsatisfiable_is_defaulted_and_checked() -> None:
    schema = json.loads(crd_schema_path("cloud.google.com/v1", "ComputeClass").read_text())
    assert with_defaults(schema, load(COMPUTE_CLASS))["spec"]["whenUnsatisfiable"] == "DoNotScaleUp"
    assert errors_of(COMPUTE_CLASS, lambda b: b["spec"].update(whenUnsatisfiable="Wait")) != []


def test_max_run_duration_sits_on_the_option_and_a_specific_reservation_needs_names() -> None:
    assert errors_of(COMPUTE_CLASS, lambda b: b["spec"].update(maxRunDurationSeconds=3600)) != []
    errors = errors_of(COMPUTE_CLASS, lambda b: option(b, 0).update(reservations={"affinity": "Specific"}))
    assert errors == ["spec.priorities.0.reservations: At least 1 specific reservation required for specific affinity"]


# --- EndpointPickerConfig ----------------------------------------------------------------------------------------


def test_an_unknown_plugin_type_is_refused() -> None:
    errors = errors_of(PICKER_CONFIG, lambda b: b["plugins"][0].update(type="queue-scorrer"))
    assert len(errors) == 2, errors  # the type, and the profile's reference to a plugin now named otherwise
    assert errors[0].startswith("plugins.0.type: 'queue-scorrer' is not one of ['active-request-scorer'")


def test_a_profile_must_reference_a_listed_plugin_by_name_or_type() -> None:
    errors = errors_of(
        PICKER_CONFIG, lambda b: b["schedulingProfiles"][0]["plugins"].append({"pluginRef": "lora-affinity-scorer"})
    )
    assert errors == ["(object): every pluginRef of a scheduling profile must name a plugin of this file"]

    def named(body: dict[str, Any]) -> None:
        body["plugins"].append({"name": "lora", "type": "lora-affinity-scorer"})
        body["schedulingProfiles"][0]["plugins"].append({"pluginRef": "lora", "weight": 1})

    assert errors_of(PICKER_CONFIG, named) == []


def test_plugin_names_are_unique() -> None:
    errors = errors_of(PICKER_CONFIG, lambda b: b["plugins"].append({"type": "queue-scorer"}))
    assert errors == ["(object): plugin names must be unique (an unnamed plugin is named after its type)"]


def test_plugin_parameters_are_decoded_strictly_where_the_plugin_reads_them() -> None:
    def prefix(parameters: dict[str, Any]) -> list[str]:
        return errors_of(PICKER_CONFIG, lambda b: b["plugins"][2].update(parameters=parameters))

    assert prefix({"matchLengthWeight": 0.5, "matchLengthScaleTokens": 4096}) == []
    assert prefix({"matchLengthWeight": 1.5}) != []
    assert prefix({"blockSize": 64}) != []  # not a field of the v0.10.0 scorer
    assert errors_of(PICKER_CONFIG, lambda b: b["plugins"][3]["parameters"].update(scheme="grpc")) != []
    assert errors_of(PICKER_CONFIG, lambda b: b["plugins"][0].update(parameters={"anything": 1})) == []


def test_a_weight_is_a_number() -> None:
    errors = errors_of(PICKER_CONFIG, lambda b: b["schedulingProfiles"][0]["plugins"][0].update(weight="2"))
    assert errors == ["schedulingProfiles.0.plugins.0.weight: '2' is not of type 'number'"]


def test_samples_are_not_changed_by_validation() -> None:
    body = load(ROUTING_EXTENSION)
    extension(body)["backendRef"] = {"name": "bbr", "port": 9004}
    before = copy.deepcopy(body)
    assert validate_manifest(body, K8S) == []
    assert body == before  # defaults are applied to a copy: the manifest written is the one built


# --- sources ----------------------------------------------------------------------------------------------------


def test_every_vendored_schema_is_indexed_with_its_pinned_source() -> None:
    """The README's row of each file gives its repository and a commit or tag, and the file's `$comment` names the
    same repository (two Gateway API files predate the index: their rows say so)."""
    rows = [line for line in (CRD_SCHEMAS / "README.md").read_text().splitlines() if line.startswith("| `")]
    files = sorted(CRD_SCHEMAS.glob("*.json"))
    assert files
    for path in files:
        (row,) = [r for r in rows if f"`{path.name}`" in r]
        if "not recorded" in row:
            continue
        assert re.search(r"\b[0-9a-f]{7}\b|\bv\d+\.\d+\.\d+\b", row), path.name  # a commit or a tag, not a branch
        repository = re.search(r"[\w.-]+/[\w.-]+", row.split("|")[2])
        assert repository, path.name
        assert repository.group() in json.loads(path.read_text())["$comment"], path.name
