"""Google Cloud emit side: a ClusterPlan -> pulumi_gcp resources under the GpuCluster component.

The decisions come from the pure `plan.py` (and `slurm_plan.py`, `gke_plan.py`); this module and its
siblings (`network.py`, `identity.py`, `storage.py`, `compute.py`, `slurm.py`, `gke.py`) only turn them into
resources, grouped in one component per concern and named `{name}-...`, so URNs stay stable.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp

from provisioner.plan import ClusterPlan
from provisioner.providers.base import MissingSdkError
from provisioner.providers.gcp.compute import NodePool, PoolInputs
from provisioner.providers.gcp.identity import Identity
from provisioner.providers.gcp.network import Network
from provisioner.providers.gcp.plan import child, gcp_plan
from provisioner.providers.gcp.specs import GcpPlan
from provisioner.providers.gcp.storage import ClusterBucket, Filestore, ManagedLustre, shared_mounts


def cluster_provider(spec: GcpPlan, parent: pulumi.Resource) -> gcp.Provider:
    """An explicit provider: the declared project and region win over the stack's `gcp:project` and
    `gcp:region`, and every resource that takes labels carries the cluster's."""
    return gcp.Provider(
        child(spec.name, "gcp"),
        project=spec.project,
        region=spec.region,
        zone=spec.zone,
        default_labels=spec.labels,
        add_pulumi_attribution_label=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )


class GcpEmitter:
    """The Google Cloud adapter's emitter ("provisioner.providers.gcp.resources:GcpEmitter")."""

    def emit(self, name: str, plan: ClusterPlan, parent: Any) -> dict[str, Any]:
        spec = gcp_plan(name, plan)
        provider = cluster_provider(spec, parent)
        network = Network(spec, provider, parent)
        identity = Identity(spec, provider, parent)
        filestores = [Filestore(spec, fs, network, provider, parent) for fs in spec.filestores]
        lustres = [ManagedLustre(spec, fs, network, provider, parent) for fs in spec.lustres]
        buckets = [ClusterBucket(spec, b, identity, provider, parent) for b in spec.buckets]
        outputs: dict[str, Any] = {
            "network": network.network_self_link,
            "subnetwork": network.subnet_self_link,
            "zone": spec.zone,
            "service_account": identity.email,
            "filestores": {fs.spec.key: fs.address for fs in filestores},
            "lustre": {fs.spec.key: fs.instance.mount_point for fs in lustres},
            "buckets": {b.spec.key: b.bucket.url for b in buckets},
        }
        if plan.kubernetes is not None:
            return {**outputs, **emit_kubernetes(spec, plan, network, identity, provider, parent)}
        mounts = shared_mounts(filestores, lustres)
        launch_dependencies: list[pulumi.Resource] = list(identity.roles)
        scheduler = None
        if plan.slurm is not None:
            scheduler = emit_scheduler(
                spec, plan, network, identity, mounts, launch_dependencies, provider, parent
            )
            launch_dependencies = [*launch_dependencies, *scheduler.launch_dependencies]
        inputs = PoolInputs(
            network=network,
            service_account_email=identity.email,
            mounts=mounts,
            launch_dependencies=launch_dependencies,
            slurm=scheduler.wiring if scheduler is not None else None,
        )
        pools = [NodePool(spec, plan, pool, inputs, provider, parent) for pool in spec.pools]
        outputs = {
            **outputs,
            "pools": {p.spec.name: p.group.name for p in pools},
            "instance_templates": {p.spec.name: p.template.self_link for p in pools},
        }
        return outputs if scheduler is None else {**outputs, **scheduler.outputs()}


def emit_scheduler(
    spec: GcpPlan,
    plan: ClusterPlan,
    network: Network,
    identity: Identity,
    mounts: Any,
    launch_dependencies: list[pulumi.Resource],
    provider: gcp.Provider,
    parent: pulumi.Resource,
) -> Any:
    """The Slurm controller, its login nodes and secrets; the pools then join it."""
    from provisioner.providers.gcp.slurm import Scheduler, SchedulerInputs

    inputs = SchedulerInputs(
        network=network,
        identity=identity,
        mounts=mounts,
        launch_dependencies=launch_dependencies,
    )
    return Scheduler(spec, plan, inputs, provider, parent)


def emit_kubernetes(
    spec: GcpPlan,
    plan: ClusterPlan,
    network: Network,
    identity: Identity,
    provider: gcp.Provider,
    parent: pulumi.Resource,
) -> dict[str, Any]:
    """GKE: the pools become node pools of the cluster (no instance groups of our own)."""
    # imported here: only Kubernetes clusters need pulumi_kubernetes (the `kubernetes` extra)
    try:
        from provisioner.providers.gcp.gke import emit_gke
    except ImportError as exc:
        raise MissingSdkError("gcp", "kubernetes", exc) from exc
    outputs: dict[str, Any] = emit_gke(spec, plan, network, identity, provider, parent)
    return outputs
