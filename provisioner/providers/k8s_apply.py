"""Applying our own Kubernetes manifests (Namespaces, ConfigMaps such as the NCCL settings) through
pulumi_kubernetes, on any managed Kubernetes."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from provisioner.k8s.render import Manifest

APPLIED_KINDS = {"Namespace", "ConfigMap"}


def apply_manifest(
    item: Manifest,
    prefix: str,
    provider: k8s.Provider,
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource],
) -> list[pulumi.Resource]:
    """Our own Namespaces and ConfigMaps, as typed resources (their URNs name kind, namespace and name)."""
    created: list[pulumi.Resource] = []
    opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on)
    for doc in item.documents:
        kind, meta = doc["kind"], doc["metadata"]
        if kind not in APPLIED_KINDS:
            raise ValueError(f"manifest {item.name}: {kind} is not a kind provisioner applies")
        where = meta.get("namespace")
        name = "-".join(part for part in (prefix, kind.lower(), where, meta["name"]) if part)
        if kind == "Namespace":
            created.append(k8s.core.v1.Namespace(name, metadata=meta, opts=opts))
        else:
            created.append(k8s.core.v1.ConfigMap(name, metadata=meta, data=doc.get("data", {}), opts=opts))
    return created
