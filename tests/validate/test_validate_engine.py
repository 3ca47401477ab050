"""The engine: pydantic errors as findings, findings against a custom catalog, the Finding model."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from provisioner import Cluster, NodePool, load_catalog
from provisioner.catalog import Catalog, Offer
from provisioner.spec import Interconnect, LocalScratch, Severity
from provisioner.validate import Finding, error, findings_from_validation_error, has_errors, validate, warning

CATALOG = load_catalog()


def declaration(**pool: Any) -> dict[str, Any]:
    return {
        "name": "c",
        "provider": "aws",
        "region": "us-east-1",
        "pools": [{"name": "gpu", "gpu": "H100", **pool}],
    }


def spec_findings(raw: object, prefix: str = "") -> list[Finding]:
    with pytest.raises(ValidationError) as info:
        Cluster.model_validate(raw)
    findings = findings_from_validation_error(info.value, prefix)
    assert findings
    assert all(f.severity is Severity.ERROR and f.message and f.fix for f in findings)
    return findings


@pytest.mark.parametrize(
    ("raw", "code", "path", "shows"),
    [
        (declaration(gpus=0), "spec-greater-than-equal", "pools[0].gpus", "0: Input should be greater than"),
        (declaration(gpus="many"), "spec-int-parsing", "pools[0].gpus", "'many'"),
        (declaration(gpu_count=8), "spec-extra-forbidden", "pools[0].gpu_count", "8"),
        (declaration(scratch=True), "spec-extra-forbidden", "pools[0].scratch", "True"),
        (declaration(gpus=16, nodes=2), "spec-value-error", "pools[0]", "give gpus=16 or nodes=2, not both"),
        (declaration(interconnect="nvlink"), "spec-enum", "pools[0].interconnect", "'nvlink'"),
        (
            declaration(software={"cuda": "twelve"}),
            "spec-string-pattern-mismatch",
            "pools[0].software.cuda",
            "'twelve'",
        ),
        (declaration(labels={"scratch": 5}), "spec-string-type", "pools[0].labels.scratch", "5"),
        (
            {**declaration(), "storage": [{"kind": "lustre", "capacity_gib": -1}]},
            "spec-greater-than",
            "storage[0].capacity_gib",
            "-1",
        ),
        ({**declaration(), "storage": [{"kind": "tape"}]}, "spec-union-tag-invalid", "storage[0]", "'tape'"),
        (
            {**declaration(), "network": {"ssh_cidrs": ["office"]}},
            "spec-ip-v4-network",
            "network.ssh_cidrs[0]",
            "'office'",
        ),
        (
            {**declaration(), "options": {"provider": "azure"}},
            "spec-union-tag-invalid",
            "options",
            "'azure'",
        ),
        ({**declaration(), "scheduler": "slurm"}, "spec-model-attributes-type", "scheduler", "'slurm'"),
        (
            {"name": "c", "provider": "aws", "region": "us-east-1", "pools": [{"name": "gpu"}]},
            "spec-missing",
            "pools[0].gpu",
            "Field required",
        ),
        ([1, 2], "spec-model-type", "(declaration)", "[1, 2]"),
    ],
)
def test_pydantic_errors_become_findings_with_field_paths(
    raw: object, code: str, path: str, shows: str
) -> None:
    findings = spec_findings(raw)
    hit = [f for f in findings if f.code == code and f.path == path]
    assert hit, [(f.code, f.path) for f in findings]
    assert shows in hit[0].message
    assert not hit[0].message.startswith("Value error")


def test_fixes_say_what_to_do() -> None:
    extra = spec_findings(declaration(gpu_count=8))[0]
    assert extra.fix.startswith("remove this field")
    missing = spec_findings({"name": "c", "provider": "aws", "region": "us-east-1"})[0]
    assert (missing.path, missing.fix) == ("pools", "add this field")


def test_every_error_of_a_declaration_is_reported() -> None:
    raw = {**declaration(gpus=0, nodes=-1), "region": "", "storage": [{"kind": "nfs", "mount_point": "home"}]}
    paths = {f.path for f in spec_findings(raw)}
    assert paths == {"region", "pools[0].gpus", "pools[0].nodes", "storage[0].mount_point"}


def test_prefix_names_the_declaration() -> None:
    (finding,) = spec_findings(declaration(gpus=0), prefix="clusters[1]")
    assert finding.path == "clusters[1].pools[0].gpus"
    (whole,) = spec_findings("not a cluster", prefix="clusters[1]")
    assert whole.path == "clusters[1]"


def test_huge_and_long_values_are_shown_short() -> None:
    (huge,) = spec_findings(declaration(gpus=-(10**5000)))
    assert huge.path == "pools[0].gpus"
    assert "an integer of" in huge.message
    assert len(huge.message) < 200
    (long,) = spec_findings(declaration(interconnect="x" * 500))
    assert "..." in long.message
    assert len(long.message) < 300


def test_the_finding_model() -> None:
    finding = error("gpu-unknown", "pools[0].gpu", "'H1OO' is not a GPU", 'use gpu="H100"')
    assert finding.render() == "ERROR [gpu-unknown] pools[0].gpu: 'H1OO' is not a GPU. Fix: use gpu=\"H100\""
    assert warning("w", "p", "m").render() == "WARNING [w] p: m"
    assert has_errors([warning("w", "p", "m"), finding])
    assert not has_errors([warning("w", "p", "m")])
    assert Finding.model_validate_json(finding.model_dump_json()) == finding
    with pytest.raises(ValidationError):
        finding.code = "other"  # type: ignore[misc]


def _with_offers(*extra: Offer) -> Catalog:
    return Catalog(
        gpus=CATALOG.gpus,
        offers=[*CATALOG.offers, *extra],
        cuda_min_driver=CATALOG.cuda_min_driver,
        images=[img for img in (CATALOG.image("aws", "ubuntu-22.04"),) if img is not None],
    )


def _offer(provider: str, instance_type: str, gpu: str, **changes: Any) -> Offer:
    base = CATALOG.offer("aws", "p5.48xlarge")
    assert base is not None
    return dataclasses.replace(base, provider=provider, instance_type=instance_type, gpu=gpu, **changes)


def test_gpu_not_offered_names_the_providers_that_have_it() -> None:
    catalog = _with_offers(
        _offer("oci", "BM.GPU.MI300X.8", "MI300X", fabric=Interconnect.ROCE),
        _offer("azure", "Standard_ND96isr_MI300X_v5", "MI300X", fabric=Interconnect.INFINIBAND),
    )
    cluster = Cluster(
        name="c", provider="aws", region="us-east-1", pools=[NodePool(name="gpu", gpu="mi300x", gpus=8)]
    )
    (finding,) = validate(cluster, catalog)
    assert (finding.code, finding.path) == ("gpu-not-offered", "pools[0].gpu")
    assert finding.message == "MI300X is not offered on aws; in the catalog it is on: azure, crusoe, oci"
    assert "azure, crusoe, oci" in finding.fix


def test_scratch_on_a_shape_without_nvme_is_a_warning() -> None:
    catalog = _with_offers(_offer("aws", "p5x.48xlarge", "H100", local_nvme_gb=0, price=None, nvswitch=False))
    cluster = Cluster(
        name="c",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=2, instance_type="p5x.48xlarge")],
        storage=[LocalScratch()],
    )
    (finding,) = validate(cluster, catalog)
    assert (finding.code, finding.path, finding.severity) == (
        "scratch-without-nvme",
        "pools[0]",
        Severity.WARNING,
    )
    assert "p5x.48xlarge" in finding.message
    no_scratch = cluster.model_copy(update={"storage": []})
    assert validate(no_scratch, catalog) == []


def test_rules_read_only_the_catalog_they_are_given() -> None:
    empty = Catalog(gpus=[], offers=[])
    cluster = Cluster(
        name="c", provider="aws", region="us-east-1", pools=[NodePool(name="gpu", gpu="H100", gpus=8)]
    )
    (finding,) = validate(cluster, empty)
    assert finding.code == "gpu-unknown"
    assert "no close match" in finding.message
