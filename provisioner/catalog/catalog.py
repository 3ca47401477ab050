"""The Catalog: GPU models, offers, CUDA driver floors and default images, with lookups."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from provisioner.catalog.models import (
    CpuShape,
    GpuModel,
    HelmChart,
    ImageDefault,
    ManagedKubernetes,
    Offer,
    StoragePrice,
)


def _key(name: str) -> str:
    return name.strip().upper().replace("_", "-").replace(" ", "-")


class Catalog:
    """Immutable after construction. Tests build their own from a few records."""

    def __init__(
        self,
        gpus: Iterable[GpuModel],
        offers: Iterable[Offer],
        cuda_min_driver: dict[str, str] | None = None,
        images: Iterable[ImageDefault] = (),
        cpu_shapes: Iterable[CpuShape] = (),
        managed_kubernetes: Iterable[ManagedKubernetes] = (),
        charts: Iterable[HelmChart] = (),
        storage_prices: Iterable[StoragePrice] = (),
    ) -> None:
        self._gpus: dict[str, GpuModel] = {}
        self._names: dict[str, str] = {}
        for gpu in gpus:
            self._gpus[gpu.name] = gpu
            for alias in (gpu.name, *gpu.aliases):
                self._names[_key(alias)] = gpu.name
        self._offers: tuple[Offer, ...] = tuple(offers)
        self._by_shape = {(o.provider, o.instance_type): o for o in self._offers}
        self.cuda_min_driver: dict[str, str] = dict(cuda_min_driver or {})
        self._images = {(i.provider, i.os): i for i in images}
        self._cpu_shapes = {(c.provider, c.instance_type): c for c in cpu_shapes}
        self._managed = {m.provider: m for m in managed_kubernetes}
        self._charts = {c.key: c for c in charts}
        self._storage = {(s.provider, s.kind, s.variant, s.region): s for s in storage_prices}

    @property
    def gpus(self) -> tuple[GpuModel, ...]:
        return tuple(self._gpus.values())

    @property
    def offers(self) -> tuple[Offer, ...]:
        return self._offers

    def resolve_gpu(self, name: str) -> GpuModel | None:
        """The GPU for a canonical name or alias (case-insensitive), or None."""
        canonical = self._names.get(_key(name))
        return self._gpus[canonical] if canonical else None

    def close_gpu_names(self, name: str, limit: int = 3) -> list[str]:
        key = _key(name)
        candidates = sorted(self._names)
        hits = [c for c in candidates if key and c.startswith(key)]
        hits += difflib.get_close_matches(key, candidates, n=limit * 3, cutoff=0.5)
        result: list[str] = []
        for hit in hits:
            canonical = self._names[hit]
            if canonical not in result:
                result.append(canonical)
        return result[:limit]

    def find_offers(self, provider: str | None = None, gpu: str | None = None) -> list[Offer]:
        return [
            o
            for o in self._offers
            if (provider is None or o.provider == provider) and (gpu is None or o.gpu == gpu)
        ]

    def offer(self, provider: str, instance_type: str) -> Offer | None:
        return self._by_shape.get((provider, instance_type))

    def providers_with_gpu(self, gpu: str) -> list[str]:
        return sorted({o.provider for o in self._offers if o.gpu == gpu})

    def image(self, provider: str, os: str) -> ImageDefault | None:
        return self._images.get((provider, os))

    def cpu_shape(self, provider: str, instance_type: str) -> CpuShape | None:
        """A support-node shape (controller, login) the catalog knows, or None."""
        return self._cpu_shapes.get((provider, instance_type))

    def managed_kubernetes(self, provider: str) -> ManagedKubernetes | None:
        return self._managed.get(provider)

    def storage_price(self, provider: str, kind: str, variant: str, region: str) -> StoragePrice | None:
        """The price of that storage in that region, else the provider's price for every region; None =
        unknown."""
        return self._storage.get((provider, kind, variant, region)) or self._storage.get(
            (provider, kind, variant, "*")
        )

    def chart(self, key: str) -> HelmChart | None:
        return self._charts.get(key)

    def fabric_chart(self, fabric: str) -> HelmChart | None:
        """The device plugin chart of a fabric ('efa'), if the catalog has one."""
        return next((c for c in self._charts.values() if c.fabric == fabric), None)
