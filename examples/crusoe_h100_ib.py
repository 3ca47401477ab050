"""Four 8 x H100 SXM nodes on Crusoe's InfiniBand (h100-80gb-sxm-ib.8x, $31.20/h each) in one IB partition,
a shared disk for data, the boot through Crusoe's startup script."""

from provisioner import CapacityKind, Cluster, CrusoeOptions, Network, Nfs, NodePool, Software

cluster = Cluster(
    name="crusoe-train",
    provider="crusoe",
    region="us-east1-a",
    pools=[
        # 32 GPUs -> 4 x h100-80gb-sxm-ib.8x with their own InfiniBand partition; Crusoe sells H100 SXM on
        # reserved capacity, which VMs join by themselves
        NodePool(name="gpu", gpu="H100", gpus=32, capacity=CapacityKind.RESERVATION),
    ],
    storage=[Nfs(name="data", mount_point="/data", capacity_gib=2048)],  # a Crusoe shared disk (virtiofs)
    network=Network(ssh_cidrs=["203.0.113.0/24"]),
    software=Software(container_runtime="docker"),
    options=CrusoeOptions(
        project_id="198e7c51-9ed2-41db-b3c8-baeee40d7592",
        ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample0key0for0docs0only you@laptop",
    ),
    tags={"team": "research"},
)
