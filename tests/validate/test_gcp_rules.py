"""Google Cloud's own findings: a zone without the shape, a pool too large for compact placement, GPUDirect on
a shape without it, RDMA pools split across zones, and Filestore / Managed Lustre sizes. Each is checked
against a valid GCP declaration that produces no error, so a finding can only come from the mistake."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from provisioner import Cluster, load_catalog
from provisioner.spec import Severity
from provisioner.validate import Finding, validate

CATALOG = load_catalog()

BASE: dict[str, Any] = {
    "name": "llm",
    "provider": "gcp",
    "region": "us-central1",
    "pools": [{"name": "gpu", "gpu": "H100", "nodes": 2, "instance_type": "a3-megagpu-8g"}],
    "storage": [
        {"kind": "nfs", "name": "home", "mount_point": "/shared"},
        {"kind": "bucket", "name": "ckpt"},
    ],
    "options": {"provider": "gcp", "project": "llm-project-1"},
}


def findings(**changes: Any) -> list[Finding]:
    raw = copy.deepcopy(BASE)
    for key, value in changes.items():
        raw[key] = value
    return [f for f in validate(Cluster.model_validate(raw), CATALOG) if f.severity is Severity.ERROR]


def pools(*pool_fields: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": f"p{i}", "gpu": "H100", "nodes": 2, **fields} for i, fields in enumerate(pool_fields)]


def codes(found: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.path) for f in found]


def test_the_base_declaration_is_valid() -> None:
    assert findings() == []


@pytest.mark.parametrize("zone", ["us-central1-a", "us-central1-b", "us-central1-c"])
def test_a_zone_that_has_the_shape_is_accepted(zone: str) -> None:
    assert findings(pools=pools({"instance_type": "a3-megagpu-8g", "zone": zone})) == []


def test_a_zone_without_the_shape_names_the_zones_that_have_it() -> None:
    (found,) = findings(pools=pools({"instance_type": "a3-megagpu-8g", "zone": "us-central1-f"}))
    assert (found.code, found.path) == ("gcp-zone-lacks-shape", "pools[0].zone")
    assert "us-central1-f" in found.message and "us-central1-a, us-central1-b, us-central1-c" in found.message
    assert 'zone="us-central1-a"' in (found.fix or "")


def test_a_region_without_the_shape_in_any_zone_is_refused() -> None:
    # the catalog has no a3-ultragpu-8g in us-west4: one finding (the region rule's), not a second on the zone
    found = findings(region="us-west4", pools=pools({"gpu": "H200", "instance_type": "a3-ultragpu-8g"}))
    assert codes(found) == [("shape-not-in-region", "region")]


def test_a_shape_with_no_zone_data_needs_a_declared_zone() -> None:
    from dataclasses import replace

    from provisioner.catalog import Catalog

    offers = [
        replace(o, zones=frozenset()) if o.instance_type == "a3-megagpu-8g" else o for o in CATALOG.offers
    ]
    catalog = Catalog(gpus=CATALOG.gpus, offers=offers)
    found = [f for f in validate(Cluster.model_validate(BASE), catalog) if f.code == "gcp-zone-unknown"]
    assert codes(found) == [("gcp-zone-unknown", "pools[0].zone")]


def test_without_a_zone_the_plan_takes_the_first_that_has_the_shape() -> None:
    assert findings(pools=pools({"gpu": "H200", "instance_type": "a3-ultragpu-8g"})) == []


def test_too_many_nodes_for_one_compact_placement_policy() -> None:
    big = pools({"gpu": "L4", "instance_type": "g2-standard-4", "nodes": 151, "zone": "us-central1-a"})
    found = findings(pools=big)
    assert codes(found) == [("gcp-compact-placement-too-large", "pools[0].nodes")]
    assert "151" in found[0].message and "150" in found[0].message
    ok = pools({"gpu": "L4", "instance_type": "g2-standard-4", "nodes": 150, "zone": "us-central1-a"})
    assert findings(pools=ok) == []
    # A3/A4 groups are placed by a workload policy, which has no such limit here
    assert findings(pools=pools({"instance_type": "a3-megagpu-8g", "nodes": 200})) == []


def test_gpudirect_on_a_shape_without_it_names_the_shapes_that_have_it() -> None:
    found = findings(pools=pools({"instance_type": "a3-highgpu-8g", "interconnect": "gpudirect-tcpxo"}))
    ours = [f for f in found if f.code == "gcp-gpudirect-unsupported"]
    assert len(ours) == 1 and ours[0].path == "pools[0].interconnect"
    assert "a3-megagpu-8g" in (ours[0].fix or "")
    rdma = findings(
        pools=pools({"gpu": "A100-40GB", "instance_type": "a2-highgpu-8g", "interconnect": "gpudirect-rdma"})
    )
    fix = next(f.fix or "" for f in rdma if f.code == "gcp-gpudirect-unsupported")
    assert "a3-ultragpu-8g" in fix and "a4-highgpu-8g" in fix


def test_rdma_pools_whose_zones_differ() -> None:
    raw = copy.deepcopy(BASE)
    raw["region"] = "us-east4"
    raw["pools"] = pools(
        {"gpu": "H200", "instance_type": "a3-ultragpu-8g", "zone": "us-east4-b"},
        {"gpu": "B200", "instance_type": "a4-highgpu-8g", "zone": "us-east4-b"},
    )
    assert [f for f in validate(Cluster.model_validate(raw), CATALOG) if f.severity is Severity.ERROR] == []
    raw["region"] = "europe-west4"
    raw["pools"][0]["zone"], raw["pools"][1]["zone"] = "europe-west4-a", "europe-west4-b"
    found = [f for f in validate(Cluster.model_validate(raw), CATALOG) if f.severity is Severity.ERROR]
    assert codes(found) == [("gcp-rdma-zones-differ", "pools")]
    assert "europe-west4-a" in found[0].message and "europe-west4-b" in found[0].message


def test_filestore_and_managed_lustre_minimums() -> None:
    small = findings(storage=[{"kind": "nfs", "name": "home", "mount_point": "/shared", "capacity_gib": 512}])
    assert codes(small) == [("nfs-capacity-invalid", "storage[0].capacity_gib")]
    assert "1024" in small[0].message
    lustre = {"kind": "lustre", "name": "scratch", "mount_point": "/lustre", "throughput_mib_per_tib": 1000}
    assert findings(storage=[{**lustre, "capacity_gib": 9000}]) == []
    found = findings(storage=[{**lustre, "capacity_gib": 4800}])
    assert codes(found) == [("lustre-capacity-invalid", "storage[0].capacity_gib")]
    tier = findings(storage=[{**lustre, "capacity_gib": 9000, "throughput_mib_per_tib": 300}])
    assert codes(tier) == [("lustre-throughput-invalid", "storage[0].throughput_mib_per_tib")]


def test_zone_hints_use_google_clouds_spelling() -> None:
    found = findings(pools=pools({"instance_type": "a3-megagpu-8g", "zone": "us-east4-a"}))
    ours = next(f for f in found if f.code == "zone-not-in-region")
    assert "us-central1-a" in (ours.fix or "") and "us-central1a" not in (ours.fix or "")


def test_managed_lustre_grows_in_steps_of_its_minimum() -> None:
    lustre = {"kind": "lustre", "name": "scratch", "mount_point": "/lustre", "throughput_mib_per_tib": 1000}
    assert findings(storage=[{**lustre, "capacity_gib": 18000}]) == []
    (found,) = findings(storage=[{**lustre, "capacity_gib": 12000}])
    assert found.code == "lustre-capacity-invalid" and "capacity_gib=9000 or 18000" in (found.fix or "")
