"""EKS: the cluster (private endpoint by default, OIDC provider, control-plane logs, access entries), a system
node group, one managed node group per GPU pool on the pool's own launch template (EFA interfaces, placement
group), and the in-cluster software (Helm releases with pinned charts, the manifests we own)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from provisioner.k8s.render import helm_values, manifests, values_yaml
from provisioner.plan import ClusterPlan, HelmReleasePlan
from provisioner.providers.aws.common import add_sg_rules, child_opts, component_opts
from provisioner.providers.aws.compute import (
    metadata_options,
    network_interfaces,
    placement_group,
    reservation,
    root_volume,
    tag_specifications,
)
from provisioner.providers.aws.eks_plan import NODE_GROUP_CREATE_TIMEOUT, EksNodeGroupSpec, EksSpec
from provisioner.providers.aws.plan import AwsPlan, child
from provisioner.providers.k8s_apply import apply_manifest

KUBERNETES_TYPE = "provisioner:aws:Kubernetes"
NODE_GROUP_TYPE = "provisioner:aws:EksNodeGroup"
"""Kinds of the manifests we own that Pulumi applies (the others are written for users to apply)."""


@dataclass(frozen=True)
class KubernetesInputs:
    subnet_id: pulumi.Input[str]
    control_plane_subnet_ids: list[pulumi.Output[str]]
    vpc_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    node_role: aws.iam.Role
    launch_dependencies: list[pulumi.Resource] = field(default_factory=list)
    """What must exist before a node launches: the node role's policies, the root volumes' key grant."""


def kubeconfig(cluster: aws.eks.Cluster, region: str) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token` (the caller's AWS identity; nothing secret in
    it but the endpoint, still returned as a secret output)."""

    def build(values: list[Any]) -> str:
        name, endpoint, ca = values
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
                "interactiveMode": "Never",
            }
        }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }
        return json.dumps(config, sort_keys=True)

    ca = cluster.certificate_authority.apply(lambda authority: authority.data if authority else "")
    return pulumi.Output.secret(pulumi.Output.all(cluster.name, cluster.endpoint, ca).apply(build))


