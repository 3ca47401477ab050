"""GKE emit side: the decisions of `gke_plan.py` as pulumi_gcp resources, under one component.

The cluster `{cluster}-gke`, its system node pool, one node pool per GPU pool, and our own manifests (the
NCCL settings of each pool's fabric) through the cluster's API. GKE installs the NVIDIA driver and its device
plugin on the GPU nodes itself (no Helm release is needed for them)."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s  # the `kubernetes` extra: resources.py turns its absence into a clear error

from provisioner.k8s.render import manifests
from provisioner.plan import ClusterPlan
from provisioner.providers.gcp.common import child_opts, component_opts, project_id
from provisioner.providers.gcp.compute_plan import RESERVATION_KEY
from provisioner.providers.gcp.gke_plan import (
    GPU_DRIVER_VERSION,
    OAUTH_SCOPES,
    GkeNodePoolSpec,
    GkeSpec,
    gke_spec,
)
from provisioner.providers.gcp.identity import Identity
from provisioner.providers.gcp.network import Network
from provisioner.providers.gcp.plan import child, resource_name
from provisioner.providers.gcp.specs import GcpPlan, GcpPlanError
from provisioner.providers.k8s_apply import apply_manifest

KUBERNETES_TYPE = "provisioner:gcp:Kubernetes"
NODE_POOL_TIMEOUT = "60m"
"""GPU node pools wait for every node to register: 8-GPU machines take minutes to be found and to boot."""


def monitoring_config(gke: GkeSpec) -> gcp.container.ClusterMonitoringConfigArgs:
    prometheus = (
        gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True)
        if gke.managed_prometheus
        else None
    )
    return gcp.container.ClusterMonitoringConfigArgs(
        enable_components=list(gke.monitoring_components), managed_prometheus=prometheus
    )


def kubeconfig(cluster: gcp.container.Cluster) -> pulumi.Output[str]:
    """A kubeconfig for the cluster; credentials come from `gke-gcloud-auth-plugin` (gcloud), never a
    token kept in the file."""

    def build(values: list[Any]) -> str:
        name, endpoint, ca = values
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "gke-gcloud-auth-plugin",
                "provideClusterInfo": True,
                "installHint": "gcloud components install gke-gcloud-auth-plugin",
            }
        }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": name, "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca}}
            ],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }
        return json.dumps(config, indent=2)

    ca = cluster.master_auth.apply(lambda auth: auth.cluster_ca_certificate or "")
    return pulumi.Output.secret(pulumi.Output.all(cluster.name, cluster.endpoint, ca).apply(build))


class Kubernetes(pulumi.ComponentResource):
    spec: GkeSpec
    cluster: gcp.container.Cluster
    system: gcp.container.NodePool
    node_pools: dict[str, gcp.container.NodePool]
    kubeconfig: pulumi.Output[str]
    manifests: list[pulumi.Resource]

    def __init__(
        self,
        spec: GcpPlan,
        plan: ClusterPlan,
        network: Network,
        identity: Identity,
        provider: gcp.Provider,
        parent: pulumi.Resource,
    ) -> None:
        gke = gke_spec(spec, plan)
        super().__init__(KUBERNETES_TYPE, gke.resource_name, None, component_opts(parent, provider))
        self.spec, self._gcp, self._network, self._identity = gke, provider, network, identity
        project = project_id(provider, self, spec.project)
        self.cluster = self._cluster(spec, project)
        self.system = self._node_pool(spec, gke.system)
        self.node_pools = {pool.pool: self._node_pool(spec, pool) for pool in gke.node_pools}
        self.kubeconfig = kubeconfig(self.cluster)
        self.manifests = self._manifests(plan)
        self.register_outputs({"cluster_name": self.cluster.name, "kubeconfig": self.kubeconfig})

    def _manifests(self, plan: ClusterPlan) -> list[pulumi.Resource]:
        """Our Namespaces and ConfigMaps, once the system nodes are up; Helm releases are not needed here."""
        k8s_plan = plan.kubernetes
        if k8s_plan is not None and k8s_plan.releases:
            wanted = [r.name for r in k8s_plan.releases]
            raise GcpPlanError(f"GKE runs no charts of provisioner yet; the plan asks for {wanted}")
        applied = [item for item in manifests(plan) if item.applied]
        if not applied:
            return []
        cluster_provider = k8s.Provider(
            child(self.spec.resource_name, "k8s"),
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
        )
        created: list[pulumi.Resource] = []
        for item in applied:
            created += apply_manifest(item, self.spec.resource_name, cluster_provider, self, [self.system])
        return created

    def _node_config_basics(self) -> dict[str, Any]:
        return {
            "service_account": self._identity.email,
            "oauth_scopes": list(OAUTH_SCOPES),
            "workload_metadata_config": gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(
                mode="GKE_METADATA"
            ),
            "shielded_instance_config": gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                enable_secure_boot=True, enable_integrity_monitoring=True
            ),
        }

    def _cluster(self, spec: GcpPlan, project: pulumi.Output[str]) -> gcp.container.Cluster:
        gke = self.spec
        authorized = gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
            cidr_blocks=[
                gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                    cidr_block=cidr, display_name=f"declared {i}"
                )
                for i, cidr in enumerate(gke.authorized_networks)
            ],
            gcp_public_cidrs_access_enabled=False,
        )
        workload_pool = (
            pulumi.Output.from_input(gke.workload_pool)
            if gke.workload_pool
            else project.apply(lambda p: f"{p}.svc.id.goog")
        )
        # the default pool exists only while the cluster is created: even it runs as the nodes' account
        basics = self._node_config_basics()
        node_config = gcp.container.ClusterNodeConfigArgs(**basics)
        return gcp.container.Cluster(
            gke.resource_name,
            name=gke.cluster_name,
            project=spec.project,
            location=gke.location,
            network=self._network.network_self_link,
            subnetwork=self._network.subnet_self_link,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=gke.pods_range,
                services_secondary_range_name=gke.services_range,
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, enable_private_endpoint=gke.private_endpoint
            ),
            master_authorized_networks_config=authorized,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=workload_pool
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=gke.release_channel),
            min_master_version=gke.version,
            enable_shielded_nodes=True,
            datapath_provider="ADVANCED_DATAPATH",
            enable_multi_networking=gke.multi_networking or None,
            logging_config=gcp.container.ClusterLoggingConfigArgs(
                enable_components=list(gke.logging_components)
            ),
            monitoring_config=monitoring_config(gke),
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=node_config,
            deletion_protection=gke.deletion_protection,
            resource_labels=gke.labels,
            opts=child_opts(self, self._gcp, protect=gke.deletion_protection),
        )

    def _node_pool(self, spec: GcpPlan, pool: GkeNodePoolSpec) -> gcp.container.NodePool:
        basics = self._node_config_basics()
        accelerators = None
        if pool.accelerator_type is not None:
            accelerators = [
                gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                    type=pool.accelerator_type,
                    count=pool.accelerators_per_node,
                    gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                        gpu_driver_version=GPU_DRIVER_VERSION
                    ),
                )
            ]
        affinity = None
        if pool.reservation is not None:
            affinity = gcp.container.NodePoolNodeConfigReservationAffinityArgs(
                consume_reservation_type="SPECIFIC_RESERVATION",
                key=RESERVATION_KEY,
                values=[pool.reservation],
            )
        local_ssd = None
        if pool.local_ssd_count:
            local_ssd = gcp.container.NodePoolNodeConfigEphemeralStorageLocalSsdConfigArgs(
                local_ssd_count=pool.local_ssd_count
            )
        node_config = gcp.container.NodePoolNodeConfigArgs(
            machine_type=pool.machine_type,
            disk_size_gb=pool.disk_size_gib,
            disk_type=pool.disk_type,
            boot_disk_kms_key=pool.boot_disk_kms_key,
            image_type=pool.image_type,
            service_account=basics["service_account"],
            oauth_scopes=basics["oauth_scopes"],
            workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                mode="GKE_METADATA"
            ),
            shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                enable_secure_boot=True, enable_integrity_monitoring=True
            ),
            guest_accelerators=accelerators,
            spot=pool.spot or None,
            reservation_affinity=affinity,
            ephemeral_storage_local_ssd_config=local_ssd,
            gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
            labels=pool.labels,
            resource_labels=pool.resource_labels,
            taints=[
                gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=t.effect)
                for t in pool.taints
            ],
            metadata={"disable-legacy-endpoints": "true"},
            tags=[resource_name(spec.name)],  # the cluster's firewall rules target it
        )
        network_config = None
        if pool.additional_networks:
            network_config = gcp.container.NodePoolNetworkConfigArgs(
                additional_node_network_configs=[
                    gcp.container.NodePoolNetworkConfigAdditionalNodeNetworkConfigArgs(
                        network=self._network.fabric_networks[vpc].name,
                        subnetwork=self._network.fabric_subnets[subnet].name,
                    )
                    for vpc, subnet in pool.additional_networks
                ]
            )
        return gcp.container.NodePool(
            pool.resource_name,
            project=spec.project,
            cluster=self.cluster.id,
            location=self.spec.location,
            node_locations=[pool.zone],
            node_count=pool.node_count,
            node_config=node_config,
            network_config=network_config,
            placement_policy=gcp.container.NodePoolPlacementPolicyArgs(type="COMPACT")
            if pool.compact_placement
            else None,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # one node at a time, without a surge node: a spare 8-GPU machine is rarely there to be had
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(max_surge=0, max_unavailable=1),
            opts=child_opts(
                self,
                self._gcp,
                delete_before_replace=pool.delete_before_replace,
                custom_timeouts=pulumi.CustomTimeouts(create=NODE_POOL_TIMEOUT, update=NODE_POOL_TIMEOUT),
            ),
        )


def emit_gke(
    spec: GcpPlan,
    plan: ClusterPlan,
    network: Network,
    identity: Identity,
    provider: gcp.Provider,
    parent: pulumi.Resource,
) -> dict[str, Any]:
    """The GKE cluster and its node pools; the outputs named as EKS's are, where they apply (`gke_` for
    `eks_`)."""
    gke = Kubernetes(spec, plan, network, identity, provider, parent)
    return {
        "gke_cluster_name": gke.cluster.name,
        "gke_endpoint": gke.cluster.endpoint,
        "gke_location": gke.cluster.location,
        "gke_ca_certificate": gke.cluster.master_auth.apply(lambda auth: auth.cluster_ca_certificate or ""),
        "kubeconfig": gke.kubeconfig,
        "node_groups": {name: pool.name for name, pool in gke.node_pools.items()},
    }
