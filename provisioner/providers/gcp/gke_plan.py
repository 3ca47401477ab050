"""Google Cloud decisions of a GKE cluster: the cluster and one node pool per GPU pool, as data. Pure.

- **Cluster.** Regional (`{cluster}-gke`, the control plane in three zones), VPC-native on the host subnet's
  `pods` and `services` ranges, private nodes, the API reachable only from the declared ranges (no public
  endpoint when none is declared), Workload Identity, Shielded nodes, Dataplane V2 with multi-networking
  (GPUDirect's extra NICs need it), the Regular release channel at the catalog's version, deletion protection.
  The default node pool is removed at once; the system pool and the GPU pools are node pools of our own.
- **GPU node pools.** One per pool (a group, not one resource per node), in the pool's zone, with GKE's
  managed NVIDIA driver (`gpu_driver_version=LATEST`) and so GKE's own device plugin (no chart); the nodes'
  service account, GKE metadata server, Secure Boot and integrity monitoring, the pool's labels and GPU taint,
  local SSD as ephemeral storage, spot or a specific reservation, compact placement for multi-node pools, and
  for GPUDirect shapes the extra GPU/RDMA NICs as additional node networks (gVNIC on).

- **Logs and metrics.** Cloud Logging of the system components and workloads plus the control-plane
  components declared in `control_plane_logs` (api, scheduler, controllerManager; GKE writes audit logs to
  Cloud Audit Logs itself and has no authenticator log); Cloud Monitoring of the system components, and of
  the GPUs through GKE's DCGM package (with Managed Prometheus) when `dcgm_exporter` is on.

Facts read in the pulumi-gcp 10.2.0 SDK installed here (`pulumi_gcp/container/_inputs.py`): the logging
components `SYSTEM_COMPONENTS, APISERVER, CONTROLLER_MANAGER, SCHEDULER, WORKLOADS`; the monitoring components
include `SYSTEM_COMPONENTS` and `DCGM`; `NodePoolPlacementPolicyArgs(type="COMPACT", policy_name=...)`.
GKE's compact-placement page (cloud.google.com/kubernetes-engine/docs/how-to/compact-placement, as mirrored)
names A100, L4 and H100 GPUs for compact placement on Autopilot.

Facts used (recalled, not re-read in the session that wrote this, 2026-12-03; the session had no Google Cloud
account): GKE accelerator type names `nvidia-tesla-a100`, `nvidia-a100-80gb`, `nvidia-h100-80gb`,
`nvidia-h100-mega-80gb`, `nvidia-h200-141gb`, `nvidia-b200`, `nvidia-l4`, `nvidia-tesla-t4`; GKE's GPU driver
installation (`gpu_driver_installation_config.gpu_driver_version`: DEFAULT or LATEST) installs the device
plugin too; additional node networks need Dataplane V2 and `enable_multi_networking`; compact placement is not
offered for N1 machine types; the DCGM metrics package needs Managed Prometheus and GKE's driver installation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from provisioner.plan import ClusterPlan, KubeNodeGroupPlan, KubernetesPlan, PoolPlan
from provisioner.providers.gcp.limits import WORKLOAD_POLICY_SHAPES
from provisioner.providers.gcp.plan import boot_disk_type, child, labels_of, resource_name
from provisioner.providers.gcp.specs import GKE_PODS_RANGE, GKE_SERVICES_RANGE, GcpPlan, GcpPlanError
from provisioner.spec import CapacityKind

ACCELERATORS = {
    "A100-40GB": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
    "L4": "nvidia-l4",
    "T4": "nvidia-tesla-t4",
}
"""GKE's accelerator type per GPU model (H100: by shape, see `accelerator_type`)."""
GPU_DRIVER_VERSION = "LATEST"
RELEASE_CHANNEL = "REGULAR"
LOCAL_SSD_GIB = 375
NODE_POOL_NAME_MAX = 40 - 8
"""GKE node pool names take 40 characters (recalled); Pulumi adds an 8-character suffix."""
OAUTH_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
"""Every API, narrowed by the nodes' service account's IAM roles."""
BASE_LOG_COMPONENTS = ("SYSTEM_COMPONENTS", "WORKLOADS")
"""GKE's default logging: system pods and every workload's stdout/stderr."""
CONTROL_PLANE_LOGS = {"api": "APISERVER", "controllerManager": "CONTROLLER_MANAGER", "scheduler": "SCHEDULER"}
"""The declaration's control-plane logs (EKS's names) as GKE logging components; 'audit' goes to Cloud Audit
Logs without asking, 'authenticator' has no GKE counterpart."""
BASE_MONITORING_COMPONENTS = ("SYSTEM_COMPONENTS",)
GPU_MONITORING_COMPONENT = "DCGM"


