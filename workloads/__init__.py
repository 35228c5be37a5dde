"""Model servers (TEI, TGI, vLLM, Triton), gateway, autoscaling, monitoring."""

from workloads.autoscaling import Autoscaling, AutoscalingArgs, Scaled
from workloads.gateway import Gateway, GatewayArgs
from workloads.model_server import ModelServer, ModelServerArgs
from workloads.network_policy import ServingNetworkPolicies, ServingNetworkPoliciesArgs

__all__ = [
    "Autoscaling",
    "AutoscalingArgs",
    "Gateway",
    "GatewayArgs",
    "ModelServer",
    "ModelServerArgs",
    "Scaled",
    "ServingNetworkPolicies",
    "ServingNetworkPoliciesArgs",
]
