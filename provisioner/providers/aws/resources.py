"""AWS emit side: a ClusterPlan -> pulumi_aws resources under the GpuCluster component.

The decisions (names, layout, rules, policies) come from the pure `plan.py` (and `slurm_plan.py`); this module
and its siblings (`network.py`, `identity.py`, `storage.py`, `compute.py`, `slurm.py`) only turn them into
resources. Children are grouped in one component per concern and named `{name}-...`, so URNs stay stable.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from provisioner.bootstrap import LustreMount
from provisioner.plan import ClusterPlan
from provisioner.providers.aws.compute import NodePool, PoolInputs
from provisioner.providers.aws.identity import Identity
from provisioner.providers.aws.network import Network
from provisioner.providers.aws.plan import AwsPlan, AwsPlanError, aws_plan, child
from provisioner.providers.aws.slurm import Scheduler, SchedulerInputs
from provisioner.providers.aws.storage import ClusterBucket, SharedFilesystem, lustre_mounts
from provisioner.providers.base import MissingSdkError


def cluster_provider(spec: AwsPlan, parent: pulumi.Resource) -> aws.Provider:
    """An explicit provider: the declared region wins over the stack's `aws:region`, and every resource
    carries the cluster's tags (explicit tags on each resource as well, for the services that need them)."""
    return aws.Provider(
        child(spec.name, "aws"),
        region=spec.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=spec.tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


class AwsEmitter:
    """Emitter of the AWS adapter (registered as "provisioner.providers.aws.resources:AwsEmitter")."""

    def emit(self, name: str, plan: ClusterPlan, parent: Any) -> dict[str, Any]:
        spec = aws_plan(name, plan)
        provider = cluster_provider(spec, parent)
        network = Network(spec, provider, parent)
        filesystems = [SharedFilesystem(spec, fs, network, provider, parent) for fs in spec.lustre]
        buckets = [ClusterBucket(spec, item, provider, parent) for item in spec.buckets]
        identity = Identity(spec, [b.bucket.arn for b in buckets], provider, parent)
        lustre = lustre_mounts(filesystems)
        launch_dependencies: list[pulumi.Resource] = [identity.key_grant] if identity.key_grant else []
        outputs = {
            "vpc_id": network.vpc_id,
            "private_subnet_id": network.private_subnet_id,
            "zone": network.zone,
            "security_group_id": network.security_group.id,
            "node_role_arn": identity.role.arn,
            "filesystems": {fs.spec.name: fs.filesystem.dns_name for fs in filesystems},
            "buckets": {b.spec.name: b.bucket.bucket for b in buckets},
        }
        if spec.eks is not None:
            return {
                **outputs,
                **emit_kubernetes(spec, plan, network, identity, launch_dependencies, provider, parent),
            }
        scheduler = None
        if spec.slurm is not None:
            scheduler = emit_scheduler(
                spec, plan, network, identity, lustre, launch_dependencies, provider, parent
            )
            launch_dependencies = [*launch_dependencies, *scheduler.launch_dependencies]
        inputs = PoolInputs(
            subnet_id=network.private_subnet_id,
            security_group_id=network.security_group.id,
            instance_profile_arn=identity.instance_profile.arn,
            lustre=lustre,
            launch_dependencies=launch_dependencies,
            slurm=scheduler.wiring if scheduler is not None else None,
        )
        pools = [NodePool(spec, plan, pool, inputs, provider, parent) for pool in spec.pools]
        outputs = {
            **outputs,
            "pools": {p.spec.name: p.group.name for p in pools},
            "launch_templates": {p.spec.name: p.launch_template.id for p in pools},
        }
        return outputs if scheduler is None else {**outputs, **scheduler_outputs(scheduler)}


def emit_scheduler(
    spec: AwsPlan,
    plan: ClusterPlan,
    network: Network,
    identity: Identity,
    lustre: pulumi.Output[list[LustreMount]],
    launch_dependencies: list[pulumi.Resource],
    provider: aws.Provider,
    parent: pulumi.Resource,
) -> Scheduler:
    """The Slurm controller, its login nodes and secrets; the pools then join it."""
    inputs = SchedulerInputs(
        subnet_id=network.private_subnet_id,
        security_group_id=network.security_group.id,
        node_role=identity.role,
        node_profile_arn=identity.instance_profile.arn,
        lustre=lustre,
        launch_dependencies=launch_dependencies,
    )
    return Scheduler(spec, plan, inputs, provider, parent)


def scheduler_outputs(scheduler: Scheduler) -> dict[str, Any]:
    return {
        "slurm_controller_ip": scheduler.controller.private_ip,
        "slurm_controller_id": scheduler.controller.id,
        "slurm_munge_secret_arn": scheduler.munge_key.arn,
        "slurm_login_group": scheduler.login_group.name if scheduler.login_group else None,
    }


def emit_kubernetes(
    spec: AwsPlan,
    plan: ClusterPlan,
    network: Network,
    identity: Identity,
    launch_dependencies: list[pulumi.Resource],
    provider: aws.Provider,
    parent: pulumi.Resource,
) -> dict[str, Any]:
    """EKS: the pools become managed node groups of the cluster (no auto scaling groups of our own)."""
    # imported here: only Kubernetes clusters need pulumi_kubernetes (the `kubernetes` extra)
    try:
        from provisioner.providers.aws.eks import Kubernetes, KubernetesInputs
    except ImportError as exc:
        raise MissingSdkError("aws", "kubernetes", exc) from exc

    if len(network.control_plane_subnet_ids) < 2:
        raise AwsPlanError("EKS needs subnets in two availability zones for its control plane")
    inputs = KubernetesInputs(
        subnet_id=network.private_subnet_id,
        control_plane_subnet_ids=network.control_plane_subnet_ids,
        vpc_id=network.vpc_id,
        security_group_id=network.security_group.id,
        node_role=identity.role,
        # the instance profile is made once every policy is on the role: nodes join only with them
        launch_dependencies=[*launch_dependencies, identity.instance_profile],
    )
    cluster = Kubernetes(spec, plan, inputs, provider, parent)
    return {
        "eks_cluster_name": cluster.cluster.name,
        "eks_endpoint": cluster.cluster.endpoint,
        "eks_oidc_provider_arn": cluster.oidc.arn,
        "kubeconfig": cluster.kubeconfig,
        "node_groups": {g.spec.name: g.node_group.node_group_name for g in cluster.node_groups},
        "helm_releases": {name: r.version for name, r in cluster.releases.items()},
    }