@dataclass(frozen=True, slots=True)
class TaintSpec:
    key: str
    value: str
    effect: str
    """GKE's spelling: NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE."""


@dataclass(frozen=True, slots=True)
class GkeNodePoolSpec:
    pool: str
    """The declaration's pool ('system' for the CPU pool)."""
    resource_name: str
    machine_type: str
    image_type: str
    """GKE's node image type (COS_CONTAINERD, ...): GKE picks the image itself, no image of ours."""
    node_count: int
    zone: str
    accelerator_type: str | None
    accelerators_per_node: int
    spot: bool
    reservation: str | None
    compact_placement: bool
    local_ssd_count: int
    disk_size_gib: int
    disk_type: str
    """The boot disk's type: Hyperdisk where the shape boots only from it (A3 Mega, A3 Ultra, A4)."""
    boot_disk_kms_key: str | None
    labels: dict[str, str]
    """Kubernetes node labels."""
    resource_labels: dict[str, str]
    """Google Cloud labels on the VMs."""
    taints: tuple[TaintSpec, ...]
    additional_networks: tuple[tuple[str, str], ...]
    """(VPC key, subnet key) of each extra NIC, in NIC order (GPUDirect shapes)."""
    delete_before_replace: bool = False
    """GPU pools: a replacement deletes the old pool first, so it never holds two sets of GPU nodes (quota,
    reservations and scarce capacity would stall the new pool while the old one runs)."""


@dataclass(frozen=True, slots=True)
class GkeSpec:
    resource_name: str
    cluster_name: str
    location: str
    """The region: a regional control plane."""
    version: str
    release_channel: str
    pods_range: str
    services_range: str
    authorized_networks: tuple[str, ...]
    private_endpoint: bool
    """No public endpoint: the API only from inside the network (no public range declared)."""
    workload_pool: str | None
    """'<project>.svc.id.goog'; None = from the provider's project at deploy time."""
    multi_networking: bool
    logging_components: tuple[str, ...]
    monitoring_components: tuple[str, ...]
    managed_prometheus: bool
    """Google Cloud Managed Service for Prometheus: the DCGM GPU metrics land there."""
    deletion_protection: bool
    labels: dict[str, str]
    system: GkeNodePoolSpec
    node_pools: tuple[GkeNodePoolSpec, ...]


def node_pool_name(cluster: str, pool: str) -> str:
    """`{cluster}-gke-{pool}`; a longer one is cut and ends in a digest of the whole, so that two long pool
    names with a common start stay two resources."""
    name = resource_name(child(cluster, "gke", pool), 63)
    if len(name) <= NODE_POOL_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:5]
    return f"{name[: NODE_POOL_NAME_MAX - 6].rstrip('-')}-{digest}"


def kubernetes_of(plan: ClusterPlan) -> KubernetesPlan:
    if plan.kubernetes is None:
        raise GcpPlanError("the cluster has no Kubernetes scheduler")
    return plan.kubernetes


def accelerator_type(pool: PoolPlan) -> str:
    if pool.gpu == "H100":
        return "nvidia-h100-mega-80gb" if pool.instance_type.startswith("a3-megagpu") else "nvidia-h100-80gb"
    kind = pool.attached_accelerator or ACCELERATORS.get(pool.gpu)
    if kind is None:
        known = ", ".join(sorted({*ACCELERATORS, "H100"}))
        raise GcpPlanError(
            f"pools[{pool.name!r}].gpu = {pool.gpu!r}: no GKE accelerator type is known for it (GKE node "
            f"pools take {known}): use one of those GPUs, or scheduler=Slurm(...) or None for VMs of your own"
        )
    return kind


def gke_taints(group: KubeNodeGroupPlan) -> tuple[TaintSpec, ...]:
    effects = {
        "NoSchedule": "NO_SCHEDULE",
        "PreferNoSchedule": "PREFER_NO_SCHEDULE",
        "NoExecute": "NO_EXECUTE",
    }
    return tuple(TaintSpec(t.key, t.value, effects[t.effect]) for t in group.taints)


