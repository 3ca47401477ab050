"""User data of managed Kubernetes GPU nodes on the EKS AL2023 images: a nodeadm NodeConfig, merged by EKS
with its own (the node group passes the cluster's endpoint and CA). Pure.

The image brings the driver, the container toolkit and the EFA driver, and nodeadm joins the node, so no
provisioner boot steps run: what is left to say is how to use the local NVMe disks (a RAID0 for the kubelet
and containerd, which nodeadm builds and mounts itself)."""

from __future__ import annotations

from email.message import Message
from email.mime.multipart import MIMEMultipart
from typing import Any

import yaml

from provisioner.plan import ClusterPlan, PoolPlan

NODECONFIG_MEDIA_TYPE = "application/node.eks.aws"
BOUNDARY = "PROVISIONER-NODECONFIG"


def node_config(plan: ClusterPlan, pool: PoolPlan) -> dict[str, Any] | None:
    """The NodeConfig of a pool's nodes; None when they need nothing beyond what EKS gives, and on other
    services (GKE takes local SSD as ephemeral storage in the node pool itself)."""
    if pool.local_nvme_gb_per_node <= 0 or plan.provider.value != "aws":
        return None
    return {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {"instance": {"localStorage": {"strategy": "RAID0"}}},
    }


def node_user_data(plan: ClusterPlan, pool: PoolPlan) -> str | None:
    """MIME multi-part user data (EKS merges a launch template's user data only in that form), or None."""
    config = node_config(plan, pool)
    if config is None:
        return None
    message = MIMEMultipart("mixed", boundary=BOUNDARY)
    part = Message()
    part["Content-Type"] = NODECONFIG_MEDIA_TYPE
    part.set_payload("---\n" + yaml.safe_dump(config, sort_keys=True))
    message.attach(part)
    return message.as_string()
