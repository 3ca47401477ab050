"""Helpers shared by the AWS emit modules (they import Pulumi; `plan.py` never does)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from provisioner.providers.aws.plan import SgRule

NETWORK_TYPE = "provisioner:aws:Network"
IDENTITY_TYPE = "provisioner:aws:Identity"
NODE_POOL_TYPE = "provisioner:aws:NodePool"
FILESYSTEM_TYPE = "provisioner:aws:SharedFilesystem"
BUCKET_TYPE = "provisioner:aws:Bucket"


def child_opts(parent: pulumi.Resource, provider: aws.Provider, **extra: Any) -> pulumi.ResourceOptions:
    """Options of a resource inside a component: parented (stable URNs) and on the cluster's provider."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, **extra)


def component_opts(parent: pulumi.Resource, provider: aws.Provider) -> pulumi.ResourceOptions:
    """Options of a per-concern component: anything created under it defaults to the cluster's provider."""
    return pulumi.ResourceOptions(parent=parent, providers=[provider])


def flag(value: bool) -> str:
    """pulumi_aws launch template booleans are strings."""
    return str(value).lower()


def add_sg_rules(
    owner: pulumi.Resource,
    prefix: str,
    security_group_id: pulumi.Input[str],
    rules: Sequence[SgRule],
    peers: Mapping[str, pulumi.Input[str]],
    tags: Mapping[str, str],
    provider: aws.Provider,
) -> list[pulumi.CustomResource]:
    """One rule resource per rule (named `{prefix}-{rule.key}`); "self" is the group the rules belong to."""
    groups = {"self": security_group_id, **peers}
    created: list[pulumi.CustomResource] = []
    for rule in rules:
        cls = (
            aws.vpc.SecurityGroupIngressRule
            if rule.direction == "ingress"
            else aws.vpc.SecurityGroupEgressRule
        )
        created.append(
            cls(
                f"{prefix}-{rule.key}",
                security_group_id=security_group_id,
                ip_protocol=rule.protocol,
                from_port=rule.from_port,
                to_port=rule.to_port,
                cidr_ipv4=rule.cidr_ipv4,
                cidr_ipv6=rule.cidr_ipv6,
                referenced_security_group_id=groups[rule.peer] if rule.peer else None,
                description=rule.description,
                tags=dict(tags),
                opts=child_opts(owner, provider),
            )
        )
    return created