def node_pool_spec(
    spec: GcpPlan, plan: ClusterPlan, pool: PoolPlan, group: KubeNodeGroupPlan
) -> GkeNodePoolSpec:
    layout = spec.pool(pool.name).layout
    reserved = pool.capacity in (CapacityKind.RESERVATION, CapacityKind.CAPACITY_BLOCK)
    compact = (
        pool.nodes > 1
        and not reserved
        and pool.attached_accelerator is None
        and pool.instance_type not in WORKLOAD_POLICY_SHAPES
    )
    return GkeNodePoolSpec(
        pool=pool.name,
        resource_name=node_pool_name(spec.name, pool.name),
        machine_type=pool.instance_type,
        image_type=group.image,
        node_count=pool.nodes,
        zone=spec.pool(pool.name).zone,
        accelerator_type=accelerator_type(pool),
        accelerators_per_node=pool.gpus_per_node,
        spot=pool.capacity is CapacityKind.SPOT,
        reservation=pool.reservation_id if reserved else None,
        compact_placement=compact,
        local_ssd_count=pool.local_nvme_gb_per_node // LOCAL_SSD_GIB,
        disk_size_gib=pool.root_volume_gib,
        disk_type=spec.pool(pool.name).disk.disk_type,
        boot_disk_kms_key=spec.kms_key,
        labels=dict(group.labels),
        resource_labels={**spec.labels, **labels_of({"provisioner:pool": pool.name})},
        taints=gke_taints(group),
        additional_networks=tuple((nic.vpc, nic.subnet) for nic in layout.nics if nic.vpc != "host"),
        delete_before_replace=True,
    )


def system_pool_spec(spec: GcpPlan, plan: ClusterPlan) -> GkeNodePoolSpec:
    k8s = kubernetes_of(plan)
    system = k8s.system
    return GkeNodePoolSpec(
        pool="system",
        resource_name=node_pool_name(spec.name, "system"),
        machine_type=system.instance_type,
        image_type=k8s.system_image,
        node_count=system.count,
        zone=spec.zone,
        accelerator_type=None,
        accelerators_per_node=0,
        spot=False,
        reservation=None,
        compact_placement=False,
        local_ssd_count=0,
        disk_size_gib=system.root_volume_gib,
        disk_type=boot_disk_type(system.instance_type),
        boot_disk_kms_key=spec.kms_key,
        labels={"provisioner.dev/role": "system"},
        resource_labels={**spec.labels, **labels_of({"provisioner:pool": "system"})},
        taints=(),
        additional_networks=(),
    )


def logging_components(k8s: KubernetesPlan) -> tuple[str, ...]:
    declared = tuple(CONTROL_PLANE_LOGS[log] for log in k8s.control_plane_logs if log in CONTROL_PLANE_LOGS)
    return (*BASE_LOG_COMPONENTS, *declared)


def gpu_metrics(plan: ClusterPlan) -> bool:
    """GKE's DCGM metrics for NVIDIA pools when the declaration wants GPU metrics."""
    k8s = kubernetes_of(plan)
    return k8s.dcgm_exporter and any(g.gpu_resource == "nvidia.com/gpu" for g in k8s.node_groups)


def monitoring_components(plan: ClusterPlan) -> tuple[str, ...]:
    gpu = (GPU_MONITORING_COMPONENT,) if gpu_metrics(plan) else ()
    return (*BASE_MONITORING_COMPONENTS, *gpu)


def gke_spec(spec: GcpPlan, plan: ClusterPlan) -> GkeSpec:
    k8s = kubernetes_of(plan)
    groups = {g.pool: g for g in k8s.node_groups}
    pools = tuple(node_pool_spec(spec, plan, pool, groups[pool.name]) for pool in plan.pools)
    if spec.network.existing_network is not None:
        raise GcpPlanError(
            "GKE on an existing network needs its pods and services ranges: not supported yet; "
            "leave network.vpc_id unset so the cluster's own network carries them"
        )
    return GkeSpec(
        resource_name=child(spec.name, "gke"),
        cluster_name=resource_name(child(spec.name, "gke"), 40),
        location=spec.region,
        version=k8s.version,
        release_channel=RELEASE_CHANNEL,
        pods_range=GKE_PODS_RANGE[0],
        services_range=GKE_SERVICES_RANGE[0],
        authorized_networks=(*k8s.api_public_cidrs, *k8s.api_private_cidrs),
        private_endpoint=not k8s.api_public_cidrs,
        workload_pool=f"{spec.project}.svc.id.goog" if spec.project else None,
        multi_networking=any(p.additional_networks for p in pools),
        logging_components=logging_components(k8s),
        monitoring_components=monitoring_components(plan),
        managed_prometheus=gpu_metrics(plan),
        deletion_protection=k8s.protect,
        labels=spec.labels,
        system=system_pool_spec(spec, plan),
        node_pools=pools,
    )
