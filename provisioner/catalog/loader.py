"""Read the catalog data files shipped inside the package."""

from __future__ import annotations

import csv
import functools
import io
from datetime import date
from importlib import resources
from typing import Any

import yaml

from provisioner.catalog.catalog import Catalog
from provisioner.catalog.models import (
    CpuShape,
    GpuModel,
    HelmChart,
    ImageDefault,
    KubernetesVersion,
    ManagedKubernetes,
    Offer,
    Price,
    StoragePrice,
)
from provisioner.spec.enums import GpuVendor, Interconnect

_DATA = "provisioner.catalog.data"


def _read_text(*parts: str) -> str:
    node = resources.files(_DATA)
    for part in parts:
        node = node / part
    return node.read_text(encoding="utf-8")


def _gpu(raw: dict[str, Any]) -> GpuModel:
    return GpuModel(
        name=raw["name"],
        aliases=tuple(raw.get("aliases", ())),
        vendor=GpuVendor(raw["vendor"]),
        architecture=raw["architecture"],
        memory_gb=int(raw["memory_gb"]),
        form_factor=raw["form_factor"],
        fabric_manager=bool(raw["fabric_manager"]),
        open_kernel_required=bool(raw["open_kernel_required"]),
        min_driver=raw.get("min_driver"),
        cuda_floor=raw.get("cuda_floor"),
        rocm_floor=raw.get("rocm_floor"),
        source=raw["source"],
        verified=bool(raw["verified"]),
    )


def _price(row: dict[str, str]) -> Price | None:
    if not row["price_per_hour"]:
        return None
    return Price(
        per_hour=float(row["price_per_hour"]),
        as_of=date.fromisoformat(row["price_date"]),
        region=row["price_region"],
        source=row["price_source"],
    )


def _offer(row: dict[str, str]) -> Offer:
    price = _price(row)
    return Offer(
        provider=row["provider"],
        instance_type=row["instance_type"],
        gpu=row["gpu"] or None,
        accelerator=row["accelerator"] or None,
        gpu_count=int(row["gpu_count"]),
        vcpus=int(row["vcpus"]),
        memory_gib=float(row["memory_gib"]),
        local_nvme_gb=int(row["local_nvme_gb"] or 0),
        fabric=Interconnect(row["fabric"]),
        fabric_interfaces=int(row["fabric_interfaces"] or 0),
        network_gbps=float(row["network_gbps"] or 0),
        nvswitch=row["nvswitch"] == "true",
        price=price,
        regions=frozenset(row["regions"].split()),
        zones=frozenset((row.get("zones") or "").split()),
        attached_accelerator=row.get("attached_accelerator") or None,
    )


def parse_cpu_shapes_csv(text: str) -> list[CpuShape]:
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return [
        CpuShape(
            provider=row["provider"],
            instance_type=row["instance_type"],
            vcpus=int(row["vcpus"]),
            memory_gib=float(row["memory_gib"]),
            price=_price(row),
        )
        for row in csv.DictReader(io.StringIO("\n".join(lines)))
    ]


def parse_offers_csv(text: str) -> list[Offer]:
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return [_offer(row) for row in csv.DictReader(io.StringIO("\n".join(lines)))]


def parse_storage_csv(text: str) -> list[StoragePrice]:
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return [
        StoragePrice(
            provider=row["provider"],
            kind=row["kind"],
            variant=row["variant"],
            region=row["region"],
            per_gib_month=float(row["per_gib_month"]),
            billing=row["billing"],
            min_gib=int(row["min_gib"] or 0),
            as_of=date.fromisoformat(row["as_of"]),
            source=row["source"],
        )
        for row in csv.DictReader(io.StringIO("\n".join(lines)))
    ]


def _managed(provider: str, raw: dict[str, Any]) -> ManagedKubernetes:
    as_of = date.fromisoformat(str(raw["price_date"]))

    def price(key: str) -> Price | None:
        value = raw.get(key)
        return None if value is None else Price(float(value), as_of, "all regions", raw["price_source"])

    return ManagedKubernetes(
        provider=provider,
        service=raw["service"],
        default_version=str(raw["default_version"]),
        versions=tuple(
            KubernetesVersion(
                str(minor),
                date.fromisoformat(str(dates["released"])),
                date.fromisoformat(str(dates["end_of_standard_support"])),
            )
            for minor, dates in raw["versions"].items()
        ),
        price=price("control_plane_price_per_hour"),
        extended_support_price=price("extended_support_price_per_hour"),
        images={str(k): str(v) for k, v in raw["images"].items()},
        image_ships_driver=bool(raw["image_ships_driver"]),
        root_device=raw.get("root_device"),
        manages_device_plugin=bool(raw.get("manages_device_plugin", False)),
    )


def parse_kubernetes_yaml(text: str) -> tuple[list[ManagedKubernetes], list[HelmChart]]:
    raw = yaml.safe_load(text)
    managed = [_managed(provider, entry) for provider, entry in raw["managed"].items()]
    charts = [
        HelmChart(
            key=key,
            repository=entry["repository"],
            chart=entry["chart"],
            version=str(entry["version"]),
            namespace=entry["namespace"],
            daemonset_selector=entry["daemonset"],
            source=entry["source"],
            daemonset_name=entry.get("daemonset_name"),
            fabric=entry.get("fabric"),
            resource=entry.get("resource"),
        )
        for key, entry in raw["charts"].items()
    ]
    return managed, charts


def load_catalog() -> Catalog:
    """The catalog shipped with the package. Callers keep and pass it; nothing here is global."""
    gpus = [_gpu(raw) for raw in yaml.safe_load(_read_text("gpus.yaml"))["gpus"]]
    cuda = {str(k): str(v) for k, v in yaml.safe_load(_read_text("cuda.yaml"))["cuda_min_driver"].items()}
    offers: list[Offer] = []
    for entry in (resources.files(_DATA) / "offers").iterdir():
        if entry.name.endswith(".csv"):
            offers.extend(parse_offers_csv(entry.read_text(encoding="utf-8")))
    images: list[ImageDefault] = []
    for provider, by_os in yaml.safe_load(_read_text("images.yaml"))["images"].items():
        for os_name, raw in by_os.items():
            images.append(
                ImageDefault(
                    provider=provider,
                    os=os_name,
                    lookup=raw.get("ssm_parameter") or raw.get("image_family") or raw.get("image"),
                    nvidia_driver=raw.get("nvidia_driver"),
                    description=raw["description"],
                )
            )
    cpu_shapes = parse_cpu_shapes_csv(_read_text("cpu_shapes.csv"))
    managed, charts = parse_kubernetes_yaml(_read_text("kubernetes.yaml"))
    return Catalog(
        gpus=gpus,
        offers=offers,
        cuda_min_driver=cuda,
        images=images,
        cpu_shapes=cpu_shapes,
        managed_kubernetes=managed,
        charts=charts,
        storage_prices=parse_storage_csv(_read_text("storage.csv")),
    )


@functools.cache
def shipped_catalog() -> Catalog:
    """The packaged catalog, read once per process (it is immutable). Pass your own Catalog to override."""
    return load_catalog()
