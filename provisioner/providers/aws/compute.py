"""Node pools: a launch template and ONE auto scaling group per pool, whatever its size, and a cluster
placement group where the plan asks for a new one."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from provisioner.bootstrap import LustreMount, SlurmWiring, render_user_data, user_data_payload
from provisioner.plan import ClusterPlan
from provisioner.providers.aws import INFO
from provisioner.providers.aws.common import NODE_POOL_TYPE, child_opts, component_opts, flag
from provisioner.providers.aws.plan import AwsPlan, PoolSpec, child
from provisioner.providers.aws.specs import InterfaceSpec, MetadataSpec, RootVolumeSpec


@dataclass(frozen=True)
class PoolInputs:
    """What a pool takes from the other concerns."""

    subnet_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    instance_profile_arn: pulumi.Input[str]
    lustre: pulumi.Output[list[LustreMount]]
    launch_dependencies: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must exist before the groups launch a node (the KMS grant of the root volumes' key; with Slurm,
    the munge key's value, the node role's right to read it and the controller)."""
    slurm: pulumi.Output[SlurmWiring] | None = None
    """With a Slurm scheduler: the controller's address and the secrets' ids, so the nodes join it."""


def encoded_user_data(
    plan: ClusterPlan,
    pool: PoolSpec,
    lustre: pulumi.Output[list[LustreMount]],
    slurm: pulumi.Output[SlurmWiring] | None = None,
) -> pulumi.Output[str]:
    """Base64 of the pool's cloud-init; rendered once the filesystems' DNS names (and, with Slurm, the
    controller's address and the secrets' ARNs) are known, and checked against EC2's user data limit
    (INFO.user_data_limit, counted before base64 encoding)."""
    limit = INFO.user_data_limit

    def render(mounts: list[LustreMount], wiring: SlurmWiring | None = None) -> str:
        if wiring is None:
            text = render_user_data(plan, pool.source, mounts, limit=limit)
        else:
            text = render_user_data(plan, pool.source, mounts, limit=limit, slurm=wiring)
        return base64.b64encode(user_data_payload(text, limit)).decode()

    if slurm is None:
        return lustre.apply(render)
    return pulumi.Output.all(lustre, slurm).apply(lambda values: render(values[0], values[1]))


def image_id(pool: PoolSpec, provider: aws.Provider, parent: pulumi.Resource) -> pulumi.Input[str]:
    """The custom AMI, else the GPU image named by an SSM public parameter, read at deploy time.

    `insecure_value`: an AMI id is no secret, and a changed image must show in the diff under review."""
    if pool.image_id is not None:
        return pool.image_id
    found = aws.ssm.get_parameter_output(
        name=pool.image_parameter, opts=pulumi.InvokeOutputOptions(provider=provider, parent=parent)
    )
    return found.insecure_value


def root_device_name(
    pool: PoolSpec, image: pulumi.Input[str], provider: aws.Provider, parent: pulumi.Resource
) -> pulumi.Input[str]:
    """The root device the image boots from: known for the catalog's images, else asked of EC2.

    The image-id filter makes the lookup exact without `owners`, so any image the account may launch is
    found (its own, shared with it, Amazon's, Marketplace or public); deprecated images still launch, so they
    count too."""
    if pool.root_volume.device_name is not None:
        return pool.root_volume.device_name
    filters = pulumi.Output.from_input(image).apply(
        lambda ami: [aws.ec2.GetAmiFilterArgs(name="image-id", values=[ami])]
    )
    found = aws.ec2.get_ami_output(
        filters=filters,
        most_recent=True,
        include_deprecated=True,
        opts=pulumi.InvokeOutputOptions(provider=provider, parent=parent),
    )
    return found.root_device_name


def network_interfaces(
    interfaces: Sequence[InterfaceSpec], security_groups: pulumi.Input[Sequence[pulumi.Input[str]]]
) -> list[aws.ec2.LaunchTemplateNetworkInterfaceArgs]:
    """A launch template's interfaces (the pools', the Slurm login nodes' and the EKS node groups')."""
    return [
        aws.ec2.LaunchTemplateNetworkInterfaceArgs(
            network_card_index=nic.network_card_index,
            device_index=nic.device_index,
            interface_type=nic.interface_type,
            associate_public_ip_address=None
            if nic.associate_public_ip is None
            else flag(nic.associate_public_ip),
            # No subnet here: the auto scaling group places nodes in its own subnets (and EKS node groups,
            # which reuse this template, refuse a template that names one).
            security_groups=security_groups,
            delete_on_termination=flag(True),
        )
        for nic in interfaces
    ]


def root_volume(
    root: RootVolumeSpec, device_name: pulumi.Input[str]
) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgs:
    """A launch template's encrypted root volume."""
    return aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name=device_name,
        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_size=root.size_gib,
            volume_type=root.volume_type,
            encrypted=flag(root.encrypted),
            kms_key_id=root.kms_key_id,
            delete_on_termination=flag(root.delete_on_termination),
        ),
    )


