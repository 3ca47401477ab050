"""Crusoe's pure plan: images, InfiniBand partitions, shared disks and the startup script."""

from __future__ import annotations

from provisioner import (
    CapacityKind,
    Cluster,
    CrusoeOptions,
    Network,
    Nfs,
    NodePool,
    Software,
    load_catalog,
    plan_cluster,
)
from provisioner.plan import ClusterPlan
from provisioner.providers.crusoe.plan import PCIE_IMAGE, PLAIN_IMAGE, SXM_IMAGE, crusoe_plan
from provisioner.providers.rest.spec import owner_digest

CATALOG = load_catalog()
OWNER = "acme/train/dev"
DIGEST = owner_digest(OWNER)
OPTIONS = CrusoeOptions(
    project_id="198e7c51-9ed2-41db-b3c8-baeee40d7592",
    ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIplan plan@test",
    fallback_locations=["us-southcentral1-a"],
)


def planned(*pools: NodePool, **fields: object) -> ClusterPlan:
    cluster = Cluster(
        name="train",
        provider="crusoe",
        region="us-east1-a",
        pools=list(pools),
        network=Network(ssh_cidrs=["203.0.113.0/24"]),
        options=fields.pop("options", OPTIONS),  # type: ignore[arg-type]
        suppress=["crusoe-reserved-only", "rest-fallback-region-unknown", *fields.pop("suppress", [])],  # type: ignore[misc]
        **fields,  # type: ignore[arg-type]
    )
    plan = plan_cluster(cluster, CATALOG)
    assert plan.ok, [f.render() for f in plan.findings]
    return plan


def test_a_multi_node_infiniband_pool_gets_its_partition_and_the_sxm_image() -> None:
    spec = crusoe_plan(
        "train", planned(NodePool(name="gpu", gpu="H100", gpus=32, capacity=CapacityKind.RESERVATION)), OWNER
    )
    [pool] = spec.pools
    props = pool.props
    assert props["instance_type"] == "h100-80gb-sxm-ib.8x" and props["count"] == 4
    assert props["ib_partition"] is True and props["image"] == SXM_IMAGE
    assert props["project_id"] == OPTIONS.project_id and props["ssh_key"] == OPTIONS.ssh_public_key
    assert pool.regions == ("us-east1-a", "us-southcentral1-a")
    assert props["user_data"].startswith("#!/bin/bash\n")


def test_pcie_and_amd_get_no_partition_and_their_images() -> None:
    spec = crusoe_plan(
        "train",
        planned(
            NodePool(name="one", gpu="H100", nodes=1),
            NodePool(name="l40s", gpu="L40S", nodes=2),
            NodePool(
                name="amd", gpu="MI300X", nodes=1, software=Software(rocm="6.4", container_runtime="docker")
            ),
            suppress=["multi-node-without-fabric"],
        ),
        OWNER,
    )
    by_key = {p.key: p.props for p in spec.pools}
    assert by_key["one"]["ib_partition"] is True and by_key["one"]["image"] == SXM_IMAGE  # a resize keeps it
    assert by_key["l40s"]["ib_partition"] is False and by_key["l40s"]["image"] == PCIE_IMAGE
    assert by_key["amd"]["image"] == PLAIN_IMAGE


def test_a_declared_image_wins() -> None:
    options = OPTIONS.model_copy(update={"image": "my-image:1"})
    spec = crusoe_plan("train", planned(NodePool(name="gpu", gpu="L40S", nodes=1), options=options), OWNER)
    assert spec.pools[0].props["image"] == "my-image:1"


def test_a_shared_disk_pins_the_pools_and_is_attached_by_id() -> None:
    spec = crusoe_plan(
        "train",
        planned(NodePool(name="gpu", gpu="L40S", nodes=1), storage=[Nfs(name="data", mount_point="/data")]),
        OWNER,
    )
    [disk] = spec.volumes
    assert (disk.name, disk.kind, disk.size_gib, disk.region) == (
        f"train-data-{DIGEST}",
        "shared-volume",
        1024,
        "us-east1-a",
    )
    assert disk.mount.fstype == "virtiofs" and disk.mount.source == f"train-data-{DIGEST}"
    [pool] = spec.pools
    assert pool.regions == ("us-east1-a",) and pool.disk_keys == ("data",)
