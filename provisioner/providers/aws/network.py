"""The cluster's network: a single-AZ VPC with private nodes (or an existing VPC), and its security group."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provisioner.providers.aws.common import NETWORK_TYPE, add_sg_rules, child_opts, component_opts
from provisioner.providers.aws.eks_plan import EKS_UNSUPPORTED_ZONE_IDS, control_plane_zones
from provisioner.providers.aws.plan import AwsPlan, child, pick_zone


def looked_up_zone(spec: AwsPlan, provider: aws.Provider, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The first zone of the region that offers every pool's instance type, asked of EC2 at deploy time
    (GPU shapes live in some zones only, and zone letters differ between accounts). Fails the deploy with a
    clear message when no zone offers them all."""
    kinds = spec.network.zone_instance_types
    offerings = aws.ec2.get_instance_type_offerings_output(
        location_type="availability-zone",
        filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=list(kinds))],
        opts=pulumi.InvokeOutputOptions(provider=provider, parent=parent),
    )
    region = spec.region
    return offerings.apply(lambda found: pick_zone(region, kinds, found.locations, found.instance_types))


class Network(pulumi.ComponentResource):
    """VPC, private subnet for the nodes, public subnet with one NAT gateway, S3 gateway endpoint and the
    cluster security group. With `network.vpc_id` only the security group is created."""

    vpc_id: pulumi.Output[str]
    private_subnet_id: pulumi.Output[str]
    zone: pulumi.Output[str | None]
    """The zone of the created subnets (declared or looked up); None with an existing network."""
    security_group: aws.ec2.SecurityGroup
    control_plane_subnet_ids: list[pulumi.Output[str]]
    """With Kubernetes: the control plane's subnets, in two zones EKS supports; empty without."""

    def __init__(self, spec: AwsPlan, provider: aws.Provider, parent: pulumi.Resource) -> None:
        super().__init__(NETWORK_TYPE, child(spec.name, "network"), None, component_opts(parent, provider))
        self._spec, self._aws = spec, provider
        net = spec.network
        if net.create:
            zone: pulumi.Input[str] = net.zone or looked_up_zone(spec, provider, self)
            vpc = self._vpc()
            private = self._subnet("private", vpc, net.private_cidr, zone)
            public = self._subnet("public", vpc, net.public_cidr, zone)
            private_rt = self._routes(vpc, private, public)
            self.vpc_id, self.private_subnet_id = vpc.id, private.id
            self.zone = private.availability_zone
            self.control_plane_subnet_ids = [
                subnet.id for subnet in self._control_plane_subnets(vpc, private_rt, net.control_plane_cidrs)
            ]
        else:
            self.vpc_id = pulumi.Output.from_input(net.vpc_id or "")
            self.private_subnet_id = pulumi.Output.from_input(net.subnet_id or "")
            self.zone = pulumi.Output.from_input(None)
            self.control_plane_subnet_ids = [
                pulumi.Output.from_input(subnet) for subnet in net.control_plane_subnet_ids
            ]
        self.security_group = self._security_group()
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_id": self.private_subnet_id,
                "zone": self.zone,
                "security_group_id": self.security_group.id,
            }
        )

    def _opts(self) -> pulumi.ResourceOptions:
        return child_opts(self, self._aws)

    def _vpc(self) -> aws.ec2.Vpc:
        return aws.ec2.Vpc(
            child(self._spec.name, "vpc"),
            cidr_block=self._spec.network.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._spec.tags,
            opts=self._opts(),
        )

    def _subnet(
        self, kind: str, vpc: aws.ec2.Vpc, cidr: str | None, zone: pulumi.Input[str]
    ) -> aws.ec2.Subnet:
        # A looked-up zone is kept once the subnet exists: a later answer (another pool's shape, a change in
        # what EC2 offers) must not replace the network, and with it the filesystem and every node. A
        # declared zone is the user's to change.
        ignore = ["availabilityZone"] if self._spec.network.zone_lookup else None
        return aws.ec2.Subnet(
            child(self._spec.name, kind),
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={**self._spec.tags, "provisioner:subnet": kind},
            opts=child_opts(self, self._aws, ignore_changes=ignore),
        )

    def _route_table(
        self, kind: str, vpc: aws.ec2.Vpc, subnet: aws.ec2.Subnet, **default_target: pulumi.Input[str]
    ) -> aws.ec2.RouteTable:
        """A route table for one subnet, whose default route (0.0.0.0/0) goes to `default_target`."""
        name = child(self._spec.name, kind, "rt")
        table = aws.ec2.RouteTable(name, vpc_id=vpc.id, tags=self._spec.tags, opts=self._opts())
        aws.ec2.RouteTableAssociation(
            child(name, "assoc"), route_table_id=table.id, subnet_id=subnet.id, opts=self._opts()
        )
        aws.ec2.Route(
            child(name, "default"),
            route_table_id=table.id,
            destination_cidr_block="0.0.0.0/0",
            opts=self._opts(),
            **default_target,
        )
        return table

    def _control_plane_subnets(
        self, vpc: aws.ec2.Vpc, private_rt: aws.ec2.RouteTable, cidrs: tuple[str, ...]
    ) -> list[aws.ec2.Subnet]:
        """Two small private subnets in two zones EKS supports, routed like the nodes' one, for the control
        plane's interfaces only. The zones are chosen once (kept like the nodes' zone)."""
        if not cidrs:
            return []
        found = aws.get_availability_zones_output(
            state="available",
            exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
            filters=[
                aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])
            ],
            opts=pulumi.InvokeOutputOptions(provider=self._aws, parent=self),
        )
        zones = found.names.apply(lambda names: control_plane_zones(list(names)))
        subnets = []
        for index, (letter, cidr) in enumerate(zip("ab", cidrs, strict=True)):
            name = child(self._spec.name, f"control-plane-{letter}")
            subnet = aws.ec2.Subnet(
                name,
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones[index],
                map_public_ip_on_launch=False,
                tags={**self._spec.tags, "provisioner:subnet": "control-plane"},
                opts=child_opts(self, self._aws, ignore_changes=["availabilityZone"]),
            )
            aws.ec2.RouteTableAssociation(
                child(name, "rt", "assoc"),
                route_table_id=private_rt.id,
                subnet_id=subnet.id,
                opts=self._opts(),
            )
            subnets.append(subnet)
        return subnets

    def _routes(
        self, vpc: aws.ec2.Vpc, private: aws.ec2.Subnet, public: aws.ec2.Subnet
    ) -> aws.ec2.RouteTable:
        """Public subnet -> internet gateway; private subnet -> one NAT gateway; S3 via a gateway endpoint."""
        name, tags = self._spec.name, self._spec.tags
        igw = aws.ec2.InternetGateway(child(name, "igw"), vpc_id=vpc.id, tags=tags, opts=self._opts())
        eip = aws.ec2.Eip(child(name, "nat-eip"), domain="vpc", tags=tags, opts=self._opts())
        nat = aws.ec2.NatGateway(
            child(name, "nat"),
            allocation_id=eip.allocation_id,
            subnet_id=public.id,
            tags=tags,
            opts=child_opts(self, self._aws, depends_on=[igw]),
        )
        public_rt = self._route_table("public", vpc, public, gateway_id=igw.id)
        private_rt = self._route_table("private", vpc, private, nat_gateway_id=nat.id)
        aws.ec2.VpcEndpoint(
            child(name, "s3-endpoint"),
            vpc_id=vpc.id,
            service_name=self._spec.network.s3_service,
            vpc_endpoint_type="Gateway",
            route_table_ids=[private_rt.id, public_rt.id],
            tags=tags,
            opts=self._opts(),
        )
        return private_rt

    def _security_group(self) -> aws.ec2.SecurityGroup:
        name = child(self._spec.name, "cluster-sg")
        group = aws.ec2.SecurityGroup(
            name,
            vpc_id=self.vpc_id,
            description=f"GPU nodes of cluster {self._spec.cluster}",
            revoke_rules_on_delete=True,
            tags=self._spec.tags,
            opts=self._opts(),
        )
        add_sg_rules(
            self, name, group.id, self._spec.network.cluster_sg_rules, {}, self._spec.tags, self._aws
        )
        return group
