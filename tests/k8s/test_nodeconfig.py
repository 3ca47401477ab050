"""The user data of EKS GPU nodes: a MIME multi-part message (the only form EKS merges with its own) with a
nodeadm NodeConfig that puts the local NVMe disks in a RAID0 for the kubelet and containerd."""

from __future__ import annotations

import email

import yaml

from provisioner.catalog import shipped_catalog
from provisioner.k8s.nodeconfig import NODECONFIG_MEDIA_TYPE, node_config, node_user_data
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.spec import Cluster, Kubernetes, NodePool


def plan(instance_type: str) -> ClusterPlan:
    cluster = Cluster(
        name="k",
        provider="aws",
        region="us-east-1",
        pools=[
            NodePool(
                name="gpu",
                gpu="H100" if instance_type.startswith("p5") else "L4",
                nodes=1,
                instance_type=instance_type,
            )
        ],
        scheduler=Kubernetes(),
    )
    return plan_cluster(cluster, shipped_catalog())


def test_nvme_nodes_get_a_raid0_nodeconfig_in_mime() -> None:
    p = plan("p5.48xlarge")
    assert p.pools[0].local_nvme_gb_per_node > 0
    text = node_user_data(p, p.pools[0])
    assert text is not None
    message = email.message_from_string(text)
    assert message.is_multipart() and message.get_content_type() == "multipart/mixed"
    parts = [part for part in message.walk() if not part.is_multipart()]
    assert [part.get_content_type() for part in parts] == [NODECONFIG_MEDIA_TYPE]
    config = yaml.safe_load(parts[0].get_payload())
    assert config == node_config(p, p.pools[0])
    assert config["apiVersion"] == "node.eks.aws/v1alpha1" and config["kind"] == "NodeConfig"
    assert config["spec"]["instance"]["localStorage"]["strategy"] == "RAID0"


def test_nodes_without_local_disks_need_no_user_data() -> None:
    p = plan("g6.xlarge")
    if p.pools[0].local_nvme_gb_per_node > 0:  # g6.xlarge has a local NVMe disk in the catalog
        assert node_user_data(p, p.pools[0]) is not None
    bare = p.pools[0].model_copy(update={"local_nvme_gb_per_node": 0})
    assert node_user_data(p, bare) is None
