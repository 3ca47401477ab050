"""Google Cloud decisions derived from a ClusterPlan. Pure: no Pulumi, no SDK, no network.

Names, the network layout (host network, fabric networks, firewall), the nodes' service account, the
instance template and managed instance group of every pool, and storage settings, as frozen data
(`specs.py`), so that each decision is unit-tested without a Pulumi runtime.
"""

from __future__ import annotations

import hashlib
import re
from ipaddress import IPv4Network, ip_network

from provisioner.plan import ClusterPlan, PoolPlan
from provisioner.providers.gcp import MAX_LABELS_PER_RESOURCE
from provisioner.providers.gcp.compute_plan import NODE_ROLES, template_spec
from provisioner.providers.gcp.limits import FILESTORE_MIN_GIB, LUSTRE_MIN_GIB
from provisioner.providers.gcp.network_plan import HOST_MTU, FabricLayout, VpcSpec, fabric_layout
from provisioner.providers.gcp.specs import (
    FABRIC_RANGE,
    GKE_PODS_RANGE,
    GKE_SERVICES_RANGE,
    HYPERDISK_BOOT,
    IAP_RANGE,
    LUSTRE_PORTS,
    PRIVATE_SERVICES_RANGE,
    RESERVED_RANGES,
    AcceleratorSpec,
    BucketSpec,
    DiskSpec,
    FilestoreSpec,
    FirewallSpec,
    GcpPlan,
    GcpPlanError,
    IdentitySpec,
    LustreSpec,
    NetworkSpec,
    PoolSpec,
)
from provisioner.spec import Bucket, GcpOptions, Interconnect, Lustre, Nfs

NAME_MAX = 63
ACCOUNT_ID_MAX = 30
NODE_TAG = "provisioner-node"
"""Network tag on every node of a cluster: the firewall rules target it (with the cluster's own tag)."""


def child(name: str, *parts: str) -> str:
    """Name of a child resource: `{name}-part-part`."""
    return "-".join((name, *parts))


def gcp_options(plan: ClusterPlan) -> GcpOptions:
    return plan.options if isinstance(plan.options, GcpOptions) else GcpOptions()


def resource_name(text: str, limit: int = NAME_MAX) -> str:
    """A Google Cloud resource name: lowercase letters, digits and hyphens, starting with a letter."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"p-{name}".rstrip("-")
    return name[:limit].rstrip("-")


def _label_part(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:NAME_MAX]


def labels_of(tags: dict[str, str]) -> dict[str, str]:
    """The cluster's tags as Google Cloud labels ('provisioner:cluster' becomes 'provisioner_cluster')."""
    labels: dict[str, str] = {}
    for key, value in tags.items():
        label = _label_part(key)
        if not label or not label[0].isalpha():
            label = f"t_{label}"[:NAME_MAX]
        if label in labels:
            raise GcpPlanError(
                f"tags {key!r} and another tag both become the label {label!r} on Google Cloud "
                "(labels are lower case, with '_' for other characters): rename one of them"
            )
        labels[label] = _label_part(value)
    if len(labels) > MAX_LABELS_PER_RESOURCE:
        raise GcpPlanError(
            f"the cluster would carry {len(labels)} labels; Google Cloud takes at most "
            f"{MAX_LABELS_PER_RESOURCE} a resource: drop some tags"
        )
    return labels


def pool_zone(plan: ClusterPlan, pool: PoolPlan) -> str:
    if pool.zone:
        return pool.zone
    raise GcpPlanError(
        f"pool {pool.name!r}: no zone of {plan.region} is known to offer {pool.instance_type}; "
        f"set NodePool(zone=...) to a zone of {plan.region} that has it"
    )


# --- network ------------------------------------------------------------------------------------------------


def check_ranges(host: IPv4Network) -> None:
    for what, cidr in RESERVED_RANGES.items():
        if host.overlaps(ip_network(cidr)):
            raise GcpPlanError(
                f"network.cidr = {host} overlaps {cidr}, the range of {what} on Google Cloud: "
                "choose a network.cidr inside 10.0.0.0/8"
            )


def pool_layouts(plan: ClusterPlan) -> dict[str, FabricLayout]:
    host = str(plan.network.cidr)
    fabric = IPv4Network(FABRIC_RANGE)
    return {pool.name: fabric_layout(pool, host, fabric) for pool in plan.pools}


def fabric_vpcs(layouts: dict[str, FabricLayout]) -> tuple[VpcSpec, ...]:
    """The union of the pools' fabric networks: a network wanted by several pools, once, with the most
    subnets any of them needs (layouts carve the same range the same way, so shared keys agree)."""
    vpcs: dict[str, VpcSpec] = {}
    for layout in layouts.values():
        for vpc in layout.vpcs:
            if vpc.role == "host":
                continue
            known = vpcs.get(vpc.key)
            if known is None or len(vpc.subnets) > len(known.subnets):
                vpcs[vpc.key] = vpc
    return tuple(sorted(vpcs.values(), key=lambda v: v.key))


