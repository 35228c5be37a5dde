"""Mocks that answer like GCP and Kubernetes would, so code that reads computed outputs runs."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs
from pulumi.runtime.rpc import wrap_rpc_secret

# A syntactically real (self-signed, expired) CA so kubeconfig code handles realistic bytes.
_FAKE_CA = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUOfflinePreviewOnlyNotARealClusterCA0wCgYIKoZIzj0E\n"
    b"-----END CERTIFICATE-----\n"
).decode()


def _digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _ip(name: str, first: int) -> str:
    h = hashlib.sha256(name.encode()).digest()
    return f"{first}.{h[0]}.{h[1]}.{max(h[2], 1)}"


class GcpAndKubernetesMocks(pulumi.runtime.Mocks):
    def __init__(self, project: str, stack: str) -> None:
        self.project, self.stack = project, stack

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        computed = self._computed(args.typ, args.name, inputs)
        state = {**inputs, **computed}
        resource_id = str(computed.get("id") or f"{args.name}-{_digest(args.typ, args.name)}")
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:  # noqa: ARG002
        return {}, None  # the program makes no provider calls

    def _computed(self, typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        p = inputs.get("project", self.project)
        n = str(inputs.get("name") or name)
        if typ == "gcp:container/cluster:Cluster":
            location = inputs.get("location", "us-central1")
            return {
                "id": f"projects/{p}/locations/{location}/clusters/{n}",
                "endpoint": _ip(n, 34),
                "masterVersion": "1.34.1-gke.1829001",
                "masterAuth": {"clusterCaCertificate": _FAKE_CA},
                "controlPlaneEndpointsConfig": {
                    "dnsEndpointConfig": {
                        "endpoint": f"gke-{_digest(n, length=32)}.{location}.gke.goog",
                        "allowExternalTraffic": True,
                    }
                },
                "selfLink": f"https://container.googleapis.com/v1/projects/{p}/locations/{location}/clusters/{n}",
            }
        if typ == "gcp:container/nodePool:NodePool":
            return {"id": f"{p}/{inputs.get('location')}/{inputs.get('cluster')}/{n}", "version": "1.34.1-gke.1829001"}
        if typ == "gcp:serviceaccount/account:Account":
            email = f"{inputs['accountId']}@{p}.iam.gserviceaccount.com"
            return {
                "id": f"projects/{p}/serviceAccounts/{email}",
                "email": email,
                "member": f"serviceAccount:{email}",
                "name": f"projects/{p}/serviceAccounts/{email}",
                "uniqueId": str(int(_digest(email, length=12), 16)),
            }
        if typ == "gcp:compute/network:Network":
            return {
                "id": f"projects/{p}/global/networks/{n}",
                "selfLink": f"https://www.googleapis.com/compute/v1/projects/{p}/global/networks/{n}",
            }
        if typ == "gcp:compute/subnetwork:Subnetwork":
            region = inputs.get("region")
            return {"id": f"projects/{p}/regions/{region}/subnetworks/{n}", "gatewayAddress": "10.10.0.1"}
        if typ in ("gcp:compute/address:Address", "gcp:compute/globalAddress:GlobalAddress"):
            return {"address": _ip(n, 35), "id": f"projects/{p}/addresses/{n}"}
        if typ == "gcp:certificatemanager/dnsAuthorization:DnsAuthorization":
            location = inputs.get("location", "global")
            # Regional authorizations are PER_PROJECT_RECORD: a CNAME under _acme-challenge_<id>.
            return {
                "id": f"projects/{p}/locations/{location}/dnsAuthorizations/{n}",
                "dnsResourceRecords": [
                    {
                        "name": f"_acme-challenge_{_digest(p, n, length=16)}.{inputs['domain']}.",
                        "type": "CNAME",
                        "data": f"{_digest(n, length=8)}.{location}.authorize.certificatemanager.goog.",
                    }
                ],
            }
        if typ == "gcp:certificatemanager/certificate:Certificate":
            return {"id": f"projects/{p}/locations/{inputs.get('location', 'global')}/certificates/{n}"}
        if typ == "gcp:secretmanager/secret:Secret":
            secret = f"projects/{p}/secrets/{inputs['secretId']}"
            return {"id": secret, "name": secret}
        if typ == "gcp:secretmanager/secretVersion:SecretVersion":
            return {"name": f"{inputs.get('secret')}/versions/1", "version": "1"}
        if typ == "random:index/randomPassword:RandomPassword":
            # Marked secret the way the engine marks it on the wire (an Output here would need an
            # event loop, and the mock runs in the SDK's executor thread).
            return {"result": wrap_rpc_secret(f"preview-{_digest(name, length=24)}")}
        if typ.startswith("kubernetes:") and isinstance(inputs.get("metadata"), dict):
            meta = {**inputs["metadata"], "uid": _digest(typ, name, length=32)}
            return {"metadata": meta}
        return {}
