"""Every validation rule as a table: a small mutation of a valid declaration -> the findings it causes.

Each row lists every (code, path) the mutation must produce, and nothing else, plus a piece of text the first
finding's message must contain (the bad value, so that the user sees what to change).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from provisioner import Cluster, load_catalog
from provisioner.spec import Interconnect, Severity
from provisioner.validate import Finding, validate

CATALOG = load_catalog()

BASE: dict[str, Any] = {
    "name": "llm-train",
    "provider": "aws",
    "region": "us-east-1",
    "pools": [{"name": "gpu", "gpu": "H100", "gpus": 16}],
    "storage": [
        {"kind": "lustre", "name": "shared", "mount_point": "/fsx", "capacity_gib": 2400},
        {"kind": "bucket", "name": "checkpoints"},
        {"kind": "scratch", "mount_point": "/scratch"},
    ],
    "software": {"nvidia_driver": "580", "cuda": "12.8"},
    "network": {"ssh_cidrs": ["203.0.113.0/24"]},
    "tags": {"team": "research"},
    "suppress": [],
}

Mutation = Callable[[dict[str, Any]], None]


def declare(mutation: Mutation | None = None) -> Cluster:
    raw = copy.deepcopy(BASE)
    if mutation is not None:
        mutation(raw)
    return Cluster.model_validate(raw)


def pool(**fields: Any) -> Mutation:
    """Change fields of pools[0]; a value of None removes the field."""

    def apply(raw: dict[str, Any]) -> None:
        for key, value in fields.items():
            if value is None:
                raw["pools"][0].pop(key, None)
            else:
                raw["pools"][0][key] = value

    return apply


def section(name: str, **fields: Any) -> Mutation:
    """Change fields of a top-level section (software, network); a value of None removes the field."""

    def apply(raw: dict[str, Any]) -> None:
        for key, value in fields.items():
            if value is None:
                raw[name].pop(key, None)
            else:
                raw[name][key] = value

    return apply


def top(**fields: Any) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        raw.update(fields)

    return apply


def storage(index: int, **fields: Any) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        if index == len(raw["storage"]):
            raw["storage"].append({})
        raw["storage"][index].update(fields)

    return apply


def both(*mutations: Mutation) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(raw)

    return apply


def second_pool(**fields: Any) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        raw["pools"].append({"name": "gpu2", "gpu": "H100", "gpus": 8, **fields})

    return apply


E, W = Severity.ERROR, Severity.WARNING

# id, mutation, expected {(code, path, severity)}, text in the message of the first expected finding
ROWS: list[tuple[str, Mutation, list[tuple[str, str, Severity]], str]] = [
    # GPU model and shape
    ("gpu-unknown", pool(gpu="H1OO"), [("gpu-unknown", "pools[0].gpu", E)], "'H1OO'"),
    (
        "gpu-not-offered-amd-with-cuda",
        pool(gpu="MI300X"),
        [
            ("gpu-not-offered", "pools[0].gpu", E),
            ("cuda-on-amd", "software.cuda", E),
            ("nvidia-driver-on-amd", "software.nvidia_driver", E),
        ],
        "MI300X is not offered on aws",
    ),
    (
        "gpu-count-not-multiple",
        pool(gpus=12),
        [("gpu-count-not-multiple", "pools[0].gpus", E)],
        "12: H100 on aws comes as p5.48xlarge with 8 GPUs per node",
    ),
    (
        "gpu-count-not-multiple-explicit-shape",
        pool(gpus=12, instance_type="p5.48xlarge"),
        [("gpu-count-not-multiple", "pools[0].gpus", E)],
        "12: p5.48xlarge has 8 GPUs per node",
    ),
    (
        "instance-type-unknown",
        pool(instance_type="p5.96xlarge"),
        [("instance-type-unknown", "pools[0].instance_type", E)],
        "'p5.96xlarge'",
    ),
    (
        "instance-type-gpu-mismatch",
        pool(instance_type="p4d.24xlarge"),
        [("instance-type-gpu-mismatch", "pools[0].instance_type", E)],
        "p4d.24xlarge carries 8 x A100-40GB",
    ),
    (
        "interconnect-unavailable-efa-on-g4dn-xlarge",
        pool(gpu="T4", gpus=None, nodes=1, instance_type="g4dn.xlarge", interconnect="efa"),
        [("interconnect-unavailable", "pools[0].interconnect", E)],
        "'efa' was asked for but g4dn.xlarge has no high-speed fabric",
    ),
    (
        "interconnect-unavailable-infiniband-on-aws",
        pool(interconnect="infiniband"),
        [
            ("interconnect-unavailable", "pools[0].interconnect", E),
            ("provider-unsupported", "pools[0].interconnect", E),
        ],
        "'infiniband'",
    ),
    (
        "multi-node-without-fabric",
        pool(gpu="L40S", gpus=None, nodes=4, instance_type="g6e.xlarge"),
        [("multi-node-without-fabric", "pools[0].interconnect", W)],
        "4 nodes of g6e.xlarge",
    ),
    (
        "multi-node-with-fabric-turned-off",
        pool(interconnect="none"),
        [("multi-node-without-fabric", "pools[0].interconnect", W)],
        "2 nodes of p5.48xlarge",
    ),
    ("shape-not-in-region", top(region="af-south-1"), [("shape-not-in-region", "region", E)], "'af-south-1'"),
    # capacity and placement
    (
        "reservation-id-missing",
        pool(capacity="capacity-block", zone="us-east-1b"),
        [("reservation-id-missing", "pools[0].reservation_id", E)],
        "'capacity-block'",
    ),
    (
        "reservation-zone-missing",
        pool(capacity="reservation", reservation_id="cr-0123"),
        [("reservation-zone-missing", "pools[0].zone", E)],
        "the zone its reservation lives in",
    ),
    (
        "aws-tag-invalid",
        top(tags={"aws:team": "x"}),
        [("aws-tag-invalid", "tags['aws:team']", E)],
        "reserves",
    ),
    (
        "aws-tag-value-too-long",
        pool(labels={"note": "v" * 257}),
        [("aws-tag-invalid", "pools[0].labels['note']", E)],
        "257 characters",
    ),
    (
        "aws-too-many-tags",
        top(tags={f"k{i}": "v" for i in range(44)}),
        [("aws-too-many-tags", "pools[0].labels", E)],
        "51 tags",
    ),
    (
        "aws-zones-differ",
        both(
            pool(zone="us-east-1a"),
            lambda d: d["pools"].append({**d["pools"][0], "name": "second", "zone": "us-east-1b"}),
        ),
        [("aws-zones-differ", "pools", E)],
        "one private subnet",
    ),
    (
        "reservation-id-unused",
        pool(reservation_id="cr-0123"),
        [("reservation-id-unused", "pools[0].reservation_id", E)],
        "'on-demand'",
    ),
    (
        "zone-not-in-region",
        pool(zone="us-west-2a"),
        [("zone-not-in-region", "pools[0].zone", E)],
        "'us-west-2a'",
    ),
    # drivers, CUDA, ROCm
    (
        "driver-too-old-for-cuda-branch",
        section("software", nvidia_driver="565"),
        [("driver-too-old-for-cuda", "software.nvidia_driver", E)],
        "565 (nvidia_driver) is older than CUDA 12.8 needs: >= 570.26",
    ),
    (
        "driver-too-old-for-cuda-exact",
        section("software", nvidia_driver="570.20"),
        [("driver-too-old-for-cuda", "software.nvidia_driver", E)],
        "570.20",
    ),
    (
        "driver-too-old-for-cuda-pool-override",
        pool(software={"nvidia_driver": "560", "cuda": "12.8"}),
        [("driver-too-old-for-cuda", "pools[0].software.nvidia_driver", E)],
        "560",
    ),
    (
        "driver-too-old-for-b200",
        both(pool(gpu="B200"), section("software", nvidia_driver="570.26")),
        [("driver-too-old-for-gpu", "software.nvidia_driver", E)],
        "570.26 (nvidia_driver) is older than B200 needs: >= 570.133.20",
    ),
    (
        "driver-branch-too-old-for-h200",
        both(pool(gpu="H200"), section("software", nvidia_driver="535", cuda=None)),
        [("driver-too-old-for-gpu", "software.nvidia_driver", E)],
        ">= 550",
    ),
    (
        "cuda-too-old-for-b200",
        both(pool(gpu="B200"), section("software", cuda="12.6")),
        [("cuda-too-old-for-gpu", "software.cuda", E)],
        "CUDA 12.6 predates B200",
    ),
    ("cuda-unknown", section("software", cuda="12.7"), [("cuda-unknown", "software.cuda", E)], "'12.7'"),
    ("rocm-on-nvidia", section("software", rocm="6.4"), [("rocm-on-nvidia", "software.rocm", E)], "'6.4'"),
    (
        "rocm-too-old-for-mi300x",
        both(pool(gpu="MI300X"), top(software={"rocm": "5.7"})),
        [("gpu-not-offered", "pools[0].gpu", E), ("rocm-too-old-for-gpu", "software.rocm", E)],
        "MI300X",
    ),
    # names
    ("cluster-name-not-dns-safe", top(name="LLM_Train"), [("name-not-dns-safe", "name", E)], "'LLM_Train'"),
    ("cluster-name-trailing-dash", top(name="llm-"), [("name-not-dns-safe", "name", E)], "'llm-'"),
    ("cluster-name-leading-digit", top(name="9lives"), [("name-not-dns-safe", "name", E)], "'9lives'"),
    ("cluster-name-trailing-newline", top(name="llm\n"), [("name-not-dns-safe", "name", E)], "'llm\\n'"),
    ("cluster-name-empty", top(name=""), [("name-not-dns-safe", "name", E)], "''"),
    ("cluster-name-too-long", top(name="a" * 33), [("name-too-long", "name", E)], "33 characters"),
    ("pool-name-not-dns-safe", pool(name="GPU"), [("name-not-dns-safe", "pools[0].name", E)], "'GPU'"),
    ("pool-name-too-long", pool(name="p" * 25), [("name-too-long", "pools[0].name", E)], "25 characters"),
    (
        "duplicate-pool-name",
        second_pool(name="gpu"),
        [("duplicate-pool-name", "pools[1].name", E)],
        "'gpu' is already the name of pools[0]",
    ),
    (
        "storage-name-not-dns-safe",
        storage(1, name="Data_Set"),
        [("name-not-dns-safe", "storage[1].name", E)],
        "'Data_Set'",
    ),
    (
        "duplicate-storage-name",
        storage(1, name="shared"),
        [("duplicate-storage-name", "storage[1].name", E)],
        "'shared' is already the name of storage[0]",
    ),
    # storage
    (
        "duplicate-mount-point",
        storage(2, mount_point="/fsx/"),
        [("duplicate-mount-point", "storage[2].mount_point", E)],
        "'/fsx/' is already the mount point of storage[0]",
    ),
    (
        "mount-point-reserved",
        storage(0, mount_point="/var"),
        [("mount-point-reserved", "storage[0].mount_point", E)],
        "'/var'",
    ),
    (
        "lustre-capacity-invalid",
        storage(0, capacity_gib=3000),
        [("lustre-capacity-invalid", "storage[0].capacity_gib", E)],
        "3000 GiB",
    ),
    (
        "lustre-throughput-invalid",
        storage(0, throughput_mib_per_tib=300),
        [("lustre-throughput-invalid", "storage[0].throughput_mib_per_tib", E)],
        "300",
    ),
    (
        "nfs-unsupported-on-aws",
        storage(3, kind="nfs", name="home"),
        [("provider-unsupported", "storage[3]", E)],
        "nfs is not supported on AWS",
    ),
    # provider
    (
        "provider-not-implemented",
        top(provider="azure"),
        [("provider-not-implemented", "provider", E), ("gpu-not-offered", "pools[0].gpu", E)],
        "'azure'",
    ),
    (
        "options-provider-mismatch",
        top(provider="azure", options={"provider": "aws"}),
        [
            ("provider-not-implemented", "provider", E),
            ("options-provider-mismatch", "options.provider", E),
            ("gpu-not-offered", "pools[0].gpu", E),
        ],
        "'azure'",
    ),
    (
        "rocky-unsupported-on-aws",
        section("software", os="rocky-9"),
        [("provider-unsupported", "software.os", E)],
        "rocky-9",
    ),
    # network access
    (
        "ssh-open-to-world",
        section("network", ssh_cidrs=["203.0.113.0/24", "0.0.0.0/0"]),
        [("ssh-open-to-world", "network.ssh_cidrs[1]", E)],
        "0.0.0.0/0",
    ),
    (
        "ssh-open-to-world-v6",
        section("network", ssh_cidrs=["::/0"]),
        [("ssh-open-to-world", "network.ssh_cidrs[0]", E)],
        "::/0",
    ),
    (
        "public-ips",
        both(
            section("network", vpc_id="vpc-0abc", subnet_ids=["subnet-public"], public_ips=True),
            pool(gpu="L4", gpus=1),
        ),
        [("public-ips", "network.public_ips", W)],
        "public IP",
    ),
    (
        "aws-public-ips-private-subnet",
        section("network", public_ips=True),
        [
            ("aws-public-ips-private-subnet", "network.public_ips", E),
            ("aws-public-ips-multi-interface", "network.public_ips", E),
            ("public-ips", "network.public_ips", W),
        ],
        "private subnet",
    ),
    (
        "aws-vpc-too-small",
        section("network", cidr="10.0.0.0/28"),
        [("aws-vpc-too-small", "network.cidr", E)],
        "10.0.0.0/28",
    ),
    (
        "subnet-ids-missing",
        section("network", vpc_id="vpc-0abc"),
        [("subnet-ids-missing", "network.subnet_ids", E)],
        "'vpc-0abc'",
    ),
    (
        "vpc-id-missing",
        section("network", subnet_ids=["subnet-1"]),
        [("vpc-id-missing", "network.vpc_id", E)],
        "subnet_ids",
    ),
]

ERROR_ROWS = [row for row in ROWS if any(severity is E for _, _, severity in row[2])]
WARNING_ROWS = [row for row in ROWS if all(severity is W for _, _, severity in row[2])]


def found(findings: list[Finding]) -> set[tuple[str, str, Severity]]:
    return {(f.code, f.path, f.severity) for f in findings}


def test_the_base_declaration_is_valid() -> None:
    assert validate(declare(), CATALOG) == []


@pytest.mark.parametrize(
    "valid",
    [
        pytest.param(pool(gpus=None, nodes=3), id="nodes-instead-of-gpus"),
        pytest.param(pool(gpus=1), id="one-gpu-p5-4xlarge"),
        pytest.param(pool(gpu="h100-sxm"), id="alias"),
        pytest.param(pool(gpu="B200"), id="b200"),
        # the default image's driver (570.133.20) is enough for B200
        pytest.param(both(pool(gpu="B200"), top(software={})), id="b200-default-image"),
        # p5en.48xlarge is not sold in sa-east-1; p5e.48xlarge is, and is chosen
        pytest.param(both(pool(gpu="H200"), top(region="sa-east-1")), id="h200-sa-east-1"),
        pytest.param(
            pool(capacity="reservation", reservation_id="cr-0123", zone="us-east-1a"), id="reservation"
        ),
        pytest.param(pool(capacity="spot"), id="spot"),
        pytest.param(pool(interconnect="efa"), id="efa-explicit"),
        pytest.param(section("software", nvidia_driver="570", cuda="12.8.1"), id="branch-570-cuda-12-8-1"),
        pytest.param(section("software", nvidia_driver="570.26"), id="exact-cuda-floor"),
        pytest.param(section("network", vpc_id="vpc-1", subnet_ids=["subnet-1"]), id="existing-network"),
        pytest.param(top(name="a" * 32), id="longest-cluster-name"),
        pytest.param(pool(name="p" * 24), id="longest-pool-name"),
        pytest.param(top(suppress=["gpu-unknown", *BASE["suppress"]]), id="suppress-without-finding"),
        pytest.param(
            second_pool(software={"os": "ubuntu-24.04", "container_runtime": "docker"}), id="two-pools"
        ),
    ],
)
def test_small_valid_changes_keep_the_declaration_valid(valid: Mutation) -> None:
    assert validate(declare(valid), CATALOG) == []


@pytest.mark.parametrize(
    ("mutation", "expected", "shows"), [pytest.param(*row[1:], id=row[0]) for row in ROWS]
)
def test_rule(mutation: Mutation, expected: list[tuple[str, str, Severity]], shows: str) -> None:
    findings = validate(declare(mutation), CATALOG)
    assert found(findings) == set(expected)
    first = next(f for f in findings if (f.code, f.path) == expected[0][:2])
    assert shows in first.message
    for finding in findings:
        assert finding.fix.strip(), finding
        assert finding.message.strip(), finding
        assert finding.render().startswith(
            f"{finding.severity.value.upper()} [{finding.code}] {finding.path}: "
        )


@pytest.mark.parametrize(("mutation", "expected"), [pytest.param(*row[1:3], id=row[0]) for row in ERROR_ROWS])
def test_errors_cannot_be_suppressed(mutation: Mutation, expected: list[tuple[str, str, Severity]]) -> None:
    codes = [code for code, _, _ in expected]
    findings = validate(declare(both(mutation, top(suppress=[*codes, *BASE["suppress"]]))), CATALOG)
    assert {e for e in expected if e[2] is E} <= found(findings)


@pytest.mark.parametrize(
    ("mutation", "expected"), [pytest.param(*row[1:3], id=row[0]) for row in WARNING_ROWS]
)
def test_warnings_can_be_suppressed(mutation: Mutation, expected: list[tuple[str, str, Severity]]) -> None:
    codes = [code for code, _, _ in expected]
    assert validate(declare(both(mutation, top(suppress=[*codes, *BASE["suppress"]]))), CATALOG) == []
    assert validate(declare(both(mutation, top(suppress=["some-other-code"]))), CATALOG) != []


def test_all_findings_are_collected_errors_first() -> None:
    everything = both(
        top(name="Bad_Name"),
        pool(gpus=12),
        section("software", rocm="6.4"),
        section("network", public_ips=True),
        storage(0, capacity_gib=3000),
    )
    findings = validate(declare(everything), CATALOG)
    assert {f.code for f in findings} == {
        "name-not-dns-safe",
        "gpu-count-not-multiple",
        "rocm-on-nvidia",
        "public-ips",
        "aws-public-ips-private-subnet",
        "lustre-capacity-invalid",
    }
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=lambda s: s is not E)
    assert severities[-1] is W


def test_the_fix_for_a_count_names_the_single_gpu_shape() -> None:
    (finding,) = validate(declare(pool(gpus=12)), CATALOG)
    assert "multiple of 8" in finding.fix
    assert 'instance_type="p5.4xlarge"' in finding.fix


def test_unknown_gpu_lists_close_matches_and_known_models() -> None:
    (finding,) = validate(declare(pool(gpu="H1OO")), CATALOG)
    assert "did you mean H100" in finding.message
    assert 'gpu="H100"' in finding.fix
    assert "MI300X" in finding.fix


def test_cluster_wide_problems_are_reported_once_not_once_per_pool() -> None:
    findings = validate(declare(both(second_pool(), section("software", nvidia_driver="565"))), CATALOG)
    assert [(f.code, f.path) for f in findings] == [("driver-too-old-for-cuda", "software.nvidia_driver")]


def test_pool_problems_are_reported_for_each_pool() -> None:
    findings = validate(declare(both(pool(gpus=12), second_pool(gpus=4))), CATALOG)
    assert [(f.code, f.path) for f in findings] == [
        ("gpu-count-not-multiple", "pools[0].gpus"),
        ("gpu-count-not-multiple", "pools[1].gpus"),
    ]


def test_validation_is_deterministic() -> None:
    mutation = both(top(name="Bad_Name"), pool(gpus=12), section("network", public_ips=True))
    assert validate(declare(mutation), CATALOG) == validate(declare(mutation), load_catalog())


def test_the_tag_count_rule_counts_the_tags_the_aws_adapter_adds() -> None:
    """The rule cannot see the plan; if the adapter adds a tag, this test says the rule must learn it."""
    from provisioner.plan import plan_cluster
    from provisioner.providers.aws.plan import instance_tags
    from provisioner.validate.rules.aws import _ADDED_NODE_TAGS

    cluster = declare(top(tags={"team": "a", "cost-center": "b"}))
    plan = plan_cluster(cluster, CATALOG)
    added = set(instance_tags(plan, plan.pools[0])) - set(cluster.tags) - set(cluster.pools[0].labels)
    assert len(added) == _ADDED_NODE_TAGS, sorted(added)


def test_amd_nodes_need_ubuntu() -> None:
    from provisioner.catalog import Catalog
    from provisioner.catalog.models import Offer

    mi300x = Offer(
        provider="aws",
        instance_type="mi300x.test",
        gpu="MI300X",
        accelerator=None,
        gpu_count=8,
        vcpus=96,
        memory_gib=1024,
        local_nvme_gb=0,
        fabric=Interconnect.NONE,
        fabric_interfaces=0,
        network_gbps=100,
        nvswitch=False,
        price=None,
        regions=frozenset({"us-east-1"}),
    )
    catalog = Catalog(gpus=CATALOG.gpus, offers=[mi300x], cuda_min_driver=CATALOG.cuda_min_driver)
    raw = copy.deepcopy(BASE) | {"storage": [], "software": {"os": "rocky-9", "rocm": "6.4"}}
    raw["pools"] = [{"name": "amd", "gpu": "MI300X", "nodes": 1}]
    codes = {(f.code, f.path) for f in validate(Cluster.model_validate(raw), catalog)}
    assert ("os-unsupported-for-gpu", "software.os") in codes
