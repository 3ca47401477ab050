"""The cluster's networks: the host VPC with one regional subnet (or an existing one), Cloud NAT for egress,
the fabric VPCs the pools' GPUDirect NICs need, internal-only firewall rules, and private services access
when Managed Lustre is declared."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from provisioner.providers.gcp.common import NETWORK_TYPE, child_opts, component_opts, project_id
from provisioner.providers.gcp.network_plan import VpcSpec
from provisioner.providers.gcp.plan import child, resource_name
from provisioner.providers.gcp.specs import FirewallSpec, GcpPlan

RDMA_PROFILE = "{zone}-vpc-roce"


class Network(pulumi.ComponentResource):
    network_self_link: pulumi.Output[str]
    network_name: pulumi.Output[str]
    """The host network's name (or, for a declared network, what was declared: a name or a self link)."""
    subnet_self_link: pulumi.Output[str]
    fabric_networks: dict[str, gcp.compute.Network]
    """The fabric VPCs, by VpcSpec.key ('gpu-0'.., 'gvnic-1', 'rdma')."""
    fabric_subnets: dict[str, gcp.compute.Subnetwork]
    """Their subnets, by SubnetSpec.key ('gpu-0'.., 'gvnic-1', 'rdma-0'..)."""
    private_services: gcp.servicenetworking.Connection | None
    firewall: list[gcp.compute.Firewall]

    def __init__(self, spec: GcpPlan, provider: gcp.Provider, parent: pulumi.Resource) -> None:
        super().__init__(NETWORK_TYPE, child(spec.name, "network"), None, component_opts(parent, provider))
        self._spec, self._gcp = spec, provider
        net = spec.network
        host: gcp.compute.Network | None = None
        if net.existing_network is None:
            host = self._vpc("host", net.host_mtu)
            subnet = self._subnet("host", host, net.host_cidr, secondary=net.secondary_ranges)
            self.network_self_link, self.subnet_self_link = host.self_link, subnet.self_link
            self.network_name = host.name
            self._nat(host)
        else:
            self.network_self_link = pulumi.Output.from_input(net.existing_network)
            self.network_name = pulumi.Output.from_input(net.existing_network)
            self.subnet_self_link = pulumi.Output.from_input(net.existing_subnet or "")
        self.fabric_networks, self.fabric_subnets = {}, {}
        for vpc in net.fabric_vpcs:
            self._fabric(vpc)
        networks: dict[str, pulumi.Input[str]] = {"host": self.network_self_link}
        networks.update({key: n.self_link for key, n in self.fabric_networks.items()})
        self.firewall = [self._rule(rule, networks[rule.network]) for rule in net.firewall]
        self.private_services = self._private_services() if net.private_services_range else None
        self.register_outputs(
            {
                "network": self.network_self_link,
                "subnetwork": self.subnet_self_link,
                "fabric_networks": {k: n.self_link for k, n in self.fabric_networks.items()},
            }
        )

    def _opts(self, **extra: object) -> pulumi.ResourceOptions:
        return child_opts(self, self._gcp, **extra)

    def _vpc(self, key: str, mtu: int, profile: pulumi.Input[str] | None = None) -> gcp.compute.Network:
        return gcp.compute.Network(
            child(self._spec.name, "net", key),
            project=self._spec.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            mtu=mtu,
            network_profile=profile,
            description=f"provisioner: {key} network of cluster {self._spec.name}",
            opts=self._opts(),
        )

    def _subnet(
        self,
        key: str,
        network: gcp.compute.Network,
        cidr: str,
        secondary: tuple[tuple[str, str], ...] = (),
    ) -> gcp.compute.Subnetwork:
        return gcp.compute.Subnetwork(
            child(self._spec.name, "subnet", key),
            project=self._spec.project,
            region=self._spec.region,
            network=network.self_link,
            ip_cidr_range=cidr,
            # no external addresses: Google APIs (Secret Manager, Storage, Logging) over the host NIC's
            # internal path; the fabric subnets carry only NCCL traffic (the RoCE profile refuses it)
            private_ip_google_access=key == "host",
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=name, ip_cidr_range=range_)
                for name, range_ in secondary
            ]
            or None,
            opts=self._opts(),
        )

    def _nat(self, host: gcp.compute.Network) -> None:
        router = gcp.compute.Router(
            child(self._spec.name, "router"),
            project=self._spec.project,
            region=self._spec.region,
            network=host.self_link,
            opts=self._opts(),
        )
        gcp.compute.RouterNat(
            child(self._spec.name, "nat"),
            project=self._spec.project,
            region=self._spec.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=self._opts(),
        )

    def _fabric(self, vpc: VpcSpec) -> None:
        profile: pulumi.Input[str] | None = None
        if vpc.rdma_profile:
            zone = self._spec.network.rdma_zone or self._spec.zone
            project = project_id(self._gcp, self, self._spec.project)
            profile = project.apply(
                lambda p: f"projects/{p}/global/networkProfiles/{RDMA_PROFILE.format(zone=zone)}"
            )
        network = self._vpc(vpc.key, vpc.mtu, profile)
        self.fabric_networks[vpc.key] = network
        for subnet in vpc.subnets:
            self.fabric_subnets[subnet.key] = self._subnet(subnet.key, network, subnet.cidr)

    def _rule(self, rule: FirewallSpec, network: pulumi.Input[str]) -> gcp.compute.Firewall:
        return gcp.compute.Firewall(
            child(self._spec.name, "fw", rule.key),
            project=self._spec.project,
            network=network,
            direction="INGRESS",
            priority=rule.priority,
            source_ranges=list(rule.source_ranges),
            # only this cluster's machines (on a shared, existing network the rules reach nothing else)
            target_tags=[resource_name(self._spec.name)],
            allows=[
                gcp.compute.FirewallAllowArgs(protocol=protocol, ports=list(ports) or None)
                for protocol, ports in rule.protocols
            ],
            description=f"provisioner: {rule.description}",
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="EXCLUDE_ALL_METADATA")
            if rule.key == "ssh"
            else None,
            opts=self._opts(),
        )

    def _private_services(self) -> gcp.servicenetworking.Connection:
        """Private services access: the range Google's managed services (Managed Lustre) get addresses in."""
        cidr = self._spec.network.private_services_range or ""
        address, _, prefix = cidr.partition("/")
        reserved = gcp.compute.GlobalAddress(
            child(self._spec.name, "services-range"),
            project=self._spec.project,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            address=address,
            prefix_length=int(prefix),
            network=self.network_self_link,
            opts=self._opts(),
        )
        return gcp.servicenetworking.Connection(
            child(self._spec.name, "services"),
            network=self.network_self_link,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[reserved.name],
            opts=self._opts(),
        )
