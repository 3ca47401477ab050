"""A Slurm cluster of H100 nodes: `pulumi up` deploys it; `provisioner plan .` reviews it offline.

`sbatch --gres=gpu:8` runs on the pool's nodes, which join as dynamic nodes; users log in to the login node
with Session Manager (or SSH from `sshCidrs`)."""

import json

import pulumi

from provisioner import (
    Cluster,
    GpuCluster,
    LocalScratch,
    Lustre,
    Network,
    NodePool,
    Slurm,
    SlurmLogin,
    Software,
    declaration_errors,
)

config = pulumi.Config()
aws_config = pulumi.Config("aws")
logins = config.get_int("loginNodes")
if logins is None:
    logins = 1

with declaration_errors():  # a bad config value becomes a Pulumi error naming the field, not a traceback
    cluster = Cluster(
        name=f"slurm-{pulumi.get_stack()}",
        provider="aws",
        region=aws_config.get("region") or "us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=config.get_int("nodes") or 2)],
        storage=[
            Lustre(name="shared", mount_point="/fsx", capacity_gib=config.get_int("lustreGib") or 1200),
            LocalScratch(mount_point="/scratch"),
        ],
        software=Software(enroot=True),
        network=Network(ssh_cidrs=json.loads(config.get("sshCidrs") or "[]")),
        scheduler=Slurm(
            login=SlurmLogin(count=logins) if logins > 0 else None,
            accounting=config.get_bool("accounting") is not False,
        ),
        tags={"stack": pulumi.get_stack()},
    )

gpu_cluster = GpuCluster(cluster.name, cluster)

pulumi.export("controller_ip", gpu_cluster.outputs.get("slurm_controller_ip"))
pulumi.export("login_group", gpu_cluster.outputs.get("slurm_login_group"))
pulumi.export("node_groups", gpu_cluster.outputs.get("pools"))
pulumi.export("filesystems", gpu_cluster.outputs.get("filesystems"))
pulumi.export("hourly_cost_usd", gpu_cluster.plan.cost.per_hour)
