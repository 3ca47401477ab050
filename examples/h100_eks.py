"""A Kubernetes training cluster on EKS: 2 x p5.48xlarge (16 H100) as one GPU node group with EFA in a
cluster placement group, the NVIDIA GPU operator and the EFA device plugin, two system nodes. The nodes' local
NVMe disks become a RAID0 for the kubelet and containerd (pods' ephemeral storage and images).
The API server is private; `pulumi up` runs from inside the VPC (or add your range to api_public_cidrs)."""

from provisioner import Cluster, Kubernetes, NodePool

cluster = Cluster(
    name="eks-train",
    provider="aws",
    region="us-east-1",
    pools=[NodePool(name="gpu", gpu="H100", nodes=2, labels={"team": "research"})],
    scheduler=Kubernetes(version="1.35"),
    tags={"team": "research"},
)
