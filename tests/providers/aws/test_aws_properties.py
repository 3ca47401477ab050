"""Property: every valid AWS declaration lays out on AWS (`aws_plan` never raises) with a consistent layout.

Declarations are drawn over the catalog's AWS GPU shapes: counts, capacity kinds (with the reservation ids and
zones they need), placement groups, storage, tags, SSH ranges, custom images, KMS keys, and a created or an
existing network. Whatever validation lets through, the AWS layout must accept.
"""

from __future__ import annotations

from functools import cache
from ipaddress import IPv4Network
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provisioner.catalog import load_catalog
from provisioner.catalog.models import Offer
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.providers.aws import plan as aws
from provisioner.spec import (
    AwsOptions,
    Bucket,
    CapacityKind,
    Cluster,
    Interconnect,
    LocalScratch,
    Lustre,
    Network,
    NodePool,
    Software,
)

REGIONS = ("us-east-1", "us-west-2", "eu-north-1")
RESERVED = (CapacityKind.RESERVATION, CapacityKind.CAPACITY_BLOCK)


@cache
def gpu_offers(region: str) -> tuple[Offer, ...]:
    offers = load_catalog().find_offers(provider="aws")
    return tuple(o for o in offers if o.is_gpu and (not o.regions or region in o.regions))


tag_keys = st.from_regex(r"[A-Za-z][A-Za-z0-9_.:/=+@-]{0,20}", fullmatch=True).filter(
    lambda k: not k.lower().startswith("aws:")
)
tag_values = st.from_regex(r"[A-Za-z0-9_.:/=+@ -]{0,30}", fullmatch=True)
ssh_cidrs = st.builds(
    lambda address, prefix: IPv4Network((address, prefix), strict=False),
    st.integers(min_value=1, max_value=2**32 - 1),
    st.integers(min_value=8, max_value=32),
)
options = st.one_of(
    st.none(),
    st.builds(
        AwsOptions,
        kms_key_id=st.sampled_from([None, "1234abcd-12ab", "alias/ml", "arn:aws:kms:us-east-1:1:key/k"]),
        key_name=st.sampled_from([None, "ops"]),
        ami_ssm_parameter=st.sampled_from([None, "/team/gpu-ami"]),
        extra_policy_arns=st.lists(
            st.sampled_from(["arn:aws:iam::1:policy/A", "arn:aws:iam::2:policy/team/A"]), unique=True
        ),
    ),
)


@st.composite
def pools(draw: st.DrawFn, region: str, zone: str | None) -> list[NodePool]:
    made = []
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        offer = draw(st.sampled_from(gpu_offers(region)))
        capacity = draw(st.sampled_from(list(CapacityKind)))
        reserved = capacity in RESERVED
        made.append(
            NodePool(
                name=f"p{i}",
                gpu=offer.gpu or "",
                instance_type=offer.instance_type,
                nodes=draw(st.sampled_from([1, 2, 3, 8, 64])),
                capacity=capacity,
                reservation_id=f"cr-{i:04d}" if reserved else None,
                # reserved capacity launches only in its own zone: a created network must be put there
                zone=zone if reserved or draw(st.booleans()) else None,
                placement_group=draw(st.sampled_from([None, None, f"pg-{i}"])),
                software=draw(st.sampled_from([None, Software(image="ami-0feedbeef0000000")])),
                labels=draw(st.dictionaries(tag_keys, tag_values, max_size=4)),
            )
        )
    return made


@st.composite
def declarations(draw: st.DrawFn) -> Cluster:
    region = draw(st.sampled_from(REGIONS))
    existing = draw(st.booleans())
    zone = draw(st.sampled_from([None, f"{region}b"])) if not existing else None
    storage: list[Any] = []
    if draw(st.booleans()):
        storage.append(Lustre(name="shared", capacity_gib=draw(st.sampled_from([1200, 2400, 4800]))))
    storage += [Bucket(name=f"b{i}") for i in range(draw(st.integers(min_value=0, max_value=2)))]
    if draw(st.booleans()):
        storage.append(LocalScratch())
    network = (
        Network(vpc_id="vpc-0abc", subnet_ids=["subnet-0a", "subnet-0b"])
        if existing
        else Network(cidr=IPv4Network(f"10.0.0.0/{draw(st.integers(min_value=16, max_value=24))}"))
    )
    network = network.model_copy(update={"ssh_cidrs": draw(st.lists(ssh_cidrs, max_size=3, unique=True))})
    return Cluster(
        name=draw(st.sampled_from(["c", "llm", "train-2"])),
        provider="aws",
        region=region,
        pools=draw(pools(region, zone)),
        storage=storage,
        network=network,
        tags=draw(st.dictionaries(tag_keys, tag_values, max_size=30)),
        options=draw(options),
        suppress=["multi-node-without-fabric"],
    )


def check_pool(plan: ClusterPlan, spec: aws.PoolSpec) -> None:
    pool = spec.source
    efa = pool.interconnect is Interconnect.EFA and pool.fabric_interfaces >= 1
    assert len(spec.interfaces) == (pool.fabric_interfaces if efa else 1)
    assert [n.network_card_index for n in spec.interfaces] == list(range(len(spec.interfaces)))
    assert len(spec.instance_tags) <= aws.MAX_TAGS
    assert spec.instance_tags["Name"] == f"{plan.name}-{pool.name}"
    assert not (spec.placement_strategy and spec.placement_group)
    if pool.capacity in RESERVED:
        assert spec.placement_strategy is None and spec.capacity.reservation_id == pool.reservation_id
    assert spec.wait_for_capacity_timeout == ("0" if pool.capacity is CapacityKind.CAPACITY_BLOCK else "20m")
    assert (spec.image_id is None) != (spec.image_parameter is None)
    custom = spec.image_id is not None or (
        isinstance(plan.options, AwsOptions) and plan.options.ami_ssm_parameter
    )
    assert (spec.root_volume.device_name is None) == bool(custom)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(declarations())
def test_every_valid_declaration_lays_out_on_aws(cluster: Cluster) -> None:
    plan = plan_cluster(cluster, load_catalog())
    assume(plan.ok)
    layout = aws.aws_plan("cluster", plan)
    assert len(layout.pools) == len(plan.pools)
    assert len(layout.tags) <= aws.MAX_TAGS
    for spec in layout.pools:
        check_pool(plan, spec)
    net = layout.network
    declared = {p.zone for p in plan.pools if p.zone}
    assert net.create == (cluster.network.vpc_id is None)
    if net.create:
        assert net.zone == (min(declared) if declared else None)
        assert set(net.zone_instance_types) == (
            {p.instance_type for p in plan.pools} if not declared else set()
        )
    else:
        assert net.zone is None and net.zone_instance_types == ()
    assert (layout.identity.ebs_key_grant is None) == (layout.kms_key_id is None)
