"""Google Cloud: the instance template, placement and managed instance group of a pool, as data. Pure.

Secure defaults (the issue's list): OS Login, no project-wide SSH keys, the serial port off, Shielded VM (vTPM
and integrity monitoring), no external IP, and a dedicated service account (the emitter creates it with the
logging and monitoring writer roles only, never the default compute account with full scopes).

Facts used (recalled, not re-read in the session that wrote this, except where a page is named):
- GPU VMs cannot live-migrate: `onHostMaintenance` must be TERMINATE.
- Spot VMs: `provisioningModel: SPOT` with an `instanceTerminationAction`; reservations are consumed through
  `reservationAffinity` (SPECIFIC_RESERVATION, key `compute.googleapis.com/reservation-name`).
- Placement (docs.cloud.google.com/ai-hypercomputer/docs/placement-policy-and-workload-policy, read
  2026-12-02): MIGs of A4, A3 Ultra, A3 Mega and A3 High (8 GPUs) take a *workload policy*; compact placement
  policies are for standalone VMs and for MIGs of general GPUs (A2, G2). Reservations and capacity blocks are
  densely colocated already.
- Secure Boot is left off: it refuses kernel modules that are not signed, and a driver built by DKMS on the
  node is not (Google's GPU driver pages say so for Secure Boot VMs).
- Metadata: at most 256 KB per value and 512 KB in all (../shared/reference/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.errors import ProvisionerError
from provisioner.plan import PoolPlan
from provisioner.providers.gcp.limits import WORKLOAD_POLICY_SHAPES
from provisioner.spec import CapacityKind

METADATA_VALUE_LIMIT = 256 * 1024
METADATA_TOTAL_LIMIT = 512 * 1024
CLUSTERED_GPU_FAMILIES = WORKLOAD_POLICY_SHAPES
RESERVATION_KEY = "compute.googleapis.com/reservation-name"
SECURE_METADATA = {"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE", "serial-port-enable": "FALSE"}
NODE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
"""The nodes' service account: write logs and metrics, nothing else (buckets are granted per bucket)."""


class GcpPlanError(ProvisionerError):
    """A pool that cannot be laid out on Google Cloud (a rule is missing upstream)."""


@dataclass(frozen=True, slots=True)
class SchedulingSpec:
    provisioning_model: str
    """'STANDARD' or 'SPOT'."""
    on_host_maintenance: str
    automatic_restart: bool
    instance_termination_action: str | None
    reservation: str | None
    """Name of the reservation the nodes consume (SPECIFIC_RESERVATION), or None (ANY is not used: a pool
    on demand must not eat a reservation meant for another)."""


@dataclass(frozen=True, slots=True)
class PlacementSpec:
    kind: str
    """'workload' (a workload policy, HIGH_THROUGHPUT) or 'compact' (a compact placement policy)."""


@dataclass(frozen=True, slots=True)
class ShieldedSpec:
    secure_boot: bool = False
    vtpm: bool = True
    integrity_monitoring: bool = True


@dataclass(frozen=True)
class TemplateSpec:
    pool: str
    machine_type: str
    nodes: int
    scheduling: SchedulingSpec
    placement: PlacementSpec | None
    metadata: dict[str, str]
    shielded: ShieldedSpec
    external_ip: bool
    boot_disk_gib: int
    local_ssd_count: int
    """375 GiB local SSDs the machine type comes with (A3/A4 take them all)."""


def scheduling(pool: PoolPlan) -> SchedulingSpec:
    if pool.capacity is CapacityKind.SPOT:
        return SchedulingSpec("SPOT", "TERMINATE", False, "DELETE", None)
    if pool.capacity in (CapacityKind.RESERVATION, CapacityKind.CAPACITY_BLOCK):
        if not pool.reservation_id:
            raise GcpPlanError(f"pool {pool.name!r}: capacity={pool.capacity.value!r} needs reservation_id")
        if pool.capacity is CapacityKind.CAPACITY_BLOCK:
            # a future reservation in calendar mode: the reservation-bound model, deleted when it ends
            # (docs.cloud.google.com/compute/docs/instances/about-reservation-bound-instances, via review)
            return SchedulingSpec("RESERVATION_BOUND", "TERMINATE", False, "DELETE", pool.reservation_id)
        return SchedulingSpec("STANDARD", "TERMINATE", True, None, pool.reservation_id)
    return SchedulingSpec("STANDARD", "TERMINATE", True, None, None)


def placement(pool: PoolPlan) -> PlacementSpec | None:
    """A multi-node pool gets a placement policy unless reserved capacity (already colocated) serves it, or
    its GPUs are attached to an N1 machine (a series compact placement does not take; recalled)."""
    if pool.nodes < 2 or pool.reservation_id or pool.attached_accelerator:
        return None
    return PlacementSpec("workload" if pool.instance_type in CLUSTERED_GPU_FAMILIES else "compact")


def check_metadata(metadata: dict[str, str]) -> None:
    sizes = {key: len(key.encode()) + len(value.encode()) for key, value in metadata.items()}
    for key, size in sizes.items():
        if size > METADATA_VALUE_LIMIT:
            raise GcpPlanError(f"metadata {key!r} is {size} bytes; Google Cloud takes {METADATA_VALUE_LIMIT}")
    if sum(sizes.values()) > METADATA_TOTAL_LIMIT:
        raise GcpPlanError(
            f"metadata is {sum(sizes.values())} bytes in all; the limit is {METADATA_TOTAL_LIMIT}"
        )


def template_spec(pool: PoolPlan, user_data: str, public_ip: bool = False) -> TemplateSpec:
    """The instance template of a pool. `user_data` is its cloud-config (the `user-data` metadata key)."""
    metadata = {**SECURE_METADATA, "user-data": user_data}
    check_metadata(metadata)
    return TemplateSpec(
        pool=pool.name,
        machine_type=pool.instance_type,
        nodes=pool.nodes,
        scheduling=scheduling(pool),
        placement=placement(pool),
        metadata=metadata,
        shielded=ShieldedSpec(),
        external_ip=public_ip,
        boot_disk_gib=pool.root_volume_gib,
        local_ssd_count=pool.local_nvme_gb_per_node // 375,
    )
