"""Catalog offers as a table or JSON, for `provisioner catalog`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from provisioner.catalog import Offer
from provisioner.review.format import UNKNOWN
from provisioner.review.table import cells


def offer_fabric(offer: Offer) -> str:
    if not offer.has_fabric:
        return "none"
    return (
        f"{offer.fabric.value} x{offer.fabric_interfaces}" if offer.fabric_interfaces else offer.fabric.value
    )


def offer_price(offer: Offer) -> str:
    """'$98.32 (2026-01-21)' or 'unknown'."""
    if offer.price is None:
        return UNKNOWN
    return f"${offer.price.per_hour:,.2f} ({offer.price.as_of.isoformat()})"


def offers_table(offers: Sequence[Offer], title: str = "Offers") -> Table:
    table = Table(title=title, title_justify="left")
    columns = (
        "Provider",
        "Shape",
        "GPU",
        "Count",
        "vCPU",
        "RAM GiB",
        "NVMe GB",
        "Fabric",
        "Gbps",
        "$/h (as of)",
    )
    numeric = {"Count", "vCPU", "RAM GiB", "NVMe GB", "Gbps", "$/h (as of)"}
    for header in columns:
        table.add_column(header, justify="right" if header in numeric else "left")
    for offer in offers:
        accelerator = Text(offer.gpu) if offer.gpu else Text(f"{offer.accelerator} (not a GPU)", style="dim")
        table.add_row(
            *cells(
                offer.provider,
                offer.instance_type,
                accelerator,
                str(offer.gpu_count),
                str(offer.vcpus),
                f"{offer.memory_gib:g}",
                str(offer.local_nvme_gb),
                offer_fabric(offer),
                f"{offer.network_gbps:g}",
                offer_price(offer),
            )
        )
    return table


def offer_dict(offer: Offer) -> dict[str, Any]:
    price = offer.price
    return {
        "provider": offer.provider,
        "instance_type": offer.instance_type,
        "gpu": offer.gpu,
        "accelerator": offer.accelerator,
        "is_gpu": offer.is_gpu,
        "count": offer.gpu_count,
        "vcpus": offer.vcpus,
        "memory_gib": offer.memory_gib,
        "local_nvme_gb": offer.local_nvme_gb,
        "fabric": offer.fabric.value,
        "fabric_interfaces": offer.fabric_interfaces,
        "network_gbps": offer.network_gbps,
        "nvswitch": offer.nvswitch,
        "price": None
        if price is None
        else {
            "per_hour": price.per_hour,
            "as_of": price.as_of.isoformat(),
            "region": price.region,
            "source": price.source,
        },
        "regions": sorted(offer.regions),
    }


def offers_json(offers: Sequence[Offer]) -> str:
    return json.dumps({"offers": [offer_dict(o) for o in offers]}, indent=2, ensure_ascii=False) + "\n"
