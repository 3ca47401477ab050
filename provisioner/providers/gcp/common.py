"""Helpers shared by the Google Cloud emit modules (they import Pulumi; the `*_plan.py` modules never do)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp

NETWORK_TYPE = "provisioner:gcp:Network"
IDENTITY_TYPE = "provisioner:gcp:Identity"
NODE_POOL_TYPE = "provisioner:gcp:NodePool"
FILESYSTEM_TYPE = "provisioner:gcp:SharedFilesystem"
BUCKET_TYPE = "provisioner:gcp:Bucket"


def child_opts(parent: pulumi.Resource, provider: gcp.Provider, **extra: Any) -> pulumi.ResourceOptions:
    """Options of a resource inside a component: parented (stable URNs) and on the cluster's provider."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, **extra)


def component_opts(parent: pulumi.Resource, provider: gcp.Provider) -> pulumi.ResourceOptions:
    """Options of a per-concern component: anything created under it defaults to the cluster's provider."""
    return pulumi.ResourceOptions(parent=parent, providers=[provider])


def project_id(provider: gcp.Provider, parent: pulumi.Resource, declared: str | None) -> pulumi.Output[str]:
    """The declared project, else the one the provider is configured with (the stack's `gcp:project`)."""
    if declared:
        return pulumi.Output.from_input(declared)
    config = gcp.organizations.get_client_config_output(
        opts=pulumi.InvokeOutputOptions(provider=provider, parent=parent)
    )
    return config.project
