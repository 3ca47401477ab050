"""Thousands of random and malformed declarations: each is either rejected at construction (pydantic) with
findings that name the field, or planned, with findings that explain every pool left out. Nothing else:
no other exception, ever."""

from __future__ import annotations

import copy
import math
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from provisioner import Cluster, ClusterPlan, load_catalog, plan_cluster
from provisioner.bootstrap import render_user_data
from provisioner.spec import (
    CapacityKind,
    ContainerRuntime,
    Interconnect,
    OperatingSystem,
    ProviderName,
    Severity,
)
from provisioner.spec.pool import MAX_COUNT
from provisioner.validate import findings_from_validation_error

CATALOG = load_catalog()

# the codes with which validation reports that a pool cannot be resolved to a shape
UNRESOLVED = {
    "gpu-unknown",
    "gpu-not-offered",
    "gpu-count-not-multiple",
    "instance-type-unknown",
    "instance-type-gpu-mismatch",
    "interconnect-unavailable",
}

text = st.text(max_size=24)
huge = st.sampled_from([MAX_COUNT, MAX_COUNT + 1, 10**18, 10**400, -(10**400), 2**63])
garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    huge,
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def sometimes(
    common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int
) -> st.SearchStrategy[Any]:
    """`common`, and `rare` once in `one_in` draws."""
    return st.integers(0, one_in - 1).flatmap(lambda i: rare if i == 0 else common)


def values(enum: Any, *extra: str) -> st.SearchStrategy[str]:
    return st.sampled_from([*(member.value for member in enum), *extra])


REGIONS = sorted({region for offer in CATALOG.offers for region in offer.regions})
GPU_NAMES = [name for gpu in CATALOG.gpus for name in (gpu.name, *gpu.aliases)]
SHAPES = sorted({offer.instance_type for offer in CATALOG.offers})

# Type-correct values that may still be wrong (unknown GPUs, bad names, counts that fit no shape): these
# reach validation and planning. Type-incorrect values come from `corrupted` below.
gpu_name = sometimes(
    st.sampled_from(GPU_NAMES),
    st.one_of(
        st.sampled_from(["h100", " H100 ", "a100_80gb", "H1OO", "A100", "Trainium", "p5.48xlarge", ""]), text
    ),
    4,
)
count = st.one_of(st.sampled_from([1, 2, 4, 8, 12, 16, 24, 64, 72]), st.integers(1, 200))
version = st.one_of(
    st.sampled_from(["535", "550", "565", "570", "570.26", "570.133.20", "580", "580.65.06", "595"]),
    st.sampled_from(["11.8", "12.0", "12.4", "12.7", "12.8", "12.8.1", "13.0", "6.0", "6.4", "5.7"]),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True),
)
name = sometimes(
    st.sampled_from(["gpu", "train", "llm-train", "a"]),
    st.one_of(st.sampled_from(["GPU", "a" * 33, "x-", ""]), text),
    5,
)
mount = sometimes(
    st.sampled_from(["/fsx", "/scratch", "/data", "/home/shared"]),
    st.sampled_from(["/fsx/", "/", "/var", "fsx", "/a b"]),
    5,
)
cidr = st.sampled_from(["203.0.113.0/24", "0.0.0.0/0", "::/0", "2001:db8::/32", "10.0.0.1/8", "office"])

software = st.fixed_dictionaries(
    {},
    optional={
        "os": values(OperatingSystem),
        "image": st.one_of(st.none(), st.just("ami-0123456789abcdef0")),
        "nvidia_driver": st.one_of(st.none(), version),
        "cuda": st.one_of(st.none(), version),
        "rocm": st.one_of(st.none(), version),
        "container_runtime": values(ContainerRuntime),
    },
)
pool_options = {
    "instance_type": sometimes(st.none(), st.one_of(st.sampled_from([*SHAPES, "p5.96xlarge"]), text), 3),
    "interconnect": values(Interconnect),
    "capacity": values(CapacityKind),
    "reservation_id": st.one_of(st.none(), st.just("cr-0123")),
    "zone": st.one_of(st.none(), st.sampled_from(["us-east-1a", "us-west-2b"]), text),
    "root_volume_gib": st.integers(20, 16384),
    "software": st.one_of(st.none(), software),
    "labels": st.dictionaries(text, text, max_size=2),
}
pool = st.one_of(
    st.fixed_dictionaries({"name": name, "gpu": gpu_name, "gpus": count}, optional=pool_options),
    st.fixed_dictionaries({"name": name, "gpu": gpu_name, "nodes": count}, optional=pool_options),
    st.fixed_dictionaries({"name": name, "gpu": gpu_name}, optional=pool_options),
)
lustre = st.fixed_dictionaries(
    {"kind": st.just("lustre")},
    optional={
        "name": name,
        "mount_point": mount,
        "capacity_gib": st.sampled_from([1200, 2400, 3000, 4800, 10**30]),
        "throughput_mib_per_tib": st.sampled_from([125, 250, 300, 1000]),
        "protect": st.booleans(),
    },
)
other_storage = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.sampled_from(["nfs", "scratch"])}, optional={"name": name, "mount_point": mount}
    ),
    st.fixed_dictionaries({"kind": st.just("bucket")}, optional={"name": name, "versioning": st.booleans()}),
)
network = st.fixed_dictionaries(
    {},
    optional={
        "vpc_id": st.one_of(st.none(), st.just("vpc-0abc")),
        "subnet_ids": st.lists(st.just("subnet-1"), max_size=2),
        "cidr": st.sampled_from(["10.0.0.0/16", "172.16.0.0/12"]),
        "ssh_cidrs": st.lists(cidr, max_size=2),
        "public_ips": st.booleans(),
    },
)
cluster = st.fixed_dictionaries(
    {
        "name": name,
        "provider": sometimes(st.just("aws"), values(ProviderName), 5),
        "region": sometimes(st.just("us-east-1"), st.one_of(st.sampled_from(REGIONS), text), 3),
        "pools": st.lists(pool, min_size=1, max_size=3),
    },
    optional={
        "storage": st.lists(st.one_of(lustre, other_storage), max_size=3),
        "software": software,
        "network": network,
        "tags": st.dictionaries(text, text, max_size=2),
        "suppress": st.lists(st.sampled_from(["multi-node-without-fabric", "public-ips", "gpu-unknown"])),
        "options": st.one_of(st.none(), st.fixed_dictionaries({"provider": values(ProviderName)})),
    },
)


