"""A Kubernetes training cluster on GKE: 2 x a3-highgpu-8g (16 H100) as one GPU node pool whose four
GPUDirect-TCPX NICs are additional node networks, two e2-standard-4 system nodes, and a regional control plane
with private nodes and Workload Identity. GKE installs the NVIDIA driver and its own device plugin (no chart),
so pods ask for `nvidia.com/gpu: 8` and tolerate the `nvidia.com/gpu` taint. The nodes' local SSDs become the
kubelet's ephemeral storage. The API server takes only the listed ranges (api_private_cidrs=[...] instead
makes the endpoint private, for a VPN or a runner in the network)."""

from provisioner import Cluster, Kubernetes, NodePool

cluster = Cluster(
    name="gke-train",
    provider="gcp",
    region="us-central1",
    pools=[
        NodePool(name="gpu", gpu="H100", instance_type="a3-highgpu-8g", nodes=2, labels={"team": "research"})
    ],
    scheduler=Kubernetes(version="1.35", api_public_cidrs=["203.0.113.0/24"]),
    tags={"team": "research"},
)