def market_options(pool: PoolSpec) -> aws.ec2.LaunchTemplateInstanceMarketOptionsArgs | None:
    market = pool.capacity.market_type
    return None if market is None else aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type=market)


def reservation(pool: PoolSpec) -> aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs | None:
    reservation_id = pool.capacity.reservation_id
    if reservation_id is None:
        return None
    target = aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
        capacity_reservation_id=reservation_id
    )
    return aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(capacity_reservation_target=target)


def tag_specifications(tags: dict[str, str]) -> list[aws.ec2.LaunchTemplateTagSpecificationArgs]:
    """The tags a launch template puts on its instances and their volumes."""
    return [
        aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
        for kind in ("instance", "volume")
    ]


def metadata_options(metadata: MetadataSpec) -> aws.ec2.LaunchTemplateMetadataOptionsArgs:
    return aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_endpoint=metadata.http_endpoint,
        http_tokens=metadata.http_tokens,
        http_put_response_hop_limit=metadata.http_put_response_hop_limit,
    )


def placement_group(
    owner: pulumi.Resource, pool: PoolSpec, tags: dict[str, str], provider: aws.Provider
) -> aws.ec2.PlacementGroup | None:
    """The pool's new cluster placement group (`{pool}-pg`) where the plan asks for one, else None."""
    if pool.placement_strategy is None:
        return None
    return aws.ec2.PlacementGroup(
        child(pool.resource_name, "pg"),
        strategy=pool.placement_strategy,
        tags=tags,
        opts=child_opts(owner, provider),
    )


class NodePool(pulumi.ComponentResource):
    """Identical GPU nodes as one auto scaling group, so the plan does not grow with the node count."""

    spec: PoolSpec
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group
    placement_group: aws.ec2.PlacementGroup | None

    def __init__(
        self,
        spec: AwsPlan,
        plan: ClusterPlan,
        pool: PoolSpec,
        inputs: PoolInputs,
        provider: aws.Provider,
        parent: pulumi.Resource,
    ) -> None:
        super().__init__(NODE_POOL_TYPE, pool.resource_name, None, component_opts(parent, provider))
        self.spec, self._aws = pool, provider
        self.placement_group = placement_group(self, pool, spec.tags, provider)
        self.launch_template = self._launch_template(spec, plan, pool, inputs)
        self.group = self._group(pool, inputs)
        self.register_outputs({"group_name": self.group.name, "launch_template_id": self.launch_template.id})

    def _launch_template(
        self, spec: AwsPlan, plan: ClusterPlan, pool: PoolSpec, inputs: PoolInputs
    ) -> aws.ec2.LaunchTemplate:
        image = image_id(pool, self._aws, self)
        return aws.ec2.LaunchTemplate(
            child(pool.resource_name, "lt"),
            description=f"GPU nodes of pool {pool.name} of cluster {spec.cluster}",
            image_id=image,
            instance_type=pool.instance_type,
            key_name=pool.key_name,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(
                arn=inputs.instance_profile_arn
            ),
            metadata_options=metadata_options(pool.metadata),
            block_device_mappings=[
                root_volume(pool.root_volume, root_device_name(pool, image, self._aws, self))
            ],
            network_interfaces=network_interfaces(pool.interfaces, [inputs.security_group_id]),
            instance_market_options=market_options(pool),
            capacity_reservation_specification=reservation(pool),
            user_data=encoded_user_data(plan, pool, inputs.lustre, inputs.slurm),
            tag_specifications=tag_specifications(pool.instance_tags),
            tags=spec.tags,
            opts=child_opts(self, self._aws),
        )

    def _placement_group_name(self, pool: PoolSpec) -> pulumi.Input[str] | None:
        """The pool's new cluster placement group, else the existing one it names, else none."""
        if self.placement_group is not None:
            return self.placement_group.name
        return pool.placement_group

    def _group(self, pool: PoolSpec, inputs: PoolInputs) -> aws.autoscaling.Group:
        template = self.launch_template
        return aws.autoscaling.Group(
            child(pool.resource_name, "asg"),
            min_size=pool.nodes,
            max_size=pool.nodes,
            desired_capacity=pool.nodes,
            vpc_zone_identifiers=[inputs.subnet_id],
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            placement_group=self._placement_group_name(pool),
            health_check_type="EC2",
            # A fabric pool lives in one AZ: never move nodes out of the placement group to "rebalance" zones.
            suspended_processes=list(pool.suspended_processes),
            # `pulumi destroy` terminates the nodes instead of waiting on them: no billed GPU node is left.
            force_delete=True,
            # See specs.ASG_WAIT_FOR_CAPACITY: waiting is what reports a capacity shortage as a failed deploy.
            # Capacity blocks wait "0" (specs.ASG_WAIT_FOR_CAPACITY_BLOCK): a block may start after
            # `pulumi up`; the group keeps retrying its launches and the nodes come up when the block starts.
            wait_for_capacity_timeout=pool.wait_for_capacity_timeout,
            tags=[
                aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
                for key, value in sorted(pool.instance_tags.items())
            ],
            opts=child_opts(self, self._aws, depends_on=list(inputs.launch_dependencies)),
        )
