"""Google Cloud's GPU shapes as catalog data (the adapter lands later): each family's GPUs, fabric and fabric
NIC count, and prices only where the source gives one."""

from __future__ import annotations

import pytest

from provisioner.catalog import shipped_catalog
from provisioner.spec import Interconnect

CATALOG = shipped_catalog()

# shape -> (GPU, GPUs, fabric, fabric NICs, vCPUs)
FAMILIES = {
    "a2-highgpu-1g": ("A100-40GB", 1, Interconnect.NONE, 0, 12),
    "a2-highgpu-8g": ("A100-40GB", 8, Interconnect.NONE, 0, 96),
    "a2-ultragpu-8g": ("A100-80GB", 8, Interconnect.NONE, 0, 96),
    "a3-highgpu-8g": ("H100", 8, Interconnect.GPUDIRECT_TCPX, 4, 208),
    "a3-megagpu-8g": ("H100", 8, Interconnect.GPUDIRECT_TCPXO, 8, 208),
    "a3-ultragpu-8g": ("H200", 8, Interconnect.GPUDIRECT_RDMA, 8, 224),
    "a4-highgpu-8g": ("B200", 8, Interconnect.GPUDIRECT_RDMA, 8, 224),
    "g2-standard-4": ("L4", 1, Interconnect.NONE, 0, 4),
}


@pytest.mark.parametrize("shape", sorted(FAMILIES))
def test_each_family_has_its_gpus_and_fabric(shape: str) -> None:
    offer = CATALOG.offer("gcp", shape)
    assert offer is not None
    gpu, count, fabric, nics, vcpus = FAMILIES[shape]
    assert (offer.gpu, offer.gpu_count, offer.fabric, offer.fabric_interfaces, offer.vcpus) == (
        gpu,
        count,
        fabric,
        nics,
        vcpus,
    )
    assert CATALOG.resolve_gpu(offer.gpu or "") is not None, "the GPU model is in gpus.yaml"
    assert offer.nvswitch == (count == 8)


def test_prices_carry_their_source_and_are_never_made_up() -> None:
    offers = CATALOG.find_offers(provider="gcp")
    assert {o.instance_type for o in offers} == set(FAMILIES) | {"a2-ultragpu-1g"}
    for offer in offers:
        if offer.price is None:
            continue
        assert "skypilot-catalog" in offer.price.source and offer.price.region
        assert offer.price.per_hour > 0
    priced = {o.instance_type for o in offers if o.price}
    assert "a2-ultragpu-8g" not in priced, "the snapshot's A100-80GB rows disagree: left unknown"
    assert {"a3-highgpu-8g", "a3-megagpu-8g", "a3-ultragpu-8g", "a4-highgpu-8g"} <= priced