def _containers(node: Any) -> list[Any]:
    found = []
    if isinstance(node, dict | list):
        found.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            found.extend(_containers(child))
    return found


@st.composite
def corrupted(draw: st.DrawFn, clean: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A declaration with 0-3 malformations: a value of the wrong type, a key removed, an unknown key."""
    if draw(st.integers(0, 49)) == 0:
        return draw(garbage)
    raw = copy.deepcopy(draw(clean))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        target = draw(st.sampled_from(_containers(raw)))
        if isinstance(target, list):
            if target:
                target[draw(st.integers(0, len(target) - 1))] = draw(garbage)
            continue
        key = draw(st.sampled_from([*sorted(target), "gpus", "nodes", "scheduler", "unknown_field"]))
        if key in target and draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(garbage)
    return raw


declaration = corrupted(cluster)


def check_rejection(exc: ValidationError) -> None:
    findings = findings_from_validation_error(exc)
    assert len(findings) == exc.error_count()
    for finding in findings:
        assert finding.severity is Severity.ERROR
        assert finding.code.startswith("spec-")
        assert finding.path and finding.message and finding.fix
        assert "function-after" not in finding.path and "lax-or-strict" not in finding.path


def check_plan(declared: Cluster, plan: ClusterPlan) -> None:
    assert isinstance(plan, ClusterPlan)
    errors = [f for f in plan.findings if f.severity is Severity.ERROR]
    assert plan.ok == (not errors)
    for finding in plan.findings:
        assert finding.code and finding.path and finding.message
        assert finding.fix or finding.severity is not Severity.ERROR

    # every pool left out of the plan is explained by an error at that pool, and only those are left out
    explained = {
        index
        for index in range(len(declared.pools))
        for f in errors
        if f.code in UNRESOLVED and f.path.startswith(f"pools[{index}].")
    }
    resolved = [p for i, p in enumerate(declared.pools) if i not in explained]
    assert [p.name for p in plan.pools] == [p.name for p in resolved]

    for spec, planned in zip(resolved, plan.pools, strict=True):
        assert planned.nodes >= 1
        assert planned.total_gpus == planned.nodes * planned.gpus_per_node
        if spec.gpus is not None:
            assert planned.total_gpus == spec.gpus
        if spec.nodes is not None:
            assert planned.nodes == spec.nodes
        if spec.instance_type is not None:
            assert planned.instance_type == spec.instance_type
        fabric = planned.interconnect is not Interconnect.NONE
        reserved = planned.capacity.value in ("reservation", "capacity-block")
        new_group = planned.nodes > 1 and fabric and not reserved and planned.placement_group is None
        assert planned.placement == ("cluster" if new_group else None)
        assert (planned.fabric_interfaces > 0) == fabric

    cost = plan.cost
    unresolved_names = [p.name for i, p in enumerate(declared.pools) if i in explained]
    assert set(unresolved_names) <= set(cost.unpriced_pools)
    assert (cost.per_hour is None) == bool(cost.unpriced_pools)
    assert math.isfinite(cost.known_per_hour) and cost.known_per_hour >= 0
    if cost.per_hour is not None:
        assert cost.per_month is not None and math.isfinite(cost.per_month)

    assert ClusterPlan.model_validate_json(plan.model_dump_json()) == plan

    if plan.ok:
        for planned in plan.pools:
            document = yaml.safe_load(render_user_data(plan, planned, []))
            assert isinstance(document, dict) and document["write_files"]


@settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(declaration)
def test_any_declaration_is_rejected_with_findings_or_planned(raw: Any) -> None:
    try:
        declared = Cluster.model_validate(raw)
    except ValidationError as exc:
        event("rejected by pydantic")
        check_rejection(exc)
        return
    plan = plan_cluster(declared, CATALOG)
    event(f"planned, ok={plan.ok}, {len(plan.pools)} of {len(declared.pools)} pools resolved")
    check_plan(declared, plan)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["a", "b", "gpu"]),
                "gpu": st.sampled_from(GPU_NAMES),
                "gpus": st.integers(1, 256),
            },
            optional={"instance_type": st.sampled_from(SHAPES)},
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(REGIONS),
)
def test_well_formed_declarations_always_plan(pools: list[dict[str, Any]], region: str) -> None:
    """Declarations that pass pydantic exercise the planner's paths more densely than the garbage above."""
    declared = Cluster(name="c", provider="aws", region=region, pools=pools)
    check_plan(declared, plan_cluster(declared, CATALOG))
