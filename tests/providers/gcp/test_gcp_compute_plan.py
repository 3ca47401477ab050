"""Google Cloud instance templates as data: secure defaults, scheduling per capacity kind, placement per shape
family, group size and the metadata limits."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.catalog import shipped_catalog
from provisioner.plan import PoolPlan, plan_cluster
from provisioner.providers.gcp.compute_plan import (
    METADATA_TOTAL_LIMIT,
    METADATA_VALUE_LIMIT,
    GcpPlanError,
    check_metadata,
    template_spec,
)
from provisioner.spec import CapacityKind, Cluster, NodePool


def pool_of(shape: str, gpu: str, nodes: int = 2, **fields: object) -> PoolPlan:
    cluster = Cluster(
        name="g",
        provider="gcp",
        region="us-central1",
        pools=[
            NodePool.model_validate(
                {"name": "gpu", "gpu": gpu, "nodes": nodes, "instance_type": shape, **fields}
            )
        ],
    )
    plan = plan_cluster(cluster, shipped_catalog())
    assert plan.pools, [f.render() for f in plan.findings]
    return plan.pools[0]


def test_secure_defaults() -> None:
    spec = template_spec(pool_of("a3-megagpu-8g", "H100"), "#cloud-config\n")
    assert spec.metadata["enable-oslogin"] == "TRUE"
    assert spec.metadata["block-project-ssh-keys"] == "TRUE"
    assert spec.metadata["serial-port-enable"] == "FALSE"
    assert spec.shielded.vtpm and spec.shielded.integrity_monitoring
    assert not spec.shielded.secure_boot, "a DKMS-built driver is unsigned"
    assert spec.external_ip is False
    assert spec.scheduling.on_host_maintenance == "TERMINATE", "GPU VMs cannot live-migrate"
    assert spec.metadata["user-data"] == "#cloud-config\n"


@pytest.mark.parametrize(
    ("shape", "gpu", "nodes", "kind"),
    [
        ("a3-highgpu-8g", "H100", 2, "workload"),
        ("a3-megagpu-8g", "H100", 4, "workload"),
        ("a3-ultragpu-8g", "H200", 2, "workload"),
        ("a4-highgpu-8g", "B200", 2, "workload"),
        ("a2-highgpu-8g", "A100-40GB", 2, "compact"),
        ("a3-megagpu-8g", "H100", 1, None),
    ],
)
def test_placement_per_family(shape: str, gpu: str, nodes: int, kind: str | None) -> None:
    spec = template_spec(pool_of(shape, gpu, nodes), "")
    assert (spec.placement.kind if spec.placement else None) == kind
    assert spec.nodes == nodes and spec.machine_type == shape


def test_local_ssds_come_with_the_shape() -> None:
    assert template_spec(pool_of("a3-megagpu-8g", "H100"), "").local_ssd_count == 16
    assert template_spec(pool_of("a3-ultragpu-8g", "H200"), "").local_ssd_count == 32
    assert template_spec(pool_of("a2-highgpu-8g", "A100-40GB"), "").local_ssd_count == 0


def test_spot_and_reservations() -> None:
    spot = template_spec(pool_of("a3-megagpu-8g", "H100", capacity="spot"), "").scheduling
    assert (spot.provisioning_model, spot.instance_termination_action) == ("SPOT", "DELETE")
    assert not spot.automatic_restart
    reserved = template_spec(
        pool_of(
            "a3-megagpu-8g", "H100", capacity="reservation", reservation_id="a3m-block", zone="us-central1-a"
        ),
        "",
    )
    assert reserved.scheduling.reservation == "a3m-block"
    assert reserved.placement is None, "reserved capacity is colocated already"
    bare = pool_of("a3-megagpu-8g", "H100").model_copy(update={"capacity": CapacityKind.RESERVATION})
    with pytest.raises(GcpPlanError, match="needs reservation_id"):
        template_spec(bare, "")


def test_metadata_limits() -> None:
    pool = pool_of("g2-standard-4", "L4", nodes=1)
    template_spec(pool, "x" * (METADATA_VALUE_LIMIT - 100))
    with pytest.raises(GcpPlanError, match="metadata 'user-data' is"):
        template_spec(pool, "x" * METADATA_VALUE_LIMIT)
    under = "x" * (METADATA_VALUE_LIMIT - 100)
    check_metadata({"a": under, "b": under})  # 512 KB less a little: fits
    with pytest.raises(GcpPlanError, match=f"in all; the limit is {METADATA_TOTAL_LIMIT}"):
        check_metadata({"a": under, "b": under, "c": "x" * 1024})


def test_long_cluster_names_get_distinct_node_accounts() -> None:
    from types import SimpleNamespace

    from provisioner.providers.gcp.plan import identity_spec

    stub: Any = SimpleNamespace(options=None)  # identity_spec reads only the plan's options
    a = identity_spec("research-training-cluster-east-one", stub).account_id
    b = identity_spec("research-training-cluster-east-two", stub).account_id
    assert a != b and len(a) <= 30 and len(b) <= 30 and a.endswith("-nodes")
    assert identity_spec("llm", stub).account_id == "llm-nodes"
