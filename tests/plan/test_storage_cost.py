"""Storage in the plan's cost: a filesystem priced by its size from the catalog, a bucket billed by use and
kept out of the total, storage without a price unknown (the total with it), never $0."""

from __future__ import annotations

from provisioner import Bucket, Cluster, LocalScratch, Lustre, Nfs, NodePool, load_catalog, plan_cluster
from provisioner.plan.models import HOURS_PER_MONTH
from provisioner.spec import GcpOptions

CATALOG = load_catalog()


def planned(provider: str, region: str, *storage: object, **fields: object) -> object:
    cluster = Cluster(
        name="c",
        provider=provider,
        region=region,
        pools=[NodePool(name="gpu", gpu="H100", gpus=8)],
        storage=list(storage),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )
    return plan_cluster(cluster, CATALOG)


def test_a_lustre_filesystem_is_priced_by_its_size_and_throughput_tier() -> None:
    plan = planned("aws", "us-east-1", Lustre(name="fs", capacity_gib=2400, throughput_mib_per_tib=125))
    [item] = plan.storage_costs  # type: ignore[attr-defined]
    price = CATALOG.storage_price("aws", "lustre", "125", "us-east-1")
    assert price is not None and item.billing == "provisioned" and item.size_gib == 2400
    assert item.per_month == round(2400 * price.per_gib_month, 2)
    compute = sum(p.price_per_hour for p in plan.pools)  # type: ignore[attr-defined]
    assert plan.cost.per_hour == round(compute + item.per_month / HOURS_PER_MONTH, 4)  # type: ignore[attr-defined]
    faster = planned("aws", "us-east-1", Lustre(name="fs", capacity_gib=2400, throughput_mib_per_tib=500))
    assert faster.cost.per_hour > plan.cost.per_hour  # type: ignore[attr-defined]


def test_a_bucket_is_billed_by_use_and_stays_out_of_the_total() -> None:
    bare = planned("aws", "us-east-1")
    plan = planned("aws", "us-east-1", Bucket(name="ckpt"), LocalScratch())
    assert [s.billing for s in plan.storage_costs] == ["used"]  # type: ignore[attr-defined]
    assert plan.cost.per_hour == bare.cost.per_hour  # type: ignore[attr-defined]
    assert plan.cost.usage_billed == ["ckpt (bucket)"]  # type: ignore[attr-defined]


def test_storage_without_a_price_makes_the_total_unknown_never_zero() -> None:
    plan = planned("aws", "us-west-2", Lustre(name="fs"))  # no FSx row for us-west-2 in the catalog
    [item] = plan.storage_costs  # type: ignore[attr-defined]
    assert item.billing == "unknown" and item.per_month is None
    assert plan.cost.per_hour is None and plan.cost.per_month is None  # type: ignore[attr-defined]
    assert plan.cost.unpriced_pools == ["storage fs (lustre)"]  # type: ignore[attr-defined]
    assert plan.cost.known_per_hour > 0  # type: ignore[attr-defined]


def test_a_filestore_share_is_priced_by_its_tier_and_minimum_size() -> None:
    hdd = GcpOptions(filestore_tier="BASIC_HDD")
    plan = planned("gcp", "us-west1", Nfs(name="home"), options=hdd)
    [item] = plan.storage_costs  # type: ignore[attr-defined]
    assert item.billing == "provisioned" and item.size_gib == 1024, "the tier's minimum is what is billed"
    zonal = planned("gcp", "us-west1", Nfs(name="home"))
    assert zonal.storage_costs[0].billing == "unknown"  # type: ignore[attr-defined]
