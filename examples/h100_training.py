"""Multi-node H100 training: 64 GPUs = 8 x p5.48xlarge on EFA, FSx for Lustre, a bucket, NVMe scratch."""

from provisioner import Bucket, Cluster, LocalScratch, Lustre, NodePool, Software

cluster = Cluster(
    name="llm-train",
    provider="aws",
    region="us-east-1",
    pools=[NodePool(name="gpu", gpu="H100", gpus=64)],  # 64 GPUs -> 8 x p5.48xlarge, EFA, cluster placement
    storage=[
        Lustre(name="shared", mount_point="/fsx", capacity_gib=4800),
        Bucket(name="checkpoints"),
        LocalScratch(mount_point="/scratch"),
    ],
    software=Software(nvidia_driver="580", cuda="12.8"),
    tags={"team": "research", "cost-center": "ml-training"},
)
