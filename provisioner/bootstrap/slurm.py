"""Slurm's configuration files and the per-node Slurm context, rendered from `templates/slurm/`. Pure.

The controller serves slurm.conf, gres.conf, cgroup.conf and plugstack.conf to every node (configless), so
the files are rendered once per cluster. Values that exist only after deploy (the controller's address, the
secret's id) arrive as plain strings in `SlurmWiring`; secrets themselves never do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.bootstrap.templates import environment
from provisioner.plan import ClusterPlan, PoolPlan, SlurmNodeSetPlan, SlurmPartitionPlan, SlurmPlan
from provisioner.spec import GpuVendor

PYXIS_VERSION = "0.21.0"
"""Pinned release of github.com/NVIDIA/pyxis (not re-checked against the project's tags in this session)."""
MUNGE_KEY_BYTES = 128
"""munge's own `mungekey` default is 1024 bits; at least 32 bytes are required."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a node fetches a secret with its instance identity. Never the secret itself."""

    store: str
    """'aws-secretsmanager' (id = the secret's ARN or name) or 'gcp-secretmanager' (id = the secret's short id
    in the node's own project; the node reads its latest version with its service account)."""
    id: str
    region: str


@dataclass(frozen=True, slots=True)
class SlurmWiring:
    """What only the deploy knows: the controller's private address and the secrets' ids."""

    controller_addr: str
    munge_key: SecretRef
    db_password: SecretRef | None = None
    controller_host: str = ""
    """Host name of the controller; '' = `controller_host_name(plan)`, which the controller takes at boot."""
    config_store: str = ""
    """Where the controller reads the configuration it serves: 'aws-ssm' (one parameter per file under
    `config_path`), 'gcp-metadata' (one key of the controller's own instance metadata per file, named by
    `gcp_metadata_key(config_path, file)`), kept current by a timer, so a changed configuration reaches a
    running controller without touching the instance; '' = the files come in the controller's user data
    (written at its first boot)."""
    config_path: str = ""


def gcp_metadata_key(prefix: str, file_name: str) -> str:
    """The instance metadata key of one Slurm file on Google Cloud (keys take [A-Za-z0-9_-] only)."""
    return f"{prefix}-{file_name.replace('.', '-')}"


@dataclass(frozen=True, slots=True)
class SlurmLayout:
    """Where Slurm keeps its files, and its ports. The defaults are the nodes'; a test moves every path under
    `root` and picks free ports, so that real daemons run in a sandbox."""

    root: str = ""
    slurmctld_port: int = 6817
    slurmd_port: int = 6818
    slurmdbd_port: int = 6819
    munge_socket: str = ""
    """'' = munge's default socket (what slurmd uses to fetch its configuration before it has one)."""
    slurm_user: str = "slurm"
    db_host: str = "localhost"
    """slurmdbd's MariaDB: on the controller itself ('localhost' = its unix socket)."""
    db_port: int = 3306

    def path(self, path: str) -> str:
        return f"{self.root}{path}"

    @property
    def conf_dir(self) -> str:
        return self.path("/etc/slurm")

    @property
    def state_dir(self) -> str:
        return self.path("/var/spool/slurmctld")

    @property
    def spool_dir(self) -> str:
        return self.path("/var/spool/slurmd")

    @property
    def log_dir(self) -> str:
        return self.path("/var/log/slurm")

    @property
    def run_dir(self) -> str:
        return self.path("/run/slurm")

    @property
    def health_program(self) -> str:
        return self.path("/opt/provisioner/slurm/node-health.sh")


@dataclass(frozen=True, slots=True)
class GresLine:
    type: str
    files: str


@dataclass(frozen=True, slots=True)
class SlurmConfig:
    """Everything the cluster-wide config templates read."""

    cluster_name: str
    controller_host: str
    controller_addr: str
    slurmctld_port: int
    slurmd_port: int
    slurmdbd_port: int
    slurm_user: str
    munge_socket: str
    db_host: str
    db_port: int
    state_dir: str
    spool_dir: str
    log_dir: str
    run_dir: str
    max_nodes: int
    nodesets: tuple[SlurmNodeSetPlan, ...]
    partitions: tuple[SlurmPartitionPlan, ...]
    accounting: bool
    health_program: str
    health_check_interval: int
    autodetect: str
    autodetect_note: str
    gres_lines: tuple[GresLine, ...]
    pyxis: bool
    pyxis_library: str = "/usr/local/lib/slurm/spank_pyxis.so"


@dataclass(frozen=True, slots=True)
class DeviceFiles:
    glob: str
    pattern: str
    """Regular expression a GPU's device path ends with (bash `=~`)."""
    files: str
    """Slurm hostlist of the files, e.g. '/dev/nvidia[0-7]'."""


def device_files(vendor: GpuVendor, count: int, root: str = "") -> DeviceFiles:
    """NVIDIA GPUs are /dev/nvidia0..N-1; AMD GPUs are DRM render nodes /dev/dri/renderD128 and on."""
    last = max(count - 1, 0)
    if vendor is GpuVendor.AMD:
        return DeviceFiles(
            f"{root}/dev/dri/renderD*", "/renderD[0-9]+", f"{root}/dev/dri/renderD[128-{128 + last}]"
        )
    return DeviceFiles(f"{root}/dev/nvidia*", "/nvidia[0-9]+", f"{root}/dev/nvidia[0-{last}]")


def slurm_plan_of(plan: ClusterPlan) -> SlurmPlan:
    if plan.slurm is None:
        raise ValueError(f"cluster {plan.name!r} declares no Slurm scheduler")
    return plan.slurm


def controller_host_name(plan: ClusterPlan) -> str:
    """The controller's host name (set at its boot): '<cluster>-controller', within DNS's 63 characters."""
    return f"{plan.name[:52]}-controller"


def _autodetect(nodesets: tuple[SlurmNodeSetPlan, ...]) -> tuple[str, str]:
    vendors = {ns.gpu_vendor for ns in nodesets}
    if vendors == {GpuVendor.NVIDIA}:
        return "nvml", "NVIDIA GPUs: Slurm's NVML plugin finds them with their NVLink and CPU affinity."
    if vendors == {GpuVendor.AMD}:
        return "rsmi", "AMD GPUs: Slurm's ROCm SMI plugin finds them with their CPU affinity."
    return "off", "NVIDIA and AMD pools in one cluster: the device files below, per GPU type."


def _gres_lines(nodesets: tuple[SlurmNodeSetPlan, ...], root: str) -> tuple[GresLine, ...]:
    widest: dict[str, SlurmNodeSetPlan] = {}
    for ns in nodesets:
        if ns.gres_type not in widest or ns.gpus_per_node > widest[ns.gres_type].gpus_per_node:
            widest[ns.gres_type] = ns
    return tuple(
        GresLine(kind, device_files(ns.gpu_vendor, ns.gpus_per_node, root).files)
        for kind, ns in sorted(widest.items())
    )


def slurm_config(
    plan: ClusterPlan, controller_addr: str, controller_host: str = "", layout: SlurmLayout | None = None
) -> SlurmConfig:
    layout = layout or SlurmLayout()
    slurm = slurm_plan_of(plan)
    nodesets = tuple(slurm.nodesets)
    autodetect, note = _autodetect(nodesets)
    return SlurmConfig(
        cluster_name=slurm.cluster_name,
        controller_host=controller_host or controller_host_name(plan),
        controller_addr=controller_addr,
        slurmctld_port=layout.slurmctld_port,
        slurmd_port=layout.slurmd_port,
        slurmdbd_port=layout.slurmdbd_port,
        slurm_user=layout.slurm_user,
        munge_socket=layout.munge_socket,
        db_host=layout.db_host,
        db_port=layout.db_port,
        state_dir=layout.state_dir,
        spool_dir=layout.spool_dir,
        log_dir=layout.log_dir,
        run_dir=layout.run_dir,
        max_nodes=slurm.max_nodes,
        nodesets=nodesets,
        partitions=tuple(slurm.partitions),
        accounting=slurm.accounting,
        health_program=layout.health_program,
        health_check_interval=slurm.health_check_interval,
        autodetect=autodetect,
        autodetect_note=note,
        gres_lines=_gres_lines(nodesets, layout.root),
        pyxis=slurm.pyxis,
    )


CONFIG_FILES = ("slurm.conf", "gres.conf", "cgroup.conf")


def render_slurm_configs(config: SlurmConfig) -> dict[str, str]:
    """File name -> content of the cluster's Slurm configuration (no secrets: slurmdbd.conf gets its
    password at boot)."""
    env = environment()
    names = [*CONFIG_FILES, *(["plugstack.conf"] if config.pyxis else [])]
    names += ["slurmdbd.conf"] if config.accounting else []
    return {name: env.get_template(f"slurm/{name}.j2").render(cfg=config) for name in names}


def slurm_config_files(plan: ClusterPlan, controller_addr: str, controller_host: str = "") -> dict[str, str]:
    """The configuration files the controller of a deployed cluster serves: file name -> content. What the
    emitter puts in the provider's parameter store (or the controller's user data)."""
    return render_slurm_configs(slurm_config(plan, controller_addr, controller_host))


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """What the Slurm health check of a pool's nodes reads."""

    health_check_interval: int
    device_glob: str
    device_pattern: str
    health_file: str
    node_name_file: str
    scontrol: str


@dataclass(frozen=True, slots=True)
class _HealthCtx:
    gpu: str
    pool: str
    gpus_per_node: int


def node_health_script(
    plan: ClusterPlan, pool: PoolPlan, layout: SlurmLayout | None = None, scontrol: str = "scontrol"
) -> str:
    layout = layout or SlurmLayout()
    devices = device_files(pool.gpu_vendor, pool.gpus_per_node, layout.root)
    health = NodeHealth(
        health_check_interval=slurm_plan_of(plan).health_check_interval,
        device_glob=devices.glob,
        device_pattern=devices.pattern,
        health_file=layout.path("/var/lib/provisioner/health.json"),
        node_name_file=layout.path("/etc/provisioner/slurm-node-name"),
        scontrol=scontrol,
    )
    ctx = _HealthCtx(pool.gpu, pool.name, pool.gpus_per_node)
    return environment().get_template("slurm/node-health.sh.j2").render(ctx=ctx, slurm=health)


PRUNE_GRACE_SECONDS = 900
"""How long a dynamic node must have been down for not responding before the controller forgets it: longer
than a node's one reboot (after a driver install), which brings it back under the same name anyway."""


def prune_script(scontrol: str = "/usr/bin/scontrol", grace_seconds: int = PRUNE_GRACE_SECONDS) -> str:
    """The controller's clean-up of dynamic nodes that are gone (terminated or replaced)."""
    template = environment().get_template("slurm/prune-nodes.sh.j2")
    return template.render(scontrol=scontrol, grace_seconds=grace_seconds)


CONTROLLER_UNITS = (
    "provisioner-slurm-prune.service",
    "provisioner-slurm-prune.timer",
    "provisioner-slurm-config.service",
    "provisioner-slurm-config.timer",
)


def controller_units() -> dict[str, str]:
    """systemd units of the controller's timers (forget gone nodes, keep the configuration current)."""
    env = environment()
    return {name: env.get_template(f"slurm/{name}.j2").render() for name in CONTROLLER_UNITS}


def nodeset_of(plan: ClusterPlan, pool: str) -> SlurmNodeSetPlan:
    return next(ns for ns in slurm_plan_of(plan).nodesets if ns.pool == pool)


def dynamic_node_conf(nodeset: SlurmNodeSetPlan, real_memory_mb: int | None = None) -> str:
    """The `slurmd -Z --conf` of a pool's node: its features (which put it in its nodeset) and its GPUs.
    The node adds RealMemory (from /proc/meminfo) and NodeAddr at boot."""
    text = f"Feature={','.join(nodeset.features)} Gres={nodeset.gres}"
    return text if real_memory_mb is None else f"RealMemory={real_memory_mb} {text}"


@dataclass(frozen=True, slots=True)
class SlurmNodeContext:
    """The Slurm part of a node's boot context (NodeContext.slurm)."""

    role: str
    """'controller', 'login' or 'compute'."""
    version: str
    cluster_name: str
    controller_host: str
    controller_addr: str
    slurmctld_port: int
    slurmdbd_port: int
    munge_key: SecretRef
    db_password: SecretRef | None
    node_conf: str
    """`slurmd -Z --conf` of a compute node ('' elsewhere)."""
    accounting: bool
    pyxis: bool
    pyxis_version: str
    shared_home: str
    configs: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """(file name, content) of the configuration files the controller serves, when they come in its user
    data (controller only, and only without a config store)."""
    metadata_root_only: bool = True
    """Only root may reach the instance metadata service (whose role credentials read the munge key)."""
    config_names: tuple[str, ...] = ()
    """Names of the configuration files the controller serves (controller only)."""
    config_store: str = ""
    config_path: str = ""

    @property
    def conf_server(self) -> str:
        return f"{self.controller_addr}:{self.slurmctld_port}"


def slurm_node_context(
    plan: ClusterPlan, role: str, wiring: SlurmWiring, pool: PoolPlan | None = None
) -> SlurmNodeContext:
    slurm = slurm_plan_of(plan)
    host = wiring.controller_host or controller_host_name(plan)
    configs: tuple[tuple[str, str], ...] = ()
    names: tuple[str, ...] = ()
    if role == "controller":
        rendered = slurm_config_files(plan, wiring.controller_addr, host)
        names = tuple(sorted(rendered))
        configs = () if wiring.config_store else tuple(sorted(rendered.items()))
    return SlurmNodeContext(
        role=role,
        version=slurm.version,
        cluster_name=slurm.cluster_name,
        controller_host=host,
        controller_addr=wiring.controller_addr,
        slurmctld_port=SlurmLayout().slurmctld_port,
        slurmdbd_port=SlurmLayout().slurmdbd_port,
        munge_key=wiring.munge_key,
        db_password=wiring.db_password if role == "controller" else None,
        node_conf=dynamic_node_conf(nodeset_of(plan, pool.name)) if pool is not None else "",
        accounting=slurm.accounting,
        pyxis=slurm.pyxis,
        pyxis_version=PYXIS_VERSION,
        shared_home=slurm.shared_home or "",
        configs=configs,
        metadata_root_only=slurm.metadata_root_only,
        config_names=names,
        config_store=wiring.config_store if role == "controller" else "",
        config_path=wiring.config_path if role == "controller" else "",
    )
