"""Running users' Pulumi programs offline (under the SDK's mock runtime) for `provisioner plan`."""
