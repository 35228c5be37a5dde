"""One regional load balancer per environment: a Gateway, and per service a route and its LB policies.

Manifest bodies are built by the plain functions below; the component only registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import naming
from config.platform import GatewayConfig
from workloads.deployment import PRESTOP_SECONDS
from workloads.inference_pool import pool_ref
from workloads.server import ServerSpec

GATEWAY_NAME = naming.GATEWAY  # the Kubernetes Gateway object, in the serving namespace
GATEWAY_API = "gateway.networking.k8s.io/v1"
GKE_POLICY_API = "networking.gke.io/v1"
IAP_SECRET_NAME = naming.IAP_SECRET
LISTENER = "api"
INTERNAL_CLASSES = frozenset({"gke-l7-rilb"})
# GKE's option naming regional Certificate Manager certificates on a listener (GKE "Secure a Gateway").
CERT_MANAGER_OPTION = "networking.gke.io/cert-manager-certs"


def address_type(class_name: str) -> str:
    """The regional address an L7 load balancer of this class can use."""
    return "INTERNAL" if class_name in INTERNAL_CLASSES else "EXTERNAL"


def gateway_spec(class_name: str, address_name: str, certificate: str | None) -> dict[str, Any]:
    """HTTPS on 443 with the certificate, or plain HTTP on 80 when there is none.

    No HTTP listener next to HTTPS: a redirect would invite clients to send their bearer key in
    clear text first.
    """
    if certificate:
        listener = {
            "name": LISTENER,
            "protocol": "HTTPS",
            "port": 443,
            "tls": {"mode": "Terminate", "options": {CERT_MANAGER_OPTION: certificate}},
        }
    else:
        listener = {"name": LISTENER, "protocol": "HTTP", "port": 80}
    listener["allowedRoutes"] = {"namespaces": {"from": "Same"}, "kinds": [{"kind": "HTTPRoute"}]}
    return {
        "gatewayClassName": class_name,
        "listeners": [listener],
        # A reserved address keeps the gateway's IP (and any DNS record) across re-creations.
        "addresses": [{"type": "NamedAddress", "value": address_name}],
    }


def prefix(service: str) -> str:
    return f"/{service}"


def http_route_spec(
    service: str, service_port: int, served_paths: tuple[str, ...], backend: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`/<service>/v1/chat/completions` reaches the server as `/v1/chat/completions`: OpenAI clients keep
    their usual paths. Only the runtime's client API is routed, each path exactly: admin and
    unauthenticated paths (vLLM's /invocations, /pause; /metrics) answer 404 at the load balancer.
    `backend`: another backendRef than the service's Service (its InferencePool)."""
    backend_ref = backend or {"name": service, "port": service_port}
    return {
        "parentRefs": [{"name": GATEWAY_NAME, "sectionName": LISTENER}],
        "rules": [
            {
                "matches": [{"path": {"type": "Exact", "value": f"{prefix(service)}{path}"}}],
                # ReplacePrefixMatch only goes with PathPrefix matches; an exact path is rewritten whole.
                "filters": [
                    {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": path}}}
                ],
                "backendRefs": [backend_ref],
            }
            for path in served_paths
        ],
    }


def service_ref(service: str) -> dict[str, str]:
    return {"group": "", "kind": "Service", "name": service}


def health_check_policy_spec(target: dict[str, str], port: int, path: str) -> dict[str, Any]:
    """The load balancer's own probe on the server's health path (its default is `/` on the port), for the
    service's pods behind `target`: its Service, or its InferencePool when the picker routes it."""
    return {
        "targetRef": target,
        "default": {
            # A busy LLM answers /health slowly; three misses in a row, not one, take a pod out.
            "checkIntervalSec": 10,
            "timeoutSec": 5,
            "healthyThreshold": 1,
            "unhealthyThreshold": 3,
            # The CRD's CEL rules (gke-gateway-api 2f7b936, 2026-04) refuse a port without USE_FIXED_PORT.
            "config": {
                "type": "HTTP",
                "httpHealthCheck": {"portSpecification": "USE_FIXED_PORT", "port": port, "requestPath": path},
            },
        },
    }


def backend_timeout_seconds(generates: bool, gateway: GatewayConfig) -> int:
    """Embedding servers answer in seconds; generation streams for minutes (Triton may serve LLMs)."""
    return gateway.request_timeout_seconds if generates else gateway.embedding_timeout_seconds


def backend_policy_spec(
    target: dict[str, str], timeout_seconds: int, iap_client_id: str | None = None
) -> dict[str, Any]:
    """The request timeout and draining of the backend behind `target` (on GKE an InferencePool's timeout is this
    policy's, not the HTTPRoute's: the llm-d-router chart's gke.yaml). `iap_client_id`: the load balancer admits
    only identities IAP lets through (for servers without a key check of their own)."""
    default: dict[str, Any] = {
        "timeoutSec": timeout_seconds,
        # Draining as long as the pods' preStop sleep: in-flight requests finish on a pod
        # the load balancer has stopped choosing.
        "connectionDraining": {"drainingTimeoutSec": PRESTOP_SECONDS},
    }
    if iap_client_id:
        default["iap"] = {"enabled": True, "clientID": iap_client_id, "oauth2ClientSecret": {"name": IAP_SECRET_NAME}}
    return {"targetRef": target, "default": default}


def service_urls(scheme: str, host: str, services: list[str]) -> dict[str, str]:
    return {s: f"{scheme}://{host}{prefix(s)}" for s in services}


def service_checks(
    service: str, spec: ServerSpec, gateway: GatewayConfig, pooled: bool, iap_client: str | None
) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """What a service gets on the gateway: role (its resource name's suffix) -> API, kind, spec. A picker-routed
    service's route leads to its InferencePool, which the load balancer's health check and policy then target."""
    timeout = backend_timeout_seconds(spec.generates, gateway)
    target = pool_ref(service) if pooled else service_ref(service)
    route = http_route_spec(service, spec.port, spec.served_paths, pool_ref(service) if pooled else None)
    check = health_check_policy_spec(target, spec.port, spec.health_path)
    backend = backend_policy_spec(target, timeout, None if pooled else iap_client)
    return {
        "route": (GATEWAY_API, "HTTPRoute", route),
        "health-check": (GKE_POLICY_API, "HealthCheckPolicy", check),
        "backend-policy": (GKE_POLICY_API, "GCPBackendPolicy", backend),
    }


@dataclass(frozen=True)
class GatewayArgs:
    config: GatewayConfig
    project: str
    region: str
    name_prefix: str  # GCP names (address, subnet, certificate) start with it: the cluster's name
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    namespace: pulumi.Input[str]
    backends: Mapping[str, ServerSpec]  # service name -> what its server listens on
    iap_services: frozenset[str] = frozenset()  # services the load balancer guards with IAP
    iap_client_secret: pulumi.Input[str] | None = None  # the OAuth client's secret (a secret Output)
    pooled: frozenset[str] = frozenset()  # services routed through an InferencePool and its endpoint picker


class Gateway(pulumi.ComponentResource):
    address: pulumi.Output[str]
    service_urls: pulumi.Output[dict[str, str]]
    dns_records: pulumi.Output[list[dict[str, str]]] | None  # to create in the domain's zone
    openai_url: pulumi.Output[str] | None  # the shared /v1 endpoint; None: no service is picker-routed

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:Gateway", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        lb_prerequisites: list[pulumi.Resource] = []
        if cfg.create_proxy_subnet:
            lb_prerequisites.append(
                gcp.compute.Subnetwork(
                    f"{name}-proxy-subnet",
                    project=args.project,
                    region=args.region,
                    name=f"{args.name_prefix}-proxy-only",
                    network=args.network,
                    ip_cidr_range=cfg.proxy_subnet_cidr,
                    # Regional Envoy-based load balancers need one ACTIVE proxy-only subnet per region and VPC.
                    purpose="REGIONAL_MANAGED_PROXY",
                    role="ACTIVE",
                    opts=child,
                )
            )
        internal = address_type(cfg.class_name) == "INTERNAL"
        address = gcp.compute.Address(
            f"{name}-address",
            project=args.project,
            region=args.region,
            name=f"{args.name_prefix}-gateway",
            address_type=address_type(cfg.class_name),
            subnetwork=args.subnetwork if internal else None,
            # GKE's internal-Gateway docs reserve it shared, so each listener's forwarding rule may use it.
            purpose="SHARED_LOADBALANCER_VIP" if internal else None,
            opts=child,
        )
        lb_prerequisites.append(address)
        certificate_name: pulumi.Input[str] | None = None
        self.dns_records = None
        if cfg.domain:
            certificate, self.dns_records = self._certificate(name, args, cfg.domain, address.address)
            certificate_name = certificate.name
            lb_prerequisites.append(certificate)
        k8s.apiextensions.CustomResource(
            f"{name}-k8s",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata={"name": GATEWAY_NAME, "namespace": args.namespace, "labels": _labels()},
            spec=pulumi.Output.all(address.name, certificate_name).apply(
                lambda a: gateway_spec(cfg.class_name, a[0], a[1])
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=lb_prerequisites),
        )
        if args.iap_services and cfg.iap is not None:
            k8s.core.v1.Secret(
                f"{name}-iap-client",
                metadata={"name": IAP_SECRET_NAME, "namespace": args.namespace, "labels": _labels()},
                type="Opaque",
                # GKE reads the OAuth client secret from the key `key` (GCPBackendPolicy iap docs).
                string_data={"key": args.iap_client_secret},
                opts=child,
            )
        for service, spec in args.backends.items():
            meta = {"name": service, "namespace": args.namespace, "labels": _labels()}
            iap_client = cfg.iap.oauth_client_id if cfg.iap and service in args.iap_services else None
            pooled = service in args.pooled
            for role, (api, kind, body) in service_checks(service, spec, cfg, pooled, iap_client).items():
                k8s.apiextensions.CustomResource(
                    f"{name}-{service}-{role}", api_version=api, kind=kind, metadata=meta, spec=body, opts=child
                )
        self.address = address.address
        scheme = "https" if cfg.domain else "http"
        host: pulumi.Input[str] = cfg.domain or address.address
        names = list(args.backends)
        self.service_urls = pulumi.Output.from_input(host).apply(lambda h: service_urls(scheme, h, names))
        # The shared OpenAI endpoint (workloads/body_routing.py), where some service is picker-routed.
        self.openai_url = pulumi.Output.from_input(host).apply(lambda h: f"{scheme}://{h}/v1") if args.pooled else None
        self.register_outputs({"address": self.address, "serviceUrls": self.service_urls})

    def _certificate(
        self,
        name: str,
        args: GatewayArgs,
        domain: str,
        address: pulumi.Output[str],
    ) -> tuple[gcp.certificatemanager.Certificate, pulumi.Output[list[dict[str, str]]]]:
        """A Google-managed regional certificate; regional ones are only issued through DNS authorization."""
        child = pulumi.ResourceOptions(parent=self)
        api = gcp.projects.Service(
            f"{name}-certificatemanager",
            project=args.project,
            service="certificatemanager.googleapis.com",
            disable_on_destroy=False,
            opts=child,
        )
        after_api = pulumi.ResourceOptions(parent=self, depends_on=[api])
        authorization = gcp.certificatemanager.DnsAuthorization(
            f"{name}-dns-authorization",
            project=args.project,
            location=args.region,
            name=f"{args.name_prefix}-gateway",
            domain=domain,
            opts=after_api,
        )
        certificate = gcp.certificatemanager.Certificate(
            f"{name}-certificate",
            project=args.project,
            location=args.region,
            name=f"{args.name_prefix}-gateway",
            managed={"domains": [domain], "dns_authorizations": [authorization.id]},
            opts=after_api,
        )

        def records(values: list[Any]) -> list[dict[str, str]]:
            ip, challenge = values
            cname = _field(challenge[0] if challenge else None)
            return [
                {"name": f"{domain}.", "type": "A", "data": ip},
                *([{"name": cname["name"], "type": cname["type"], "data": cname["data"]}] if cname else []),
            ]

        return certificate, pulumi.Output.all(address, authorization.dns_resource_records).apply(records)


def _field(record: Any) -> dict[str, str] | None:
    # Nested outputs arrive as typed objects or, under some engines, as plain dicts.
    if record is None:
        return None
    if isinstance(record, dict):
        return {k: str(record[k]) for k in ("name", "type", "data")}
    return {k: str(getattr(record, k)) for k in ("name", "type", "data")}


def _labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": "gke-serving",
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/component": "gateway",
    }