def rdma_zone(plan: ClusterPlan) -> str | None:
    zones = {pool_zone(plan, p) for p in plan.pools if p.interconnect is Interconnect.GPUDIRECT_RDMA}
    if len(zones) > 1:
        raise GcpPlanError(
            f"GPUDirect-RDMA pools are in zones {sorted(zones)}; a RoCE network is bound to one zone: "
            "put every gpudirect-rdma pool of the cluster in one zone"
        )
    return next(iter(zones), None)


def firewall_rules(plan: ClusterPlan, vpcs: tuple[VpcSpec, ...], lustre: bool) -> tuple[FirewallSpec, ...]:
    """Internal-only: the nodes talk to each other on every port of each network; SSH only from the declared
    ranges (and IAP's when asked). Nothing else comes in. The RoCE network takes no firewall rules: it
    allows its own traffic implicitly."""
    host = str(plan.network.cidr)
    everything = (("tcp", ()), ("udp", ()), ("icmp", ()))
    rules = [FirewallSpec("internal", "host", (host,), everything, "node to node, every port")]
    ssh = [str(c) for c in plan.network.ssh_cidrs if c.version == 4]
    if gcp_options(plan).iap_ssh:
        ssh.append(IAP_RANGE)
    if ssh:
        rules.append(FirewallSpec("ssh", "host", tuple(ssh), (("tcp", ("22",)),), "SSH from declared ranges"))
    if lustre:
        ports = tuple(f"{low}-{high}" if low != high else str(low) for low, high in LUSTRE_PORTS)
        rules.append(
            FirewallSpec("lustre", "host", (PRIVATE_SERVICES_RANGE,), (("tcp", ports),), "Managed Lustre")
        )
    for vpc in vpcs:
        if vpc.rdma_profile:
            continue
        ranges = tuple(s.cidr for s in vpc.subnets)
        rules.append(
            FirewallSpec(f"{vpc.key}-internal", vpc.key, ranges, everything, f"{vpc.role} NIC traffic")
        )
    return tuple(rules)


def network_spec(plan: ClusterPlan, layouts: dict[str, FabricLayout]) -> NetworkSpec:
    check_ranges(plan.network.cidr)
    vpcs = fabric_vpcs(layouts)
    kubernetes = plan.kubernetes is not None
    lustre = any(isinstance(s, Lustre) for s in plan.storage)
    existing = plan.network.vpc_id
    return NetworkSpec(
        existing_network=existing,
        existing_subnet=plan.network.subnet_ids[0] if plan.network.subnet_ids else None,
        host_cidr=str(plan.network.cidr),
        host_mtu=HOST_MTU,
        fabric_vpcs=vpcs,
        firewall=firewall_rules(plan, vpcs, lustre),
        nat=existing is None,
        secondary_ranges=(GKE_PODS_RANGE, GKE_SERVICES_RANGE) if kubernetes else (),
        private_services_range=PRIVATE_SERVICES_RANGE if lustre else None,
        rdma_zone=rdma_zone(plan),
    )


# --- identity -----------------------------------------------------------------------------------------------


def identity_spec(name: str, plan: ClusterPlan) -> IdentitySpec:
    """A service account of the cluster's own (never the default compute account with full scopes)."""
    stem = resource_name(name, ACCOUNT_ID_MAX - len("-nodes"))
    if stem != resource_name(name):  # cut short: a digest keeps two long cluster names apart
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        stem = f"{stem[: len(stem) - 7].rstrip('-')}-{digest}"
    account = f"{stem}-nodes"
    if len(account) < 6:
        account = f"{account}-sa"
    roles = tuple(dict.fromkeys((*NODE_ROLES, *gcp_options(plan).extra_roles)))
    return IdentitySpec(account, f"provisioner nodes of {name}"[:100], roles)


# --- pools --------------------------------------------------------------------------------------------------


def boot_disk_type(machine_type: str) -> str:
    return "hyperdisk-balanced" if machine_type.startswith(HYPERDISK_BOOT) else "pd-balanced"


def disk_spec(plan: ClusterPlan, pool: PoolPlan) -> DiskSpec:
    image = pool.software.image or pool.software.image_lookup
    if not image and plan.kubernetes is not None:
        image = ""  # GKE node pools take an image type (gke_plan.py), never an image of ours
    elif not image:
        raise GcpPlanError(
            f"pool {pool.name!r}: no Google Cloud image for os={pool.software.os.value!r}; "
            "set Software(image='projects/P/global/images/family/F') or another os"
        )
    return DiskSpec(
        image, pool.root_volume_gib, boot_disk_type(pool.instance_type), gcp_options(plan).kms_key
    )


