"""Compose a pool's user data: a cloud-config that writes the boot steps and starts them as a service.

Pure: values that exist only after deploy (a filesystem's DNS name) are passed in as plain strings by the
emitter. Nothing secret is ever rendered here: nodes fetch secrets with their instance identity.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from types import SimpleNamespace

from provisioner.bootstrap.context import NodeContext, node_context, support_context
from provisioner.bootstrap.mounts import HostFirewall, LustreMount, NfsMount, VolumeMount
from provisioner.bootstrap.slurm import (
    SlurmWiring,
    controller_units,
    node_health_script,
    prune_script,
    slurm_node_context,
)
from provisioner.bootstrap.steps import steps_for
from provisioner.bootstrap.templates import environment
from provisioner.errors import ProvisionerError
from provisioner.plan import ClusterPlan, PoolPlan

__all__ = [
    "LustreMount",
    "NfsMount",
    "NodeFile",
    "RenderedPool",
    "UserDataTooLargeError",
    "compose",
    "node_files",
    "node_metadata",
    "render_cloud_config",
    "render_pool",
    "render_support",
    "render_support_user_data",
    "render_user_data",
    "user_data_payload",
]


@dataclass(frozen=True, slots=True)
class NodeFile:
    path: str
    mode: str
    content: str


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


SLURM_DIR = "/opt/provisioner/slurm"


def slurm_files(ctx: NodeContext, health_script: str | None) -> list[NodeFile]:
    """The Slurm files of a node: the configuration the controller serves, or a compute node's health check
    and the join that runs once the node passed its health gate."""
    if ctx.slurm is None:
        return []
    files = [NodeFile(f"{SLURM_DIR}/etc/{name}", "0644", text) for name, text in ctx.slurm.configs]
    if health_script is not None:
        files.append(NodeFile(f"{SLURM_DIR}/node-health.sh", "0755", health_script))
    if ctx.role == "controller":
        files.append(NodeFile(f"{SLURM_DIR}/prune-nodes.sh", "0755", prune_script()))
        sync = environment().get_template("slurm/sync-config.sh.j2").render(ctx=ctx, slurm=ctx.slurm)
        files.append(NodeFile(f"{SLURM_DIR}/sync-config.sh", "0755", sync))
        files += [
            NodeFile(f"/etc/systemd/system/{name}", "0644", text) for name, text in controller_units().items()
        ]
    if ctx.role == "gpu":
        join = environment().get_template("slurm/join.sh.j2").render(ctx=ctx, slurm=ctx.slurm)
        files.append(NodeFile("/opt/provisioner/join.sh", "0755", join))
    return files


def node_files(
    ctx: NodeContext, metadata: dict[str, object], extra: Sequence[NodeFile] = ()
) -> list[NodeFile]:
    """Every file the node gets, in the order they are written: what `provisioner render` shows a reviewer."""
    env = environment()
    steps = steps_for(ctx)
    files = [
        NodeFile("/etc/provisioner/node.json", "0644", json.dumps(metadata, indent=2, sort_keys=True) + "\n"),
        NodeFile("/opt/provisioner/lib.sh", "0644", env.get_template("node/lib.sh.j2").render(ctx=ctx)),
        *extra,
    ]
    files += [
        NodeFile(
            f"/opt/provisioner/steps/{step.name}.sh", "0755", env.get_template(step.template).render(ctx=ctx)
        )
        for step in steps
    ]
    files += [
        NodeFile(
            "/opt/provisioner/health-check.sh",
            "0755",
            env.get_template("node/health-check.sh.j2").render(ctx=ctx),
        ),
        NodeFile(
            "/opt/provisioner/bootstrap.sh",
            "0755",
            env.get_template("node/bootstrap.sh.j2").render(ctx=ctx, steps=steps),
        ),
        NodeFile(
            "/etc/systemd/system/provisioner-bootstrap.service",
            "0644",
            env.get_template("node/provisioner-bootstrap.service.j2").render(ctx=ctx),
        ),
    ]
    return files


def early_firewall(ctx: NodeContext) -> str | None:
    """The node's nftables ruleset, base64 (one shell word), for cloud-init's bootcmd: loaded long before
    the bootstrap runs, so a first boot is not left unfiltered on its public address. None without one."""
    if ctx.host_firewall is None:
        return None
    ruleset = environment().get_template("steps/firewall.nft.j2").render(ctx=ctx)
    return base64.b64encode(ruleset.encode()).decode()


def render_cloud_config(ctx: NodeContext, files: list[NodeFile]) -> str:
    template = environment().get_template("cloud-init/base.yaml.j2")
    return template.render(ctx=ctx, files=files, early_firewall=early_firewall(ctx))


MERGE_TYPE = "list(append)+dict(no_replace,recurse_list)+str()"
"""How cloud-init merges the user's cloud-config into ours: lists (write_files, runcmd) are appended to,
keys we set are never replaced."""


def compose(cloud_config: str, extra: str | None) -> str:
    """Our cloud-config alone, or a multipart MIME document of it and the user's own part (a cloud-config
    merged into ours, or a script that cloud-init runs). The boundary is derived from the content, so the
    same declaration renders the same bytes."""
    if extra is None:
        return cloud_config
    own = MIMEText(cloud_config, "cloud-config", "utf-8")
    own.add_header("Content-Disposition", "attachment", filename="provisioner.cfg")
    if extra.startswith("#cloud-config"):
        theirs = MIMEText(extra, "cloud-config", "utf-8")
        theirs.add_header("Merge-Type", MERGE_TYPE)
        theirs.add_header("Content-Disposition", "attachment", filename="user.cfg")
    else:
        theirs = MIMEText(extra, "x-shellscript", "utf-8")
        theirs.add_header("Content-Disposition", "attachment", filename="user.sh")
    document = MIMEMultipart("mixed")
    document.attach(own)
    document.attach(theirs)
    digest = hashlib.sha256((cloud_config + "\0" + extra).encode()).hexdigest()[:24]
    document.set_boundary(f"==provisioner-{digest}==")
    return document.as_string()


def user_data_payload(text: str, limit: int | None = None) -> bytes:
    """The bytes to hand the provider: the cloud-config as is, or gzipped (cloud-init reads both) when it is
    over the limit. A clear error when even the compressed form does not fit."""
    raw = text.encode()
    if limit is None or len(raw) <= limit:
        return raw
    packed = gzip.compress(raw, compresslevel=9, mtime=0)
    if len(packed) > limit:
        raise UserDataTooLargeError(
            f"user data is {len(raw)} bytes ({len(packed)} gzipped); the provider accepts at most {limit}: "
            "drop optional software (apptainer, enroot, cuda) or bake it into a custom image"
        )
    return packed


@dataclass(frozen=True, slots=True)
class RenderedPool:
    """Everything one pool's nodes get: the files, our cloud-config, and the user data sent (with the user's
    own part, a multipart document)."""

    files: list[NodeFile]
    cloud_config: str
    user_data: str
    early_firewall: str | None = None
    """The ruleset cloud-init's bootcmd loads (see early_firewall)."""


