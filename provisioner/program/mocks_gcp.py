"""What the fake cloud answers for Google Cloud resources and functions under the mock runtime.

Made-up but well-formed: self links, ids, addresses, emails, as Google Cloud returns them, derived from the
resource's name so that equal programs give equal plans. No network, no credentials."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

FAKE_PROJECT = "provisioner-plan"
"""The project a plan shows where the declaration and the stack name none."""
COMPUTE = "https://www.googleapis.com/compute/v1"


def _digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def fake_address(*parts: str, prefix: str = "10.0") -> str:
    n = int(_digest("address", *parts, length=6), 16)
    return f"{prefix}.{n // 256 % 250}.{2 + n % 250}"


def _self_link(project: str, module_kind: str, name: str, where: str) -> str:
    collections = {
        "Network": "networks",
        "Subnetwork": "subnetworks",
        "Firewall": "firewalls",
        "InstanceTemplate": "instanceTemplates",
        "RegionInstanceTemplate": "instanceTemplates",
        "InstanceGroupManager": "instanceGroupManagers",
        "Instance": "instances",
        "ResourcePolicy": "resourcePolicies",
        "Router": "routers",
        "GlobalAddress": "addresses",
    }
    collection = collections.get(module_kind, module_kind.lower() + "s")
    scope = "global" if where == "global" else where
    if scope != "global":
        scope = f"zones/{where}" if where.count("-") == 2 else f"regions/{where}"
    return f"{COMPUTE}/projects/{project}/{scope}/{collection}/{name}"


def fake_gcp_outputs(
    module: str, kind: str, name: str, inputs: dict[str, Any], region: str, state: dict[str, Any]
) -> str:
    """Fill `state` with what Google Cloud reports of a created resource; returns its id."""
    project = str(inputs.get("project") or FAKE_PROJECT)
    resource = str(inputs.get("name") or f"{name}-{_digest(module, kind, name, length=7)}")
    state["name"] = resource
    state.setdefault("project", project)
    if module == "compute":
        where = str(inputs.get("zone") or inputs.get("region") or "global")
        if kind in ("Network", "Firewall", "GlobalAddress", "InstanceTemplate"):
            where = "global"
        link = _self_link(project, kind, resource, where)
        state.setdefault("selfLink", link)
        if kind in ("InstanceTemplate", "RegionInstanceTemplate"):
            state.setdefault(
                "selfLinkUnique", f"{link}?uniqueId={int(_digest('template', name, length=12), 16)}"
            )
        if kind == "InstanceGroupManager":
            state.setdefault("instanceGroup", link.replace("instanceGroupManagers", "instanceGroups"))
        if kind == "Instance":
            nics = [dict(n) for n in inputs.get("networkInterfaces") or [{}]]
            for i, nic in enumerate(nics):
                nic.setdefault("networkIp", fake_address(name, str(i)))
            state["networkInterfaces"] = nics
            state.setdefault("instanceId", str(int(_digest("instance", name, length=12), 16)))
        if kind == "GlobalAddress" and not inputs.get("address"):
            state["address"] = "172.24.0.0"
        if kind == "Address" and not inputs.get("address"):
            state["address"] = fake_address(name, "address")
        return f"projects/{project}/{where}/{kind.lower()}s/{resource}"
    if module == "serviceaccount" and kind == "Account":
        account = str(inputs.get("accountId") or resource)
        email = f"{account}@{project}.iam.gserviceaccount.com"
        state.update(email=email, member=f"serviceAccount:{email}", uniqueId=_digest("sa", name, length=21))
        return f"projects/{project}/serviceAccounts/{email}"
    if module == "secretmanager" and kind == "Secret":
        secret_id = str(inputs.get("secretId") or resource)
        state.update(secretId=secret_id, name=f"projects/{project}/secrets/{secret_id}")
        return str(state["name"])
    if module == "secretmanager" and kind == "SecretVersion":
        state.setdefault("name", f"{inputs.get('secret', '')}/versions/1")
        state.setdefault("version", "1")
        return str(state["name"])
    if module == "storage" and kind == "Bucket":
        bucket = str(inputs.get("name") or f"{name}-{_digest('bucket', name, length=7)}")
        state.update(
            name=bucket, url=f"gs://{bucket}", selfLink=f"https://www.googleapis.com/storage/v1/b/{bucket}"
        )
        return bucket
    if module == "filestore" and kind == "Instance":
        networks = [dict(n) for n in inputs.get("networks") or [{}]]
        for n in networks:
            n.setdefault("ipAddresses", [fake_address(name, prefix="172.24")])
        state["networks"] = networks
        return f"projects/{project}/locations/{inputs.get('location', region)}/instances/{resource}"
    if module == "lustre" and kind == "Instance":
        instance = str(inputs.get("instanceId") or resource)
        address = fake_address(name, prefix="172.24")
        state.update(mountPoint=f"{address}@tcp:/{inputs.get('filesystem', 'lustre')}", state="ACTIVE")
        return f"projects/{project}/locations/{inputs.get('location', region)}/instances/{instance}"
    if module == "container" and kind == "Cluster":
        state.update(fake_gke_cluster(name, state, region))
    return f"projects/{project}/{module}/{kind.lower()}/{resource}"


def fake_gke_cluster(name: str, state: dict[str, Any], region: str) -> dict[str, Any]:
    """What GKE reports of a created cluster: its endpoint and CA."""
    return {
        "endpoint": fake_address(name, "gke", prefix="172.31"),
        "masterAuth": {
            **dict(state.get("masterAuth") or {}),
            "clusterCaCertificate": base64.b64encode(b"fake certificate authority").decode(),
        },
        "selfLink": f"https://container.googleapis.com/v1/projects/{FAKE_PROJECT}/locations/{region}/clusters/{name}",
    }


def fake_gcp_call(token: str, args: dict[str, Any], region: str) -> dict[str, Any] | None:
    """Results of the Google Cloud functions an emitter may call; None for tokens of other packages."""
    if not token.startswith("gcp:"):
        return None
    if token == "gcp:organizations/getProject:getProject":
        project = str(args.get("projectId") or FAKE_PROJECT)
        return {"id": f"projects/{project}", "projectId": project, "number": str(int(_digest(project), 16))}
    if token == "gcp:organizations/getClientConfig:getClientConfig":
        return {
            "id": "client",
            "project": FAKE_PROJECT,
            "region": region,
            "zone": f"{region}-a",
            "accessToken": "fake-token",
        }
    return {}
