"""A Kubernetes training cluster on EKS: 2 x p5.48xlarge (16 H100) as one GPU node group with EFA in a
cluster placement group, the NVIDIA GPU operator and the EFA device plugin, two system nodes. The nodes' local
NVMe disks become a RAID0 for the kubelet and containerd (pods' ephemeral storage and images).
`pulumi up` installs the GPU software through the API server: list the ranges it runs from (a public range
here; api_private_cidrs=[...] instead keeps the endpoint private, for a VPN or a runner in the network)."""

from provisioner import Cluster, Kubernetes, NodePool

cluster = Cluster(
    name="eks-train",
    provider="aws",
    region="us-east-1",
    pools=[NodePool(name="gpu", gpu="H100", nodes=2, labels={"team": "research"})],
    scheduler=Kubernetes(version="1.35", api_public_cidrs=["203.0.113.0/24"]),
    tags={"team": "research"},
)
