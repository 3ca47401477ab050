"""A Slurm training cluster: 2 x p5.48xlarge (16 H100) as dynamic compute nodes, a controller with job
accounting, one login node, /home and /fsx on FSx for Lustre, Enroot + Pyxis for containers."""

from provisioner import (
    Cluster,
    LocalScratch,
    Lustre,
    NodePool,
    Slurm,
    SlurmLogin,
    SlurmPartition,
    Software,
)

cluster = Cluster(
    name="slurm-train",
    provider="aws",
    region="us-east-1",
    pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
    storage=[
        Lustre(name="shared", mount_point="/fsx", capacity_gib=1200),
        LocalScratch(mount_point="/scratch"),
    ],
    software=Software(enroot=True),
    scheduler=Slurm(
        login=SlurmLogin(count=1),
        accounting=True,
        partitions=[SlurmPartition(name="gpu", pools=["gpu"], default=True, max_time="7-00:00:00")],
    ),
    tags={"team": "research"},
)
