"""The Pulumi components of what runs on the cluster, and the pure manifest builders they register.

One ModelServer per `services` entry, whatever its runtime (runtimes/) and load path (loads/): its
Deployment from deployment.py, server.py (what the runtime asks for), probes.py, pod_resources.py and
weights_fit.py. Beside it: the model mirror (model_mirror.py), the gateway, autoscaling on the servers'
queue metrics with the metrics adapter, each service's API key, the serving namespace's network
policies, and monitoring (observability.py registering dashboard.py's and alerts.py's data). Picker-routed
services get an InferencePool and endpoint picker (inference_pool.py) and a route on the shared /v1 endpoint
(body_routing.py), registered by inference_routing.py.
"""

from workloads.autoscaling import Autoscaling, AutoscalingArgs, Scaled
from workloads.gateway import Gateway, GatewayArgs
from workloads.inference_routing import InferenceRouting, InferenceRoutingArgs, model_names, picked_services
from workloads.model_server import ModelServer, ModelServerArgs
from workloads.network_policy import ServingNetworkPolicies, ServingNetworkPoliciesArgs

__all__ = [
    "Autoscaling",
    "AutoscalingArgs",
    "Gateway",
    "GatewayArgs",
    "InferenceRouting",
    "InferenceRoutingArgs",
    "ModelServer",
    "ModelServerArgs",
    "Scaled",
    "ServingNetworkPolicies",
    "ServingNetworkPoliciesArgs",
    "model_names",
    "picked_services",
]
