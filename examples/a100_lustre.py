"""A100 80GB fine-tuning: 2 x p4de.24xlarge on EFA with a 2.4 TiB FSx for Lustre filesystem."""

from provisioner import Cluster, Lustre, Network, NodePool

cluster = Cluster(
    name="a100-finetune",
    provider="aws",
    region="us-west-2",
    pools=[NodePool(name="a100", gpu="A100-80GB", nodes=2)],
    storage=[Lustre(name="data", mount_point="/lustre", capacity_gib=2400, throughput_mib_per_tib=500)],
    network=Network(ssh_cidrs=["203.0.113.0/24"]),  # SSH from the office range only; SSM works too
)
