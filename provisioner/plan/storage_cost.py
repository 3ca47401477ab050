"""The cost of a cluster's declared storage, priced from the catalog (data/storage.csv). Pure.

A filesystem is billed for the size set up (the declared capacity, or the service's minimum); a bucket, or
an elastic share, for what it holds: there is no size to price before use, so it is listed as billed by use
and kept out of the total. Storage with no catalog price is unknown, never $0. Node-local scratch is part of
the node's price."""

from __future__ import annotations

from provisioner.catalog import Catalog
from provisioner.plan.models import StorageCostPlan
from provisioner.spec import Bucket, Cluster, GcpOptions, Lustre, Nfs

BILLED_BY_USE = ("bucket",)
"""Kinds billed for what they hold on every cloud."""


def price_variant(cluster: Cluster, item: Lustre | Nfs | Bucket) -> str:
    """What the price depends on besides size: AWS Lustre its throughput tier, GCP NFS its Filestore tier."""
    provider = cluster.provider.value
    if isinstance(item, Lustre) and provider in ("aws", "gcp"):
        return str(item.throughput_mib_per_tib)
    if isinstance(item, Nfs) and provider == "gcp":
        options = cluster.options if isinstance(cluster.options, GcpOptions) else GcpOptions()
        return options.filestore_tier
    return ""


def storage_costs(cluster: Cluster, catalog: Catalog) -> list[StorageCostPlan]:
    found = []
    for item in cluster.storage:
        if not isinstance(item, Lustre | Nfs | Bucket):
            continue  # node-local scratch: in the node's price
        price = catalog.storage_price(
            cluster.provider.value, item.kind, price_variant(cluster, item), cluster.region
        )
        declared = item.capacity_gib if isinstance(item, Lustre | Nfs) else None
        if price is None:
            billing = "used" if item.kind in BILLED_BY_USE else "unknown"
            found.append(
                StorageCostPlan(
                    name=item.name,
                    kind=item.kind,
                    billing=billing,
                    size_gib=declared,
                    price_per_gib_month=None,
                    price_as_of=None,
                    price_source=None,
                )
            )
            continue
        by_use = price.billing == "used"
        found.append(
            StorageCostPlan(
                name=item.name,
                kind=item.kind,
                billing="used" if by_use else "provisioned",
                size_gib=None if by_use else max(declared or 0, price.min_gib) or None,
                price_per_gib_month=price.per_gib_month,
                price_as_of=price.as_of.isoformat(),
                price_source=price.source,
            )
        )
    return found
