"""Kubernetes: the declaration's `Kubernetes(...)` + the resolved pools -> KubernetesPlan. Pure.

Provider-neutral: the managed service's versions, fee and node images come from the catalog
(`catalog/data/kubernetes.yaml`), the charts too; a provider adapter (EKS, GKE; AKS, OKE and CoreWeave's
managed Kubernetes later) turns the plan into its resources."""

from __future__ import annotations

from collections.abc import Sequence

from provisioner.catalog import Catalog, HelmChart, ManagedKubernetes
from provisioner.plan.models import (
    POOL_LABEL,
    HelmReleasePlan,
    KubeNodeGroupPlan,
    KubernetesPlan,
    PoolPlan,
    ServiceFeePlan,
    TaintPlan,
)
from provisioner.plan.slurm import support_node
from provisioner.spec import Cluster, GpuVendor, Interconnect, Kubernetes

LABEL_PREFIX = "provisioner.dev"
GPU_RESOURCE = {GpuVendor.NVIDIA: "nvidia.com/gpu", GpuVendor.AMD: "amd.com/gpu"}
SYSTEM_ROLE = "system"


def node_labels(pool: PoolPlan) -> dict[str, str]:
    """The user's labels, then ours (ours win: verify, the charts' selectors and jobs rely on them)."""
    ours = {
        POOL_LABEL: pool.name,
        f"{LABEL_PREFIX}/gpu": pool.gpu.lower(),
        f"{LABEL_PREFIX}/gpu-vendor": pool.gpu_vendor.value,
        f"{LABEL_PREFIX}/fabric": pool.interconnect.value,
    }
    if pool.gpu_vendor is GpuVendor.NVIDIA:
        # NVIDIA's device plugin chart schedules onto nodes with this label (or NFD's PCI label) only
        ours["nvidia.com/gpu.present"] = "true"
    user = {k: v for k, v in pool.labels.items() if ":" not in k}  # provisioner:* tags are not labels
    return {**user, **ours}


def taints(pool: PoolPlan, spec: Kubernetes) -> list[TaintPlan]:
    if not spec.gpu_taint:
        return []
    return [TaintPlan(key=GPU_RESOURCE[pool.gpu_vendor], value="present", effect="NoSchedule")]


def node_image(pool: PoolPlan, managed: ManagedKubernetes) -> str:
    arm = pool.gpu in ("GB200", "GB300", "GH200")
    kind = "nvidia-arm64" if arm else "nvidia"
    if pool.gpu_vendor is not GpuVendor.NVIDIA:
        kind = pool.gpu_vendor.value
    return managed.images.get(kind, "unknown")


def fabric_resource(pool: PoolPlan, catalog: Catalog) -> str | None:
    """The extended resource of the pool's fabric devices, where the catalog has the fabric's device plugin
    (EFA; InfiniBand's, NVIDIA's network operator, lands with its providers)."""
    if pool.interconnect is Interconnect.NONE:
        return None
    chart = catalog.fabric_chart(pool.interconnect.value)
    return chart.resource if chart else None


def node_group(
    pool: PoolPlan, spec: Kubernetes, managed: ManagedKubernetes, catalog: Catalog
) -> KubeNodeGroupPlan:
    fabric = fabric_resource(pool, catalog)
    return KubeNodeGroupPlan(
        pool=pool.name,
        nodes=pool.nodes,
        gpu_resource=GPU_RESOURCE[pool.gpu_vendor],
        gpus_per_node=pool.gpus_per_node,
        fabric_resource=fabric,
        fabric_devices_per_node=pool.fabric_interfaces if fabric else 0,
        labels=node_labels(pool),
        taints=taints(pool, spec),
        image=node_image(pool, managed),
    )


def _release(chart: HelmChart, purpose: str, resource: str | None) -> HelmReleasePlan:
    return HelmReleasePlan(
        name=chart.key,
        chart=chart.chart,
        repository=chart.repository,
        version=chart.version,
        namespace=chart.namespace,
        purpose=purpose,
        device_plugin_selector=chart.daemonset_selector if resource else None,
        device_plugin_daemonset=chart.daemonset_name if resource else None,
        resource=resource,
    )


def releases(
    spec: Kubernetes, pools: Sequence[PoolPlan], catalog: Catalog, managed: ManagedKubernetes | None = None
) -> list[HelmReleasePlan]:
    """What the pools need in the cluster: a GPU device plugin per vendor (unless the service runs its own,
    as GKE does) and one per fabric."""
    wanted: list[tuple[str, str, str | None]] = []
    vendors = {p.gpu_vendor for p in pools}
    if managed is not None and managed.manages_device_plugin:
        vendors.discard(GpuVendor.NVIDIA)
    if GpuVendor.NVIDIA in vendors:
        if spec.device_plugin == "gpu-operator":
            purpose = "NVIDIA GPU operator: device plugin, GPU feature discovery, DCGM exporter, validator"
            wanted.append(("gpu-operator", purpose, "nvidia.com/gpu"))
        else:
            wanted.append(("nvidia-device-plugin", "NVIDIA device plugin", "nvidia.com/gpu"))
    if GpuVendor.AMD in vendors:
        wanted.append(("amd-gpu", "AMD GPU device plugin and node labeller", "amd.com/gpu"))
    for fabric in sorted({p.interconnect.value for p in pools} - {Interconnect.NONE.value}):
        chart = catalog.fabric_chart(fabric)
        if chart is not None:
            wanted.append((chart.key, f"{fabric.upper()} device plugin", chart.resource))
    found = [(catalog.chart(key), purpose, resource) for key, purpose, resource in wanted]
    return [_release(chart, purpose, resource) for chart, purpose, resource in found if chart is not None]


def kubernetes_version(spec: Kubernetes, managed: ManagedKubernetes) -> str:
    return spec.version or managed.default_version


def plan_kubernetes(cluster: Cluster, pools: Sequence[PoolPlan], catalog: Catalog) -> KubernetesPlan | None:
    """None when the declaration has no Kubernetes scheduler or the provider has no managed Kubernetes in the
    catalog (validation reports the latter)."""
    spec = cluster.scheduler
    if not isinstance(spec, Kubernetes):
        return None
    managed = catalog.managed_kubernetes(cluster.provider.value)
    if managed is None:
        return None
    version = kubernetes_version(spec, managed)
    known = managed.version(version)
    system = spec.system_pool
    price = managed.price
    return KubernetesPlan(
        service=managed.service,
        version=version,
        end_of_standard_support=known.end_of_standard_support.isoformat() if known else None,
        api_public_cidrs=[str(c) for c in spec.api_public_cidrs],
        api_private_cidrs=[str(c) for c in spec.api_private_cidrs],
        extended_support=spec.extended_support,
        control_plane_logs=list(dict.fromkeys(spec.control_plane_logs)),
        system=support_node(
            cluster, catalog, SYSTEM_ROLE, system.instance_type, system.nodes, system.root_volume_gib
        ),
        system_image=managed.images.get("standard", "unknown"),
        node_groups=[node_group(p, spec, managed, catalog) for p in pools],
        releases=releases(spec, pools, catalog, managed),
        device_plugin=spec.device_plugin,
        dcgm_exporter=spec.dcgm_exporter,
        gpu_taint=spec.gpu_taint,
        admins=list(spec.admins),
        protect=spec.protect,
        image_ships_driver=managed.image_ships_driver,
        control_plane=ServiceFeePlan(
            name=f"{managed.service} control plane",
            price_per_hour=price.per_hour if price else None,
            price_as_of=price.as_of.isoformat() if price else None,
            price_source=price.source if price else None,
        ),
    )
