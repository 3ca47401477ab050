"""Boot-time software of the nodes, rendered from `templates/`. Pure: no Pulumi, no network."""

from provisioner.bootstrap.context import NodeContext, node_context
from provisioner.bootstrap.mounts import HostFirewall, LustreMount, NfsMount, VolumeMount
from provisioner.bootstrap.slurm import SecretRef, SlurmLayout, SlurmWiring
from provisioner.bootstrap.steps import STEPS, Step, steps_for
from provisioner.bootstrap.userdata import (
    NodeFile,
    RenderedPool,
    UserDataTooLargeError,
    compose,
    node_files,
    node_metadata,
    render_cloud_config,
    render_pool,
    render_support,
    render_support_user_data,
    render_user_data,
    user_data_payload,
)

__all__ = [
    "STEPS",
    "HostFirewall",
    "LustreMount",
    "NfsMount",
    "NodeContext",
    "NodeFile",
    "RenderedPool",
    "SecretRef",
    "SlurmLayout",
    "SlurmWiring",
    "Step",
    "UserDataTooLargeError",
    "VolumeMount",
    "compose",
    "node_context",
    "node_files",
    "node_metadata",
    "render_cloud_config",
    "render_pool",
    "render_support",
    "render_support_user_data",
    "render_user_data",
    "steps_for",
    "user_data_payload",
]
