"""Node pools: an instance template and ONE managed instance group per pool, whatever its size, with the
placement policy the plan names (a workload policy for A3/A4, compact placement for A2/G2/N1)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from provisioner.bootstrap import SlurmWiring, render_user_data, user_data_payload
from provisioner.plan import ClusterPlan
from provisioner.providers.gcp import INFO
from provisioner.providers.gcp.common import NODE_POOL_TYPE, child_opts, component_opts
from provisioner.providers.gcp.compute_plan import check_metadata
from provisioner.providers.gcp.network import Network
from provisioner.providers.gcp.plan import child
from provisioner.providers.gcp.specs import GcpPlan, PoolSpec
from provisioner.providers.gcp.storage import SharedMounts

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
"""Google's recommended scope with a dedicated account: what the nodes may do is set by its IAM roles."""


@dataclass(frozen=True)
class PoolInputs:
    network: Network
    service_account_email: pulumi.Input[str]
    mounts: pulumi.Output[SharedMounts]
    launch_dependencies: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must exist before a node boots (the service account's roles; with Slurm, the munge key's
    version, the nodes' right to read it, and the controller)."""
    slurm: pulumi.Output[SlurmWiring] | None = None


def node_metadata(
    plan: ClusterPlan, pool: PoolSpec, mounts: SharedMounts, wiring: SlurmWiring | None
) -> dict[str, str]:
    """The template's metadata: the secure keys and the pool's cloud-config as `user-data` (gzipped and
    base64-encoded, with `user-data-encoding`, only when the text is over the limit), within GCP's limits."""
    limit = INFO.user_data_limit
    source = plan.pool_named(pool.name)
    if source is None:
        raise KeyError(pool.name)
    text = render_user_data(plan, source, mounts.lustre, limit=limit, slurm=wiring, nfs=mounts.nfs)
    payload = user_data_payload(text, limit)
    metadata = dict(pool.template.metadata)
    if payload == text.encode():
        metadata["user-data"] = text
    else:
        metadata["user-data"] = base64.b64encode(payload).decode()
        metadata["user-data-encoding"] = "base64"
    check_metadata(metadata)
    return metadata


class NodePool(pulumi.ComponentResource):
    spec: PoolSpec
    template: gcp.compute.InstanceTemplate
    group: gcp.compute.InstanceGroupManager
    policy: gcp.compute.ResourcePolicy | None

    def __init__(
        self,
        spec: GcpPlan,
        plan: ClusterPlan,
        pool: PoolSpec,
        inputs: PoolInputs,
        provider: gcp.Provider,
        parent: pulumi.Resource,
    ) -> None:
        super().__init__(NODE_POOL_TYPE, pool.resource, None, component_opts(parent, provider))
        self.spec, self._gcp, self._cluster = pool, provider, spec
        self.policy = self._policy()
        kind = pool.template.placement.kind if pool.template.placement else None
        policy = self.policy.self_link if self.policy else None
        if inputs.slurm is None:
            metadata = inputs.mounts.apply(lambda m: node_metadata(plan, pool, m, None))
        else:
            metadata = pulumi.Output.all(inputs.mounts, inputs.slurm).apply(
                lambda v: node_metadata(plan, pool, v[0], v[1])
            )
        # a compact policy goes on the template, a workload policy on the group
        self.template = self._template(inputs, metadata, policy if kind == "compact" else None)
        self.group = self._group(inputs, policy if kind == "workload" else None)
        self.register_outputs({"group": self.group.name, "template": self.template.self_link})

    def _opts(self, **extra: object) -> pulumi.ResourceOptions:
        return child_opts(self, self._gcp, **extra)

    def _policy(self) -> gcp.compute.ResourcePolicy | None:
        placement = self.spec.template.placement
        if placement is None:
            return None
        region = self.spec.zone.rsplit("-", 1)[0]
        if placement.kind == "workload":
            return gcp.compute.ResourcePolicy(
                child(self.spec.resource, "workload"),
                project=self._cluster.project,
                region=region,
                workload_policy=gcp.compute.ResourcePolicyWorkloadPolicyArgs(type="HIGH_THROUGHPUT"),
                description=f"provisioner: dense placement of pool {self.spec.name}",
                opts=self._opts(),
            )
        return gcp.compute.ResourcePolicy(
            child(self.spec.resource, "compact"),
            project=self._cluster.project,
            region=region,
            group_placement_policy=gcp.compute.ResourcePolicyGroupPlacementPolicyArgs(
                collocation="COLLOCATED"
            ),
            description=f"provisioner: compact placement of pool {self.spec.name}",
            opts=self._opts(),
        )

    def _interfaces(self, network: Network) -> list[gcp.compute.InstanceTemplateNetworkInterfaceArgs]:
        nics = []
        for i, nic in enumerate(self.spec.layout.nics):
            if nic.vpc == "host":
                vpc: pulumi.Input[str] = network.network_self_link
                subnet: pulumi.Input[str] = network.subnet_self_link
            else:
                vpc = network.fabric_networks[nic.vpc].self_link
                subnet = network.fabric_subnets[nic.subnet].self_link
            external = i == 0 and self.spec.template.external_ip
            nics.append(
                gcp.compute.InstanceTemplateNetworkInterfaceArgs(
                    network=vpc,
                    subnetwork=subnet,
                    nic_type=nic.nic_type,
                    access_configs=[gcp.compute.InstanceTemplateNetworkInterfaceAccessConfigArgs()]
                    if external
                    else None,
                )
            )
        return nics

    def _template(
        self,
        inputs: PoolInputs,
        metadata: pulumi.Output[dict[str, str]],
        compact: pulumi.Output[str] | None,
    ) -> gcp.compute.InstanceTemplate:
        pool, template = self.spec, self.spec.template
        sched = template.scheduling
        disk = pool.disk
        return gcp.compute.InstanceTemplate(
            child(pool.resource, "template"),
            # templates cannot change: a new one (new name) is made before the old one goes
            name_prefix=f"{pool.resource[:37]}-",
            project=self._cluster.project,
            machine_type=template.machine_type,
            disks=[
                gcp.compute.InstanceTemplateDiskArgs(
                    boot=True,
                    auto_delete=True,
                    source_image=disk.image,
                    disk_size_gb=disk.size_gib,
                    disk_type=disk.disk_type,
                    disk_encryption_key=gcp.compute.InstanceTemplateDiskDiskEncryptionKeyArgs(
                        kms_key_self_link=disk.kms_key
                    )
                    if disk.kms_key
                    else None,
                )
            ],
            network_interfaces=self._interfaces(inputs.network),
            guest_accelerators=[
                gcp.compute.InstanceTemplateGuestAcceleratorArgs(
                    type=pool.accelerator.type, count=pool.accelerator.count
                )
            ]
            if pool.accelerator
            else None,
            scheduling=gcp.compute.InstanceTemplateSchedulingArgs(
                provisioning_model=sched.provisioning_model,
                preemptible=sched.provisioning_model == "SPOT",
                on_host_maintenance=sched.on_host_maintenance,
                automatic_restart=sched.automatic_restart,
                instance_termination_action=sched.instance_termination_action,
            ),
            reservation_affinity=gcp.compute.InstanceTemplateReservationAffinityArgs(
                type="SPECIFIC_RESERVATION",
                specific_reservation=gcp.compute.InstanceTemplateReservationAffinitySpecificReservationArgs(
                    key="compute.googleapis.com/reservation-name", values=[sched.reservation]
                ),
            )
            if sched.reservation
            else gcp.compute.InstanceTemplateReservationAffinityArgs(type="NO_RESERVATION"),
            shielded_instance_config=gcp.compute.InstanceTemplateShieldedInstanceConfigArgs(
                enable_secure_boot=template.shielded.secure_boot,
                enable_vtpm=template.shielded.vtpm,
                enable_integrity_monitoring=template.shielded.integrity_monitoring,
            ),
            service_account=gcp.compute.InstanceTemplateServiceAccountArgs(
                email=inputs.service_account_email, scopes=SCOPES
            ),
            metadata=metadata,
            labels=pool.labels,
            tags=list(pool.network_tags),
            resource_policies=compact,
            opts=self._opts(depends_on=list(inputs.launch_dependencies)),
        )

    def _group(
        self, inputs: PoolInputs, workload: pulumi.Output[str] | None
    ) -> gcp.compute.InstanceGroupManager:
        pool = self.spec
        return gcp.compute.InstanceGroupManager(
            child(pool.resource, "group"),
            project=self._cluster.project,
            zone=pool.zone,
            base_instance_name=pool.resource,
            versions=[
                gcp.compute.InstanceGroupManagerVersionArgs(
                    name="primary", instance_template=self.template.self_link_unique
                )
            ],
            target_size=pool.template.nodes,
            # a new template never recreates running GPU nodes on its own: nodes pick it up when they are
            # recreated (repair, resize, an operator's rolling replace)
            update_policy=gcp.compute.InstanceGroupManagerUpdatePolicyArgs(
                type="OPPORTUNISTIC",
                minimal_action="REPLACE",
                replacement_method="RECREATE",
                max_surge_fixed=0,
                max_unavailable_fixed=1,
            ),
            resource_policies=gcp.compute.InstanceGroupManagerResourcePoliciesArgs(workload_policy=workload)
            if workload is not None
            else None,
            wait_for_instances=False,
            opts=self._opts(depends_on=list(inputs.launch_dependencies)),
        )
