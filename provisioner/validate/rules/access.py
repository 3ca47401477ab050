"""Network access: nothing open to the world, existing networks given completely."""

from collections.abc import Iterator

from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error, warning


def ssh_not_open(ctx: RuleContext) -> Iterator[Finding]:
    for i, cidr in enumerate(ctx.cluster.network.ssh_cidrs):
        if cidr.prefixlen == 0:
            yield error(
                "ssh-open-to-world",
                f"network.ssh_cidrs[{i}]",
                f"{cidr} opens SSH to the whole internet",
                "use your office/VPN range (e.g. 203.0.113.0/24), or no SSH at all: nodes are reachable "
                "through SSM Session Manager / OS Login",
            )


def public_ips(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.cluster.network.public_ips:
        yield warning(
            "public-ips",
            "network.public_ips",
            "nodes get public IP addresses; GPU nodes are usually reached through a bastion or SSM",
            "set public_ips=False unless the nodes must be reachable from the internet",
        )


def existing_network(ctx: RuleContext) -> Iterator[Finding]:
    network = ctx.cluster.network
    if network.vpc_id and not network.subnet_ids:
        yield error(
            "subnet-ids-missing",
            "network.subnet_ids",
            f"vpc_id={network.vpc_id!r} is given without subnet ids",
            'list the private subnet(s) to use: subnet_ids=["subnet-..."]',
        )
    if network.subnet_ids and not network.vpc_id:
        yield error(
            "vpc-id-missing",
            "network.vpc_id",
            "subnet_ids are given without the vpc_id they belong to",
            'set vpc_id="vpc-..." (security groups are created in it)',
        )


RULES = (ssh_not_open, public_ips, existing_network)
