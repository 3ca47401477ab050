"""Provider registry and capabilities. Pure data: importing this never imports Pulumi or a cloud SDK."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from provisioner.plan.models import ClusterPlan


class Capability(StrEnum):
    EFA = "efa"
    INFINIBAND = "infiniband"
    ROCE = "roce"
    GPUDIRECT_TCPX = "gpudirect-tcpx"
    GPUDIRECT_TCPXO = "gpudirect-tcpxo"
    GPUDIRECT_RDMA = "gpudirect-rdma"
    SPOT = "spot"
    RESERVATION = "reservation"
    CAPACITY_BLOCK = "capacity-block"
    LUSTRE = "lustre"
    NFS = "nfs"
    BUCKET = "bucket"
    LOCAL_SCRATCH = "scratch"
    EXISTING_NETWORK = "existing-network"
    CUSTOM_IMAGE = "custom-image"
    ROCKY_LINUX = "rocky-9"
    SLURM = "slurm"
    KUBERNETES = "kubernetes"


class Emitter(Protocol):
    """The emit side of a provider: turns a plan into Pulumi resources named `{name}-...` under `parent`.

    Returns the outputs the GpuCluster component registers (Pulumi Outputs or plain values)."""

    def emit(self, name: str, plan: ClusterPlan, parent: Any) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    title: str
    emitter: str | None
    """'module:Class' of the emitter, imported only when emitting; None = not implemented yet."""
    sdk_extra: str
    capabilities: dict[Capability, str | None] = field(default_factory=dict)
    """Capability -> None when supported, or the reason it is not."""
    user_data_limit: int | None = None
    """Largest user data the provider accepts, in bytes before encoding."""
    support_shapes: dict[str, str] = field(default_factory=dict)
    """Default CPU shape per support role ('controller', 'login') of a scheduler."""
    host_firewall: bool = False
    """Every node has a public address and no cloud firewall of ours in front: each node filters its own
    inbound traffic (Lambda, Crusoe; their adapters are the REST ones)."""
    reservations_by_match: bool = False
    """The cloud puts a VM into a matching reservation by itself (Crusoe): capacity='reservation' names no
    reservation id and no zone."""
    zonal_pools: bool = False
    """A pool lives in one zone: when it names none, the plan picks the first zone of the region where the
    catalog records its shape (Google Cloud)."""

    def unsupported(self, capability: Capability) -> str | None:
        if capability not in self.capabilities:
            return f"{self.title} has no {capability.value} support in provisioner"
        return self.capabilities[capability]

    def load_emitter(self) -> Emitter:
        if self.emitter is None:
            raise ProviderNotImplementedError(self.name)
        module_name, _, class_name = self.emitter.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise MissingSdkError(self.name, self.sdk_extra, exc) from exc
        emitter: Emitter = getattr(module, class_name)()
        return emitter


class ProviderNotImplementedError(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"the {name} provider adapter is not implemented yet; implemented: {implemented()}")


class MissingSdkError(RuntimeError):
    def __init__(self, name: str, extra: str, cause: ImportError) -> None:
        super().__init__(
            f"the {name} provider needs its Pulumi SDK ({cause.name or cause}): "
            f"pip install 'provisioner[{extra}]'"
        )


_REGISTRY: dict[str, ProviderInfo] = {}


def register(info: ProviderInfo) -> None:
    _REGISTRY[info.name] = info


def provider_info(name: str) -> ProviderInfo | None:
    _ensure_loaded()
    return _REGISTRY.get(name)


def implemented() -> list[str]:
    _ensure_loaded()
    return sorted(name for name, info in _REGISTRY.items() if info.emitter is not None)


def all_providers() -> list[ProviderInfo]:
    _ensure_loaded()
    return [info for _, info in sorted(_REGISTRY.items())]


def _ensure_loaded() -> None:
    if not _REGISTRY:
        from provisioner.providers import aws, crusoe, gcp, lambda_cloud

        for info in (aws.INFO, gcp.INFO, lambda_cloud.INFO, crusoe.INFO):
            register(info)