def render_pool(
    plan: ClusterPlan,
    pool: PoolPlan,
    lustre: Sequence[LustreMount],
    slurm: SlurmWiring | None = None,
    nfs: Sequence[NfsMount] = (),
    volumes: Sequence[VolumeMount] = (),
    host_firewall: HostFirewall | None = None,
) -> RenderedPool:
    """A GPU pool's nodes; with `slurm` (the cluster has a Slurm scheduler), they join it as compute nodes.
    `lustre` and `nfs`: the shared filesystems to mount, known after deploy; `volumes`: cloud volumes known
    before; `host_firewall`: the node's own inbound filter (clouds without one of ours in front)."""
    slurm_ctx = None if slurm is None else slurm_node_context(plan, "gpu", slurm, pool)
    ctx = node_context(plan, pool, tuple(lustre), slurm_ctx, tuple(nfs), tuple(volumes), host_firewall)
    health = node_health_script(plan, pool, scontrol="/usr/bin/scontrol") if slurm_ctx else None
    files = node_files(ctx, node_metadata(plan, pool), slurm_files(ctx, health))
    cloud_config = render_cloud_config(ctx, files)
    extra = pool.software.extra_user_data
    return RenderedPool(files, cloud_config, compose(cloud_config, extra), early_firewall(ctx))


