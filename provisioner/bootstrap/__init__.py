"""Boot-time software of the nodes, rendered from `templates/`. Pure: no Pulumi, no network."""

from provisioner.bootstrap.userdata import LustreMount, UserDataTooLargeError, node_metadata, render_user_data

__all__ = ["LustreMount", "UserDataTooLargeError", "node_metadata", "render_user_data"]
