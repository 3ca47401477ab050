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
from provisioner.catalog.models import CpuShape, GpuModel, ImageDefault, Offer, Price
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
                    ssm_parameter=raw.get("ssm_parameter"),
                    nvidia_driver=raw.get("nvidia_driver"),
                    description=raw["description"],
                )
            )
    cpu_shapes = parse_cpu_shapes_csv(_read_text("cpu_shapes.csv"))
    return Catalog(gpus=gpus, offers=offers, cuda_min_driver=cuda, images=images, cpu_shapes=cpu_shapes)


@functools.cache
def shipped_catalog() -> Catalog:
    """The packaged catalog, read once per process (it is immutable). Pass your own Catalog to override."""
    return load_catalog()