def has_null(value: Any) -> bool:
    """A null anywhere in Helm values: it deletes a chart default (Helm's rule)."""
    if isinstance(value, dict):
        return any(v is None or has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(has_null(v) for v in value)
    return False


def release_values(plan: ClusterPlan, release: HelmReleasePlan) -> dict[str, Any]:
    """`values` of a Release, or, where they delete a chart default with a null, the same values as a values
    file: Pulumi's Python SDK drops null map entries before they reach Helm (pulumi-kubernetes #2034, #3811),
    so the delete would be lost."""
    values = helm_values(plan, release)
    if has_null(values):
        return {"value_yaml_files": [pulumi.StringAsset(values_yaml(plan, release))]}
    return {"values": values}


def node_group_user_data(group: EksNodeGroupSpec) -> str | None:
    return None if group.user_data is None else base64.b64encode(group.user_data.encode()).decode()


class EksNodeGroup(pulumi.ComponentResource):
    """A node group on its own launch template (EKS picks the AMI by `ami_type`, so the template names none
    and no instance profile: EKS adds both)."""

    spec: EksNodeGroupSpec
    launch_template: aws.ec2.LaunchTemplate
    node_group: aws.eks.NodeGroup
    placement_group: aws.ec2.PlacementGroup | None

    def __init__(
        self,
        spec: AwsPlan,
        group: EksNodeGroupSpec,
        cluster: aws.eks.Cluster,
        inputs: KubernetesInputs,
        provider: aws.Provider,
        parent: pulumi.Resource,
    ) -> None:
        super().__init__(NODE_GROUP_TYPE, group.resource_name, None, component_opts(parent, provider))
        self.spec = group
        pool = group.pool
        self.placement_group = placement_group(self, pool, spec.tags, provider)
        placement_name = self.placement_group.name if self.placement_group else pool.placement_group
        # EKS's own cluster security group lets the control plane reach the kubelets; ours lets the nodes
        # (and EFA) talk to each other and to the filesystems.
        groups = pulumi.Output.all(
            inputs.security_group_id,
            cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id or ""),
        )
        market = (
            None
            if group.market_type is None
            else aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type=group.market_type)
        )
        self.launch_template = aws.ec2.LaunchTemplate(
            child(group.resource_name, "lt"),
            description=f"EKS nodes of pool {group.name} of cluster {spec.cluster}",
            instance_type=pool.instance_type,
            key_name=pool.key_name,
            metadata_options=metadata_options(pool.metadata),
            block_device_mappings=[
                root_volume(pool.root_volume, pool.root_volume.device_name or "/dev/xvda")
            ],
            network_interfaces=network_interfaces(
                pool.interfaces, groups.apply(lambda ids: [i for i in ids if i])
            ),
            placement=None
            if placement_name is None
            else aws.ec2.LaunchTemplatePlacementArgs(group_name=placement_name),
            instance_market_options=market,
            capacity_reservation_specification=reservation(pool),
            user_data=node_group_user_data(group),
            tag_specifications=tag_specifications(pool.instance_tags),
            tags=spec.tags,
            opts=child_opts(self, provider),
        )
        template = self.launch_template
        self.node_group = aws.eks.NodeGroup(
            child(group.resource_name, "ng"),
            cluster_name=cluster.name,
            node_group_name=group.node_group_name,
            node_role_arn=inputs.node_role.arn,
            # the nodes follow the control plane's version: an upgrade of the cluster rolls the groups
            # (one node at a time, update_config) instead of leaving them behind
            version=cluster.version if group.follows_cluster_version else None,
            subnet_ids=[inputs.subnet_id],
            ami_type=group.ami_type,
            capacity_type=group.capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                desired_size=pool.nodes, min_size=pool.nodes, max_size=pool.nodes
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(
                max_unavailable=1, update_strategy=group.update_strategy
            ),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels=group.labels,
            taints=[
                aws.eks.NodeGroupTaintArgs(key=key, value=value, effect=effect)
                for key, value, effect in group.taints
            ],
            tags=spec.tags,
            opts=child_opts(
                self,
                provider,
                depends_on=list(inputs.launch_dependencies),
                # its name is fixed: a replacement must delete the old group first (EKS refuses a second
                # group of the same name), which also never holds two groups of GPU nodes at once
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(
                    create=NODE_GROUP_CREATE_TIMEOUT, update=NODE_GROUP_CREATE_TIMEOUT
                ),
            ),
        )
        self.register_outputs({"node_group": self.node_group.node_group_name})


