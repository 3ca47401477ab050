"""The shipped catalog: GPU facts, every AWS GPU shape, prices with date and source, lookups."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from provisioner.catalog import Catalog, GpuModel, Offer, load_catalog, parse_offers_csv, parse_version
from provisioner.spec import GpuVendor, Interconnect

CATALOG = load_catalog()

# family -> every size AWS sells with GPUs (DescribeInstanceTypes)
AWS_GPU_FAMILIES = {
    "g4dn": ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "metal"],
    "g5": ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"],
    "g6": ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"],
    "g6e": ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"],
    "p4d": ["24xlarge"],
    "p4de": ["24xlarge"],
    "p5": ["4xlarge", "48xlarge"],
    "p5e": ["48xlarge"],
    "p5en": ["48xlarge"],
    "p6-b200": ["48xlarge"],
}


def aws(instance_type: str) -> Offer:
    offer = CATALOG.offer("aws", instance_type)
    assert offer is not None, instance_type
    return offer


@pytest.mark.parametrize(
    ("name", "vendor", "arch", "memory", "fabric_manager", "open_kernel", "min_driver", "floor"),
    [
        ("H100", GpuVendor.NVIDIA, "hopper", 80, True, False, "535", "11.8"),
        ("H200", GpuVendor.NVIDIA, "hopper", 141, True, False, "550", "11.8"),
        ("B200", GpuVendor.NVIDIA, "blackwell", 180, True, True, "570.133.20", "12.8"),
        ("A100-80GB", GpuVendor.NVIDIA, "ampere", 80, True, False, "535", "11.0"),
        ("L40S", GpuVendor.NVIDIA, "ada", 48, False, False, "535", "11.8"),
        ("T4", GpuVendor.NVIDIA, "turing", 16, False, False, "535", "10.0"),
        ("MI300X", GpuVendor.AMD, "cdna3", 192, False, False, None, None),
    ],
)
def test_gpu_facts(
    name: str,
    vendor: GpuVendor,
    arch: str,
    memory: int,
    fabric_manager: bool,
    open_kernel: bool,
    min_driver: str | None,
    floor: str | None,
) -> None:
    gpu = CATALOG.resolve_gpu(name)
    assert gpu is not None
    assert (gpu.vendor, gpu.architecture, gpu.memory_gb) == (vendor, arch, memory)
    assert (gpu.fabric_manager, gpu.open_kernel_required) == (fabric_manager, open_kernel)
    assert (gpu.min_driver, gpu.cuda_floor) == (min_driver, floor)


def test_every_gpu_has_a_source_and_consistent_floors() -> None:
    for gpu in CATALOG.gpus:
        assert gpu.source, gpu.name
        if gpu.vendor is GpuVendor.NVIDIA:
            assert gpu.min_driver and gpu.cuda_floor and gpu.rocm_floor is None, gpu.name
            parse_version(gpu.min_driver)
            parse_version(gpu.cuda_floor)
        else:
            assert gpu.rocm_floor and gpu.min_driver is None and gpu.cuda_floor is None, gpu.name
    assert CATALOG.resolve_gpu("MI300X").rocm_floor == "6.0"  # type: ignore[union-attr]


def test_no_alias_names_two_gpus() -> None:
    owners: dict[str, str] = {}
    for gpu in CATALOG.gpus:
        for alias in (gpu.name, *gpu.aliases):
            key = alias.upper()
            assert owners.setdefault(key, gpu.name) == gpu.name, f"{alias} names {owners[key]} and {gpu.name}"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("h100", "H100"),
        ("H100-sxm", "H100"),
        (" nvidia-h100 ", "H100"),
        ("a100_80gb", "A100-80GB"),
        ("A100-SXM4-80GB", "A100-80GB"),
        ("l40s", "L40S"),
        ("hgx-b200", "B200"),
        ("amd-mi300x", "MI300X"),
        ("Tesla T4", "T4"),
    ],
)
def test_aliases_resolve_case_insensitively(typed: str, canonical: str) -> None:
    gpu = CATALOG.resolve_gpu(typed)
    assert gpu is not None
    assert gpu.name == canonical


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("H10", "H100"), ("H1OO", "H100"), ("A100", "A100-80GB"), ("A100", "A100-40GB"), ("L40", "L40S")],
)
def test_unknown_names_give_close_matches(typed: str, expected: str) -> None:
    assert CATALOG.resolve_gpu(typed) is None
    close = CATALOG.close_gpu_names(typed)
    assert expected in close
    assert len(close) <= 3
    assert len(set(close)) == len(close)


def test_garbage_has_no_close_match() -> None:
    assert CATALOG.close_gpu_names("zzzzzzzz") == []
    assert CATALOG.close_gpu_names("") == []
    assert CATALOG.resolve_gpu("") is None


@pytest.mark.parametrize(
    ("family", "size"), [(family, size) for family, sizes in AWS_GPU_FAMILIES.items() for size in sizes]
)
def test_every_aws_gpu_shape_is_in_the_catalog(family: str, size: str) -> None:
    offer = aws(f"{family}.{size}")
    assert offer.is_gpu
    assert CATALOG.resolve_gpu(offer.gpu or "") is not None
    assert offer.gpu_count >= 1 and offer.vcpus >= 4 and offer.memory_gib >= 16
    assert offer.local_nvme_gb > 0
    assert offer.regions


@pytest.mark.parametrize(
    ("instance_type", "gpu", "count", "fabric", "interfaces", "nvswitch"),
    [
        ("g4dn.xlarge", "T4", 1, Interconnect.NONE, 0, False),
        ("g4dn.12xlarge", "T4", 4, Interconnect.EFA, 1, False),
        ("g4dn.metal", "T4", 8, Interconnect.EFA, 1, False),
        ("g5.48xlarge", "A10G", 8, Interconnect.EFA, 1, False),
        ("g6.xlarge", "L4", 1, Interconnect.NONE, 0, False),
        ("g6e.48xlarge", "L40S", 8, Interconnect.EFA, 4, False),
        ("p4d.24xlarge", "A100-40GB", 8, Interconnect.EFA, 4, True),
        ("p4de.24xlarge", "A100-80GB", 8, Interconnect.EFA, 4, True),
        ("p5.4xlarge", "H100", 1, Interconnect.EFA, 1, False),
        ("p5.48xlarge", "H100", 8, Interconnect.EFA, 32, True),
        ("p5e.48xlarge", "H200", 8, Interconnect.EFA, 32, True),
        ("p5en.48xlarge", "H200", 8, Interconnect.EFA, 16, True),
        ("p6-b200.48xlarge", "B200", 8, Interconnect.EFA, 8, True),
    ],
)
def test_shape_facts(
    instance_type: str, gpu: str, count: int, fabric: Interconnect, interfaces: int, nvswitch: bool
) -> None:
    offer = aws(instance_type)
    assert (offer.gpu, offer.gpu_count, offer.fabric) == (gpu, count, fabric)
    assert (offer.fabric_interfaces, offer.nvswitch) == (interfaces, nvswitch)


def test_fabric_interfaces_match_the_fabric() -> None:
    for offer in CATALOG.offers:
        assert (offer.fabric_interfaces > 0) == offer.has_fabric, offer.instance_type


@pytest.mark.parametrize("prefix", ["trn1.", "trn1n.", "trn2.", "inf2."])
def test_trainium_and_inferentia_are_accelerators_not_gpus(prefix: str) -> None:
    rows = [o for o in CATALOG.offers if o.instance_type.startswith(prefix)]
    assert rows
    for offer in rows:
        assert offer.gpu is None
        assert not offer.is_gpu
        assert offer.accelerator and offer.accelerator.startswith("AWS ")
    for gpu in CATALOG.gpus:
        assert not [o for o in CATALOG.find_offers(gpu=gpu.name) if o.instance_type.startswith(prefix)]


def test_prices_are_dated_and_sourced_and_never_zero() -> None:
    priced = [o for o in CATALOG.offers if o.price is not None]
    assert len(priced) >= 10
    for offer in priced:
        assert offer.price is not None
        assert offer.price.per_hour > 0, offer.instance_type
        assert isinstance(offer.price.as_of, date)
        assert offer.price.source
        assert offer.price.region


def test_known_and_unknown_prices() -> None:
    p5 = aws("p5.48xlarge").price
    assert p5 is not None
    assert (p5.per_hour, p5.as_of, p5.region) == (55.04, date(2026, 1, 21), "us-east-1")
    assert aws("g4dn.2xlarge").price is None
    assert aws("p5e.48xlarge").price is None


def test_cuda_floors_and_images() -> None:
    assert CATALOG.cuda_min_driver["12.8"] == "570.26"
    assert CATALOG.cuda_min_driver["12.4"] == "550.54.14"
    floors = [
        parse_version(CATALOG.cuda_min_driver[v]) for v in sorted(CATALOG.cuda_min_driver, key=parse_version)
    ]
    assert floors == sorted(floors), "a newer CUDA never needs an older driver"
    image = CATALOG.image("aws", "ubuntu-22.04")
    assert image is not None
    assert image.lookup and image.lookup.startswith("/aws/service/")
    assert image.nvidia_driver == "570.133.20"
    assert CATALOG.image("aws", "rocky-9") is None


def test_lookups() -> None:
    assert {o.instance_type for o in CATALOG.find_offers(provider="aws", gpu="H100")} == {
        "p5.4xlarge",
        "p5.48xlarge",
    }
    assert CATALOG.providers_with_gpu("H100") == ["aws", "crusoe", "gcp", "lambda"]
    assert CATALOG.providers_with_gpu("MI300X") == ["crusoe"]
    assert CATALOG.providers_with_gpu("MI325X") == []
    assert CATALOG.offer("aws", "p5.96xlarge") is None
    assert CATALOG.offer("gcp", "p5.48xlarge") is None


def test_records_are_frozen() -> None:
    gpu = CATALOG.gpus[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpu.memory_gb = 1  # type: ignore[misc]
    assert isinstance(CATALOG.offers, tuple)


def test_a_catalog_can_be_built_from_a_few_records() -> None:
    mi300x = GpuModel(
        name="MI300X",
        aliases=("AMD-MI300X",),
        vendor=GpuVendor.AMD,
        architecture="cdna3",
        memory_gb=192,
        form_factor="oam",
        fabric_manager=False,
        open_kernel_required=False,
        min_driver=None,
        cuda_floor=None,
        rocm_floor="6.0",
        source="test",
        verified=False,
    )
    offer = Offer(
        provider="oci",
        instance_type="BM.GPU.MI300X.8",
        gpu="MI300X",
        accelerator=None,
        gpu_count=8,
        vcpus=112,
        memory_gib=2048,
        local_nvme_gb=30720,
        fabric=Interconnect.ROCE,
        fabric_interfaces=8,
        network_gbps=3200,
        nvswitch=False,
        price=None,
    )
    catalog = Catalog(gpus=[mi300x], offers=[offer])
    assert catalog.resolve_gpu("amd-mi300x") is mi300x
    assert catalog.providers_with_gpu("MI300X") == ["oci"]
    assert catalog.offer("oci", "BM.GPU.MI300X.8") is offer
    assert catalog.cuda_min_driver == {}
    assert catalog.image("oci", "ubuntu-22.04") is None


def test_parse_offers_csv_skips_comments_and_keeps_unknown_prices_unknown() -> None:
    header = (
        "provider,instance_type,gpu,accelerator,gpu_count,vcpus,memory_gib,local_nvme_gb,fabric,fabric_interfaces,"
        "network_gbps,network_up_to,nvswitch,price_per_hour,price_date,price_region,price_source,regions"
    )
    text = "\n".join(
        [
            "# a comment",
            header,
            "lambda,gpu_8x_h100_sxm5,H100,,8,208,1800,24000,infiniband,8,3200,false,true,23.92,2026-01-02,"
            "us-east-1,lambda.ai/pricing,us-east-1 us-west-1",
            "lambda,gpu_1x_a10,A10,,1,30,200,1400,none,,,,false,,,,,",
        ]
    )
    first, second = parse_offers_csv(text)
    assert first.fabric is Interconnect.INFINIBAND
    assert first.nvswitch is True
    assert first.regions == frozenset({"us-east-1", "us-west-1"})
    assert first.price is not None and first.price.as_of == date(2026, 1, 2)
    assert second.price is None
    assert second.fabric_interfaces == 0 and second.network_gbps == 0
    assert second.regions == frozenset()


@pytest.mark.parametrize(
    ("text", "parsed"), [("570", (570,)), ("570.133.20", (570, 133, 20)), ("12.8", (12, 8))]
)
def test_parse_version(text: str, parsed: tuple[int, ...]) -> None:
    assert parse_version(text) == parsed