def support_metadata(plan: ClusterPlan, role: str) -> dict[str, object]:
    return {"cluster": plan.name, "provider": plan.provider.value, "region": plan.region, "role": role}


def render_support(
    plan: ClusterPlan,
    role: str,
    lustre: Sequence[LustreMount],
    wiring: SlurmWiring,
    nfs: Sequence[NfsMount] = (),
) -> RenderedPool:
    """A scheduler's CPU node: role 'controller' (slurmctld, slurmdbd) or 'login' (sackd, for users)."""
    if role not in ("controller", "login"):
        raise ValueError(f"unknown support role {role!r}: 'controller' or 'login'")
    ctx = support_context(plan, role, tuple(lustre), slurm_node_context(plan, role, wiring), tuple(nfs))
    files = node_files(ctx, support_metadata(plan, role), slurm_files(ctx, None))
    cloud_config = render_cloud_config(ctx, files)
    return RenderedPool(files, cloud_config, cloud_config)


_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def _without_comments(script: str) -> str:
    """A shell script less its comment-only lines. The shebang, shellcheck directives and everything inside a
    here-document (another file's text: a unit, a script with its own shebang) stay."""
    kept: list[str] = []
    until: str | None = None
    for i, line in enumerate(script.splitlines(keepends=True)):
        if until is not None:
            kept.append(line)
            if line.strip() == until:
                until = None
            continue
        comment = line.lstrip().startswith("#")
        if not comment or (i == 0 and line.startswith("#!")) or "shellcheck" in line:
            kept.append(line)
            opened = _HEREDOC.search(line) if not comment else None
            until = opened.group(2) if opened else None
    return "".join(kept)


def compact(rendered: RenderedPool, extra_user_data: str | None, cluster: str, node: str) -> str:
    """The same user data with the scripts' comments dropped: sent only when the full text does not fit the
    provider's limit even gzipped. `provisioner render` shows the files with their comments."""
    files = [
        NodeFile(f.path, f.mode, _without_comments(f.content) if f.path.endswith(".sh") else f.content)
        for f in rendered.files
    ]
    names = SimpleNamespace(cluster=cluster, pool=node)  # all base.yaml.j2 reads of its context
    template = environment().get_template("cloud-init/base.yaml.j2")
    text = template.render(ctx=names, files=files, early_firewall=rendered.early_firewall)
    return compose(text, extra_user_data)


def _checked(
    rendered: RenderedPool, extra: str | None, limit: int | None, what: str, names: tuple[str, str]
) -> str:
    try:
        user_data_payload(rendered.user_data, limit)
        return rendered.user_data
    except UserDataTooLargeError:
        smaller = compact(rendered, extra, *names)
    try:
        user_data_payload(smaller, limit)
    except UserDataTooLargeError as exc:
        raise UserDataTooLargeError(f"{what}: {exc}") from None
    return smaller


def render_user_data(
    plan: ClusterPlan,
    pool: PoolPlan,
    lustre: Sequence[LustreMount],
    limit: int | None = None,
    slurm: SlurmWiring | None = None,
    nfs: Sequence[NfsMount] = (),
    volumes: Sequence[VolumeMount] = (),
    host_firewall: HostFirewall | None = None,
) -> str:
    """The pool's user data: our cloud-config, or a multipart document of it and the user's own part.
    With `limit`, checks that it fits (gzipped if it has to)."""
    rendered = render_pool(plan, pool, lustre, slurm, nfs, volumes, host_firewall)
    extra = pool.software.extra_user_data
    what = f"pool {pool.name!r} of cluster {plan.name!r}"
    return _checked(rendered, extra, limit, what, (plan.name, pool.name))


def render_support_user_data(
    plan: ClusterPlan,
    role: str,
    lustre: Sequence[LustreMount],
    wiring: SlurmWiring,
    limit: int | None = None,
    nfs: Sequence[NfsMount] = (),
) -> str:
    """The user data of a scheduler's support node (see `render_support`), checked against `limit`."""
    rendered = render_support(plan, role, lustre, wiring, nfs)
    return _checked(rendered, None, limit, f"slurm {role} of cluster {plan.name!r}", (plan.name, role))