class Kubernetes(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    oidc: aws.iam.OpenIdConnectProvider
    system: EksNodeGroup
    node_groups: list[EksNodeGroup]
    kubeconfig: pulumi.Output[str]
    releases: dict[str, k8s.helm.v3.Release]

    def __init__(
        self,
        spec: AwsPlan,
        plan: ClusterPlan,
        inputs: KubernetesInputs,
        provider: aws.Provider,
        parent: pulumi.Resource,
    ) -> None:
        eks = spec.eks
        if eks is None:
            raise ValueError("no EKS spec")
        super().__init__(KUBERNETES_TYPE, eks.resource_name, None, component_opts(parent, provider))
        self.cluster = self._cluster(spec, eks, inputs, provider)
        issuer = self.cluster.identities.apply(
            lambda ids: (ids[0].oidcs[0].issuer or "") if ids and ids[0].oidcs else ""
        )
        self.oidc = aws.iam.OpenIdConnectProvider(
            child(eks.resource_name, "oidc"),
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=spec.tags,
            opts=child_opts(self, provider),
        )
        self._admins(eks, provider)
        self.system = EksNodeGroup(spec, eks.system, self.cluster, inputs, provider, self)
        self.node_groups = [
            EksNodeGroup(spec, g, self.cluster, inputs, provider, self) for g in eks.node_groups
        ]
        self.kubeconfig = kubeconfig(self.cluster, spec.region)
        self.releases = self._software(plan, eks)
        self.register_outputs({"cluster_name": self.cluster.name, "kubeconfig": self.kubeconfig})

    def _cluster(
        self, spec: AwsPlan, eks: EksSpec, inputs: KubernetesInputs, provider: aws.Provider
    ) -> aws.eks.Cluster:
        role = aws.iam.Role(
            child(eks.resource_name, "cluster-role"),
            assume_role_policy=json.dumps(eks.cluster_role_policy),
            description=f"EKS control plane of cluster {spec.cluster}",
            tags=spec.tags,
            opts=child_opts(self, provider),
        )
        attachment = aws.iam.RolePolicyAttachment(
            child(eks.resource_name, "cluster-policy"),
            role=role.name,
            policy_arn=eks.cluster_policy_arn,
            opts=child_opts(self, provider),
        )
        logs = aws.cloudwatch.LogGroup(
            child(eks.resource_name, "logs"),
            name=eks.log_group_name,
            retention_in_days=eks.log_retention_days,
            tags=spec.tags,
            opts=child_opts(self, provider),
        )
        groups: list[pulumi.Input[str]] = [inputs.security_group_id]
        if eks.api_rules:
            api = aws.ec2.SecurityGroup(
                child(eks.resource_name, "api-sg"),
                vpc_id=inputs.vpc_id,
                description=f"Kubernetes API of cluster {spec.cluster} from api_private_cidrs",
                revoke_rules_on_delete=True,
                tags=spec.tags,
                opts=child_opts(self, provider),
            )
            add_sg_rules(
                self, child(eks.resource_name, "api-sg"), api.id, eks.api_rules, {}, spec.tags, provider
            )
            groups.append(api.id)
        encryption = (
            None
            if eks.secrets_key_arn is None
            else aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=eks.secrets_key_arn),
            )
        )
        return aws.eks.Cluster(
            child(eks.resource_name, "cluster"),
            name=eks.cluster_name,
            version=eks.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(inputs.control_plane_subnet_ids),
                security_group_ids=groups,
                endpoint_private_access=True,
                endpoint_public_access=eks.endpoint_public_access,
                public_access_cidrs=list(eks.public_access_cidrs) if eks.endpoint_public_access else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            enabled_cluster_log_types=list(eks.log_types),
            encryption_config=encryption,
            deletion_protection=eks.deletion_protection,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=eks.support_type),
            tags=spec.tags,
            # protected in Pulumi too: `pulumi destroy` refuses before it deletes the node groups and releases
            opts=child_opts(self, provider, depends_on=[attachment, logs], protect=eks.deletion_protection),
        )

    def _admins(self, eks: EksSpec, provider: aws.Provider) -> None:
        for key, arn in eks.admins.items():
            entry = aws.eks.AccessEntry(
                child(eks.resource_name, "admin", key),
                cluster_name=self.cluster.name,
                principal_arn=arn,
                opts=child_opts(self, provider),
            )
            aws.eks.AccessPolicyAssociation(
                child(eks.resource_name, "admin", key, "policy"),
                cluster_name=self.cluster.name,
                principal_arn=arn,
                policy_arn=eks.admin_policy_arn,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child_opts(self, provider, depends_on=[entry]),
            )

    def _software(self, plan: ClusterPlan, eks: EksSpec) -> dict[str, k8s.helm.v3.Release]:
        """Our namespaces and ConfigMaps, then one Helm release per chart, once the system nodes can run
        their controllers."""
        cluster_provider = k8s.Provider(
            child(eks.resource_name, "k8s"),
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
        )
        ready: list[pulumi.Resource] = [self.system.node_group]
        owned: list[pulumi.Resource] = []
        for item in manifests(plan):
            if item.applied:
                owned += apply_manifest(item, eks.resource_name, cluster_provider, self, ready)
        k8s_plan = plan.kubernetes
        releases: dict[str, k8s.helm.v3.Release] = {}
        for release in k8s_plan.releases if k8s_plan else []:
            releases[release.name] = k8s.helm.v3.Release(
                child(eks.resource_name, "helm", release.name),
                name=release.name,
                chart=release.chart,
                version=release.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=release.repository),
                namespace=release.namespace,
                create_namespace=False,
                **release_values(plan, release),
                timeout=eks.helm_timeout,
                atomic=False,
                cleanup_on_fail=True,
                max_history=10,
                opts=pulumi.ResourceOptions(
                    parent=self, provider=cluster_provider, depends_on=[*ready, *owned]
                ),
            )
        return releases
