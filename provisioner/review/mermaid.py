"""A cluster's topology as a Mermaid flowchart that GitHub renders in a pull request: the network boundary
(a private VPC, or public addresses behind each node's own filter), each GPU pool, the fabric joining a
pool's nodes, the scheduler, the shared storage and what may reach the nodes from outside. Pure.

Node ids are derived from positions (c0p1, c0s2), never from user text, and every label is escaped, so any
declaration gives a diagram Mermaid parses. Ten pools stay readable: one box per pool, not per node."""

from __future__ import annotations

from provisioner.plan import ClusterPlan, KubernetesPlan, PoolPlan, SlurmPlan
from provisioner.providers.base import provider_info


def label(*lines: str) -> str:
    """A quoted Mermaid label of one or more lines; quotes and angle brackets as entities (Mermaid reads
    `#quot;`), so user text never ends the label or opens HTML."""
    escaped = [
        line.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
        for line in lines
    ]
    return '"' + "<br/>".join(escaped) + '"'


def _fabric(pool: PoolPlan) -> str:
    kind = pool.interconnect.value
    return kind if pool.fabric_interfaces == 0 else f"{kind} x{pool.fabric_interfaces}"


def _pool_box(pool: PoolPlan) -> tuple[str, ...]:
    capacity = "" if pool.capacity.value == "on-demand" else f" ({pool.capacity.value})"
    return (
        f"pool {pool.name}",
        f"{pool.nodes} x {pool.instance_type}{capacity}",
        f"{pool.total_gpus} x {pool.gpu}",
    )


def _storage_box(item: object) -> tuple[str, ...]:
    kind = str(getattr(item, "kind", "storage"))
    name = str(getattr(item, "name", kind))
    lines = [f"{kind} {name}"]
    size = getattr(item, "capacity_gib", None)
    if size:
        lines.append(f"{size:,} GiB")
    mount = getattr(item, "mount_point", None)
    if mount:
        lines.append(str(mount))
    return tuple(lines)


def _boundary(plan: ClusterPlan) -> tuple[str, ...]:
    info = provider_info(plan.provider.value)
    if info is not None and info.host_firewall:
        return (f"{plan.provider.value} {plan.region}", "public addresses, each node filters its own inbound")
    network = plan.network
    where = f"existing VPC {network.vpc_id}" if network.vpc_id else f"private VPC {network.cidr}"
    exposure = "public IPs" if network.public_ips else "no public IPs"
    return (f"{plan.provider.value} {plan.region}", f"{where}, {exposure}")


def cluster_mermaid(plan: ClusterPlan, prefix: str = "c0") -> str:
    """The flowchart of one cluster (without the ```mermaid fence)."""
    lines = ["flowchart LR"]
    net = f"{prefix}net"
    lines.append(f"  subgraph {net}[{label(*_boundary(plan))}]")
    lines.append("    direction TB")
    for i, pool in enumerate(plan.pools):
        lines.append(f"    {prefix}p{i}[{label(*_pool_box(pool))}]")
    scheduler = plan.scheduler
    if isinstance(scheduler, SlurmPlan):
        controller = scheduler.controller
        lines.append(
            f"    {prefix}ctl[[{label(f'Slurm {scheduler.version} controller', controller.instance_type)}]]"
        )
        if scheduler.login is not None:
            lines.append(f"    {prefix}login[{label('Slurm login', scheduler.login.instance_type)}]")
    elif isinstance(scheduler, KubernetesPlan):
        lines.append(
            f"    {prefix}ctl[[{label(f'{scheduler.service} {scheduler.version}', 'control plane')}]]"
        )
    for i, item in enumerate(s for s in plan.storage if getattr(s, "kind", "") in ("lustre", "nfs")):
        lines.append(f"    {prefix}s{i}[({label(*_storage_box(item))})]")
    lines.append("  end")
    fabrics: dict[str, list[int]] = {}
    for i, pool in enumerate(plan.pools):
        if pool.interconnect.value != "none" and pool.nodes > 1:
            fabrics.setdefault(_fabric(pool), []).append(i)
    for j, (fabric, members) in enumerate(sorted(fabrics.items())):
        lines.append(f"  {prefix}f{j}{{{{{label(fabric)}}}}}")
        for i in members:
            lines.append(f"  {prefix}p{i} === {prefix}f{j}")
    shared = [s for s in plan.storage if getattr(s, "kind", "") in ("lustre", "nfs")]
    for i in range(len(plan.pools)):
        for k in range(len(shared)):
            lines.append(f"  {prefix}p{i} --- {prefix}s{k}")
        if scheduler is not None:
            lines.append(f"  {prefix}ctl -.-> {prefix}p{i}")
    if isinstance(scheduler, SlurmPlan) and scheduler.login is not None:
        lines.append(f"  {prefix}login -.-> {prefix}ctl")
    buckets = [s for s in plan.storage if getattr(s, "kind", "") == "bucket"]
    for k, bucket in enumerate(buckets):
        lines.append(f"  {prefix}b{k}[({label(f'bucket {bucket.name}', 'object store')})]")
        lines.append(f"  {net} -.- {prefix}b{k}")
    ssh = [str(c) for c in plan.network.ssh_cidrs]
    if ssh:
        shown = ", ".join(ssh[:3]) + (f" +{len(ssh) - 3}" if len(ssh) > 3 else "")
        lines.append(f"  {prefix}ssh([{label('SSH from', shown)}])")
        lines.append(f"  {prefix}ssh -.-> {net}")
    else:
        lines.append(f"  {prefix}ssh([{label('no SSH ingress')}])")
        lines.append(f"  {prefix}ssh ~~~ {net}")
    return "\n".join(lines) + "\n"
