"""Model servers (TEI, TGI, vLLM, Triton), gateway, autoscaling, monitoring."""

from workloads.model_server import ModelServer, ModelServerArgs

__all__ = ["ModelServer", "ModelServerArgs"]
