"""Findings shared by the schedulers' rules: the CPU shapes of their support nodes."""

from provisioner.providers.base import provider_info
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, warning


def unknown_support_shape(
    ctx: RuleContext, code: str, path: str, role: str, shape: str | None
) -> Finding | None:
    """A warning when a support node's declared shape is not in the catalog (its size and price unknown)."""
    provider = ctx.cluster.provider.value
    if shape is None or ctx.catalog.cpu_shape(provider, shape) is not None:
        return None
    info = provider_info(provider)
    default = info.support_shapes.get(role) if info else None
    return warning(
        code,
        path,
        f"{shape!r} is not a CPU shape the catalog knows for {provider}: its size and price are unknown "
        "(it is still used)",
        f"check the spelling, or leave instance_type=None for the default ({default or 'none known'})",
    )