def accelerator_spec(pool: PoolPlan) -> AcceleratorSpec | None:
    if pool.attached_accelerator is None:
        return None
    return AcceleratorSpec(pool.attached_accelerator, pool.gpus_per_node)


def pool_spec(name: str, plan: ClusterPlan, pool: PoolPlan, layout: FabricLayout) -> PoolSpec:
    resource = resource_name(child(name, pool.name), NAME_MAX - 5)  # MIGs add '-xxxx' to instance names
    labels = {**labels_of(plan.tags), **labels_of({"provisioner:pool": pool.name})}
    return PoolSpec(
        name=pool.name,
        resource=resource,
        zone=pool_zone(plan, pool),
        template=template_spec(pool, "", public_ip=plan.network.public_ips),
        layout=layout,
        disk=disk_spec(plan, pool),
        accelerator=accelerator_spec(pool),
        labels=labels,
        network_tags=(NODE_TAG, resource_name(name)),
    )


# --- storage ------------------------------------------------------------------------------------------------


def filestore_spec(name: str, plan: ClusterPlan, item: Nfs, zone: str) -> FilestoreSpec:
    tier = gcp_options(plan).filestore_tier
    minimum = FILESTORE_MIN_GIB[tier]
    capacity = item.capacity_gib or minimum
    if capacity < minimum:
        raise GcpPlanError(
            f"storage {item.name!r}: capacity_gib = {capacity} is below Filestore {tier}'s minimum of "
            f"{minimum} GiB: set capacity_gib >= {minimum}"
        )
    share = re.sub(r"[^a-z0-9_]", "_", item.name.lower())[:16]
    share = share if share[:1].isalpha() else f"s{share}"[:16]
    location = plan.region if tier == "REGIONAL" else zone
    instance = resource_name(child(name, item.name))
    return FilestoreSpec(item.name, instance, tier, capacity, share, location, item.mount_point, item.protect)


def lustre_spec(name: str, plan: ClusterPlan, item: Lustre, zone: str) -> LustreSpec:
    throughput = item.throughput_mib_per_tib
    if throughput not in LUSTRE_MIN_GIB:
        raise GcpPlanError(
            f"storage {item.name!r}: throughput_mib_per_tib = {throughput}; Managed Lustre takes "
            f"{', '.join(map(str, LUSTRE_MIN_GIB))} MB/s per TiB"
        )
    if item.capacity_gib < LUSTRE_MIN_GIB[throughput]:
        raise GcpPlanError(
            f"storage {item.name!r}: capacity_gib = {item.capacity_gib} is below Managed Lustre's minimum "
            f"of {LUSTRE_MIN_GIB[throughput]} GiB at {throughput} MB/s per TiB"
        )
    filesystem = re.sub(r"[^a-z0-9]", "", item.name.lower())[:8] or "lustre"
    return LustreSpec(
        key=item.name,
        instance_id=resource_name(child(name, item.name)),
        filesystem=filesystem,
        capacity_gib=item.capacity_gib,
        throughput_mb_per_tib=throughput,
        zone=zone,
        mount_point=item.mount_point,
        protect=item.protect,
        gke_support=plan.kubernetes is not None,
    )


def bucket_spec(name: str, plan: ClusterPlan, item: Bucket) -> BucketSpec:
    prefix = resource_name(child(name, item.name), 63 - 8)  # room for Pulumi's random suffix
    return BucketSpec(
        item.name, prefix, plan.region.upper(), item.versioning, gcp_options(plan).kms_key, item.protect
    )


def gcp_plan(name: str, plan: ClusterPlan) -> GcpPlan:
    if not plan.pools:
        raise GcpPlanError(f"cluster {name!r} has no pools")
    layouts = pool_layouts(plan)
    pools = tuple(pool_spec(name, plan, pool, layouts[pool.name]) for pool in plan.pools)
    zone = pools[0].zone
    return GcpPlan(
        name=name,
        project=gcp_options(plan).project,
        region=plan.region,
        zone=zone,
        labels=labels_of(plan.tags),
        network=network_spec(plan, layouts),
        identity=identity_spec(name, plan),
        pools=pools,
        filestores=tuple(filestore_spec(name, plan, s, zone) for s in plan.storage if isinstance(s, Nfs)),
        lustres=tuple(lustre_spec(name, plan, s, zone) for s in plan.storage if isinstance(s, Lustre)),
        buckets=tuple(bucket_spec(name, plan, s) for s in plan.storage if isinstance(s, Bucket)),
        kms_key=gcp_options(plan).kms_key,
        public_ips=plan.network.public_ips,
    )
