"""A Kubernetes training cluster on EKS: 2 x p5.48xlarge (16 H100) as one GPU node group with EFA in a
cluster placement group, the NVIDIA GPU operator and the EFA device plugin, two system nodes, FSx for Lustre.
The API server is private; `pulumi up` runs from inside the VPC (or add your range to api_public_cidrs)."""

from provisioner import Cluster, Kubernetes, LocalScratch, Lustre, NodePool

cluster = Cluster(
    name="eks-train",
    provider="aws",
    region="us-east-1",
    pools=[NodePool(name="gpu", gpu="H100", nodes=2, labels={"team": "research"})],
    storage=[
        Lustre(name="shared", mount_point="/fsx", capacity_gib=1200),
        LocalScratch(mount_point="/scratch"),
    ],
    scheduler=Kubernetes(version="1.35"),
    tags={"team": "research"},
)
