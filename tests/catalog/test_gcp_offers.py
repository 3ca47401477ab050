"""Google Cloud's GPU shapes as catalog data: each family's GPUs, fabric and fabric NIC count, the zones that
offer it, the accelerator N1 attaches, and prices only where the source gives a consistent one."""

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
    "g2-standard-24": ("L4", 2, Interconnect.NONE, 0, 24),
    "g2-standard-96": ("L4", 8, Interconnect.NONE, 0, 96),
    "n1-standard-8": ("T4", 1, Interconnect.NONE, 0, 8),
    "n1-standard-32": ("T4", 4, Interconnect.NONE, 0, 32),
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
    assert offer.nvswitch == (count == 8 and not shape.startswith("g2-"))


def test_prices_carry_their_source_and_are_never_made_up() -> None:
    offers = CATALOG.find_offers(provider="gcp")
    assert set(FAMILIES) <= {o.instance_type for o in offers}
    for offer in offers:
        assert offer.price is not None, f"{offer.instance_type}: the snapshot prices every GCP shape we list"
        assert "skypilot-catalog" in offer.price.source and offer.price.region
        assert offer.price.per_hour > 0
    # VM row + GPU row, in the region named (a3-highgpu-8g: us-east4; us-central1 has an anomalous H100 row)
    a3 = CATALOG.offer("gcp", "a3-highgpu-8g")
    assert a3 is not None and a3.price is not None
    assert (a3.price.per_hour, a3.price.region) == (pytest.approx(9.46006 + 78.37241), "us-east4")
    g2 = CATALOG.offer("gcp", "g2-standard-4")
    assert g2 is not None and g2.price is not None and g2.price.per_hour == pytest.approx(0.14679 + 0.56004)


def test_zones_are_where_both_the_machine_and_its_gpus_are_offered() -> None:
    mega = CATALOG.offer("gcp", "a3-megagpu-8g")
    assert mega is not None
    assert mega.zones_in("us-central1") == ["us-central1-a", "us-central1-b", "us-central1-c"]
    assert "asia-east1-c" not in mega.zones, "the snapshot has the VM there but no H100-MEGA row"
    ultra = CATALOG.offer("gcp", "a3-ultragpu-8g")
    assert ultra is not None and ultra.zones_in("us-central1") == ["us-central1-b"]
    for offer in CATALOG.find_offers(provider="gcp"):
        assert offer.zones, f"{offer.instance_type} has no zones"
        assert offer.regions == {zone.rsplit("-", 1)[0] for zone in offer.zones}


def test_only_n1_attaches_its_gpus() -> None:
    for offer in CATALOG.find_offers(provider="gcp"):
        expected = "nvidia-tesla-t4" if offer.instance_type.startswith("n1-") else None
        assert offer.attached_accelerator == expected, offer.instance_type


def test_support_shapes_are_priced() -> None:
    for shape in ("n2-standard-8", "n2-standard-4", "e2-standard-4"):
        cpu = CATALOG.cpu_shape("gcp", shape)
        assert cpu is not None and cpu.price is not None, shape
