"""Compose a pool's user data from the templates. Pure: values that only exist after deploy (a filesystem's
DNS name) are passed in as plain strings by the emitter."""

from __future__ import annotations

import json
from dataclasses import dataclass

from provisioner.bootstrap.templates import environment
from provisioner.errors import ProvisionerError
from provisioner.plan import ClusterPlan, PoolPlan


@dataclass(frozen=True, slots=True)
class LustreMount:
    dns_name: str
    mount_name: str
    mount_point: str


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    body: str


class UserDataTooLargeError(ProvisionerError):
    pass


def node_metadata(plan: ClusterPlan, pool: PoolPlan) -> dict[str, object]:
    """What every node knows about itself; read by the health gate and the schedulers. No secrets."""
    return {
        "cluster": plan.name,
        "provider": plan.provider.value,
        "region": plan.region,
        "pool": pool.name,
        "instance_type": pool.instance_type,
        "gpu": pool.gpu,
        "gpu_vendor": pool.gpu_vendor.value,
        "gpus_per_node": pool.gpus_per_node,
        "interconnect": pool.interconnect.value,
        "fabric_interfaces": pool.fabric_interfaces,
        "fabric_manager": pool.software.fabric_manager,
        "container_runtime": pool.software.container_runtime.value,
    }


def render_user_data(
    plan: ClusterPlan, pool: PoolPlan, lustre: list[LustreMount], limit: int | None = None
) -> str:
    env = environment()
    scripts: list[Script] = []
    if pool.local_scratch:
        body = env.get_template("scripts/scratch.sh.j2").render(mount_point=pool.local_scratch)
        scripts.append(Script("scratch", body))
    if lustre:
        body = env.get_template("scripts/lustre.sh.j2").render(filesystems=lustre)
        scripts.append(Script("lustre", body))
    text = env.get_template("cloud-init/base.yaml.j2").render(
        cluster=plan.name,
        pool=pool,
        node_json=json.dumps(node_metadata(plan, pool), indent=2, sort_keys=True),
        scripts=scripts,
    )
    size = len(text.encode())
    if limit is not None and size > limit:
        raise UserDataTooLargeError(
            f"user data of pool {pool.name!r} is {size} bytes; {plan.provider.value} accepts at most {limit}"
        )
    return text
