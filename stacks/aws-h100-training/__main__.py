"""A multi-node H100 training cluster: `pulumi up` deploys it; `provisioner plan .` reviews it offline."""

import json

import pulumi

from provisioner import (
    Bucket,
    Cluster,
    GpuCluster,
    LocalScratch,
    Lustre,
    Network,
    NodePool,
    declaration_errors,
)

config = pulumi.Config()
aws_config = pulumi.Config("aws")

with declaration_errors():  # a bad config value becomes a Pulumi error naming the field, not a traceback
    cluster = Cluster(
        name=f"h100-{pulumi.get_stack()}",
        provider="aws",
        region=aws_config.get("region") or "us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=config.get_int("nodes") or 2)],
        storage=[
            Lustre(name="shared", mount_point="/fsx", capacity_gib=config.get_int("lustreGib") or 1200),
            Bucket(name="checkpoints"),
            LocalScratch(mount_point="/scratch"),
        ],
        network=Network(ssh_cidrs=json.loads(config.get("sshCidrs") or "[]")),
        tags={"stack": pulumi.get_stack()},
    )

gpu_cluster = GpuCluster(cluster.name, cluster)

pulumi.export("node_groups", gpu_cluster.outputs.get("pools"))
pulumi.export("filesystems", gpu_cluster.outputs.get("filesystems"))
pulumi.export("buckets", gpu_cluster.outputs.get("buckets"))
pulumi.export("hourly_cost_usd", gpu_cluster.plan.cost.per_hour)
