"""A GKE cluster of H100 nodes on Google Cloud: `pulumi up` deploys it; `provisioner plan .` reviews it
offline.

Two a3-megagpu-8g nodes (16 H100) form one GPU node pool with the eight GPUDirect-TCPXO networks as
additional node networks; GKE installs the NVIDIA driver and its device plugin, so pods that ask for
`nvidia.com/gpu: 8` (and tolerate `nvidia.com/gpu`) run there. Nodes are private; the API server takes only
`apiPublicCidrs` (over the internet) or, with none, only `apiPrivateCidrs` (a private endpoint)."""

import json

import pulumi

from provisioner import Cluster, GpuCluster, Kubernetes, NodePool, declaration_errors

config = pulumi.Config()
gcp_config = pulumi.Config("gcp")

with declaration_errors():  # a bad config value becomes a Pulumi error naming the field, not a traceback
    cluster = Cluster(
        name=f"gke-{pulumi.get_stack()}",
        provider="gcp",
        region=gcp_config.get("region") or "us-central1",
        pools=[
            NodePool(
                name="gpu",
                gpu="H100",
                instance_type="a3-megagpu-8g",
                nodes=config.get_int("nodes") or 2,
                zone=config.get("zone"),  # None: the first zone of the region that has the shape
            )
        ],
        scheduler=Kubernetes(
            version=config.get("kubernetesVersion"),
            api_public_cidrs=json.loads(config.get("apiPublicCidrs") or "[]"),
            api_private_cidrs=json.loads(config.get("apiPrivateCidrs") or "[]"),
        ),
        tags={"stack": pulumi.get_stack()},
    )

gpu_cluster = GpuCluster(cluster.name, cluster)

pulumi.export("cluster_name", gpu_cluster.outputs.get("gke_cluster_name"))
pulumi.export("endpoint", gpu_cluster.outputs.get("gke_endpoint"))
pulumi.export("location", gpu_cluster.outputs.get("gke_location"))
pulumi.export("kubeconfig", gpu_cluster.outputs.get("kubeconfig"))
pulumi.export("node_groups", gpu_cluster.outputs.get("node_groups"))
pulumi.export("hourly_cost_usd", gpu_cluster.plan.cost.per_hour)
