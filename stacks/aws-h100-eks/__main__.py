"""An EKS cluster of H100 nodes: `pulumi up` deploys it; `provisioner plan .` reviews it offline.

Pods that ask for `nvidia.com/gpu: 8` and `vpc.amazonaws.com/efa: 32` (and tolerate `nvidia.com/gpu`) run on
the GPU node group; `provisioner verify . --kubeconfig FILE` checks every node advertises its GPUs. The API
server takes the ranges `pulumi up` runs from: `apiPublicCidrs` (over the internet) or `apiPrivateCidrs`
(a private endpoint, through a VPN or from inside the network)."""

import json

import pulumi

from provisioner import (
    Cluster,
    GpuCluster,
    Kubernetes,
    NodePool,
    declaration_errors,
)

config = pulumi.Config()
aws_config = pulumi.Config("aws")

with declaration_errors():  # a bad config value becomes a Pulumi error naming the field, not a traceback
    cluster = Cluster(
        name=f"eks-{pulumi.get_stack()}",
        provider="aws",
        region=aws_config.get("region") or "us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=config.get_int("nodes") or 2)],
        scheduler=Kubernetes(
            version=config.get("kubernetesVersion"),
            api_public_cidrs=json.loads(config.get("apiPublicCidrs") or "[]"),
            api_private_cidrs=json.loads(config.get("apiPrivateCidrs") or "[]"),
            admins=json.loads(config.get("admins") or "[]"),
        ),
        tags={"stack": pulumi.get_stack()},
    )

gpu_cluster = GpuCluster(cluster.name, cluster)

pulumi.export("cluster_name", gpu_cluster.outputs.get("eks_cluster_name"))
pulumi.export("kubeconfig", gpu_cluster.outputs.get("kubeconfig"))
pulumi.export("node_groups", gpu_cluster.outputs.get("node_groups"))
pulumi.export("helm_releases", gpu_cluster.outputs.get("helm_releases"))
pulumi.export("hourly_cost_usd", gpu_cluster.plan.cost.per_hour)
