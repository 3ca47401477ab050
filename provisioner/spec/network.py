"""Network a cluster lives in. Secure by default: private subnets, no SSH from anywhere."""

from ipaddress import IPv4Network, IPv6Network
from typing import Annotated

from pydantic import BeforeValidator, Field

from provisioner.spec._base import SpecModel


def _text_or_network(value: object) -> object:
    """Networks are written as text ('10.0.0.0/16'): pydantic would read 5 as 0.0.0.5/32 and choke on True."""
    if isinstance(value, str | IPv4Network | IPv6Network):
        return value
    raise ValueError(
        f"give a network in CIDR notation as text like '10.0.0.0/16', not {type(value).__name__}"
    )


Cidr = Annotated[IPv4Network | IPv6Network, BeforeValidator(_text_or_network)]


class Network(SpecModel):
    """Where the nodes live. Without `vpc_id`, a new VPC with a private subnet is created."""

    vpc_id: Annotated[str | None, Field(description="Existing VPC/VNet id; None = create one.")] = None
    subnet_ids: Annotated[
        list[str],
        Field(description="Existing private subnet ids (with vpc_id). The first one is used for pools."),
    ] = Field(default_factory=list)
    cidr: Annotated[
        IPv4Network, BeforeValidator(_text_or_network), Field(description="CIDR of a created VPC.")
    ] = IPv4Network("10.0.0.0/16")
    ssh_cidrs: Annotated[
        list[Cidr],
        Field(
            description="Networks allowed to SSH to the nodes. Empty (default) = no SSH; use SSM/OS Login."
        ),
    ] = Field(default_factory=list)
    public_ips: Annotated[bool, Field(description="Give nodes public IP addresses (off by default).")] = False
