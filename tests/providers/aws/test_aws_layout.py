"""The pure side of the AWS adapter (providers/aws/plan.py): decisions tested without any Pulumi runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from ipaddress import IPv4Network, ip_network
from pathlib import Path

import pytest
from aws_harness import make_cluster
from hypothesis import given
from hypothesis import strategies as st

from provisioner.catalog import load_catalog
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.providers.aws import plan as aws
from provisioner.spec import AwsOptions, Bucket, CapacityKind, Cluster, Lustre, Network, NodePool

ROOT = Path(__file__).resolve().parents[3]


def planned(cluster: Cluster) -> ClusterPlan:
    plan = plan_cluster(cluster, load_catalog())
    assert plan.ok, [f.render() for f in plan.findings]
    return plan


def layout(**overrides: object) -> aws.AwsPlan:
    return aws.aws_plan("c", planned(make_cluster(**overrides)))


def test_plan_module_never_imports_pulumi() -> None:
    code = (
        "import sys, provisioner.providers.aws.plan, provisioner.providers.aws.specs; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'boto3')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- EFA layout ---------------------------------------------------------------------------------------------

SHAPES = [
    ("H100", None, 32),  # p5.48xlarge
    ("A100-40GB", None, 4),  # p4d.24xlarge
    ("H200", "p5en.48xlarge", 16),
    ("B200", None, 8),  # p6-b200.48xlarge
    ("L4", "g6.xlarge", 0),
]


@pytest.mark.parametrize(("gpu", "shape", "cards"), SHAPES)
def test_one_interface_per_efa_card(gpu: str, shape: str | None, cards: int) -> None:
    spec = layout(pools=[NodePool(name="p", gpu=gpu, instance_type=shape, nodes=1)]).pools[0]
    nics = spec.interfaces
    if cards == 0:
        assert nics == (aws.InterfaceSpec(0, 0, None, False),)
        return
    assert len(nics) == cards
    assert [n.network_card_index for n in nics] == list(range(cards))
    assert all(n.device_index == 0 for n in nics)
    assert nics[0].interface_type == "efa"
    assert {n.interface_type for n in nics[1:]} <= {"efa-only"}


@given(st.integers(min_value=1, max_value=64), st.booleans())
def test_efa_layout_invariants(cards: int, public: bool) -> None:
    pool = planned(make_cluster()).pools[0].model_copy(update={"fabric_interfaces": cards})
    nics = aws.network_interfaces(pool, public)
    assert len(nics) == cards
    assert len({n.network_card_index for n in nics}) == cards
    assert nics[0] == aws.InterfaceSpec(0, 0, "efa", public)
    assert all(n.interface_type == "efa-only" and n.associate_public_ip is None for n in nics[1:])


def test_placement_group_only_for_multi_node_fabric_pools() -> None:
    pools = layout(
        pools=[
            NodePool(name="many", gpu="H100", nodes=4),
            NodePool(name="single", gpu="H100", nodes=1),
            NodePool(name="tcp", gpu="L4", instance_type="g6.xlarge", nodes=4),
        ],
        suppress=["multi-node-without-fabric"],
    ).pools
    assert [p.placement_strategy for p in pools] == ["cluster", None, None]
    assert [p.placement_group for p in pools] == [None, None, None]


def test_placement_new_named_or_none() -> None:
    """A new cluster group only where the plan asks; a named group is reused; reserved capacity gets neither
    unless it names one."""
    zone = "us-east-1b"
    pools = layout(
        pools=[
            NodePool(name="new", gpu="H100", nodes=2),
            NodePool(name="named", gpu="H100", nodes=2, placement_group="team-pg"),
            NodePool(
                name="odcr", gpu="H100", nodes=2, capacity="reservation", reservation_id="cr-1", zone=zone
            ),
            NodePool(
                name="cb", gpu="H100", nodes=2, capacity="capacity-block", reservation_id="cr-2", zone=zone
            ),
            NodePool(
                name="cbpg",
                gpu="H100",
                nodes=2,
                capacity="capacity-block",
                reservation_id="cr-3",
                zone=zone,
                placement_group="cb-pg",
            ),
        ]
    ).pools
    assert [(p.placement_strategy, p.placement_group) for p in pools] == [
        ("cluster", None),
        (None, "team-pg"),
        (None, None),
        (None, None),
        (None, "cb-pg"),
    ]


# --- network ------------------------------------------------------------------------------------------------


def test_default_network_has_no_ssh_and_nothing_open_to_the_world() -> None:
    rules = layout().network.cluster_sg_rules
    ingress = [r for r in rules if r.direction == "ingress"]
    assert [(r.protocol, r.peer) for r in ingress] == [("-1", "self")]
    assert {(r.direction, r.protocol, r.peer) for r in rules} >= {
        ("ingress", "-1", "self"),
        ("egress", "-1", "self"),
    }
    assert not any(r.from_port == 22 for r in rules)


def test_ssh_only_from_declared_ranges() -> None:
    rules = layout(network=Network(ssh_cidrs=["198.51.100.0/24", "2001:db8::/48"])).network.cluster_sg_rules
    ssh = [r for r in rules if r.from_port == 22]
    assert {(r.cidr_ipv4, r.cidr_ipv6) for r in ssh} == {("198.51.100.0/24", None), (None, "2001:db8::/48")}
    assert all(r.direction == "ingress" and r.protocol == "tcp" and r.to_port == 22 for r in ssh)


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_world_open_ssh_never_reaches_a_rule(cidr: str) -> None:
    plan = plan_cluster(make_cluster(network=Network(ssh_cidrs=[cidr])), load_catalog())
    assert not plan.ok  # validation blocks it; the layout refuses it even if a rule were suppressed
    with pytest.raises(aws.AwsPlanError, match="refusing to open SSH"):
        aws.cluster_sg_rules(plan)


@given(st.integers(min_value=8, max_value=26))
def test_subnets_fit_the_vpc_without_overlap(prefix: int) -> None:
    vpc = IPv4Network(f"10.0.0.0/{prefix}", strict=False)
    private, public = (ip_network(c) for c in aws.subnet_cidrs(vpc))
    assert private.subnet_of(vpc) and public.subnet_of(vpc)  # type: ignore[arg-type]
    assert not private.overlaps(public)
    assert public.prefixlen <= 28


def test_too_small_vpc_is_refused() -> None:
    with pytest.raises(aws.AwsPlanError, match="too small"):
        aws.subnet_cidrs(IPv4Network("10.0.0.0/27"))


def test_zone_is_the_pools_zone_or_looked_up() -> None:
    looked_up = layout(
        pools=[
            NodePool(name="g", gpu="H100", nodes=2),
            NodePool(name="s", gpu="L4", instance_type="g6.xlarge"),
        ]
    ).network
    assert (looked_up.zone, looked_up.zone_lookup) == (None, True)  # never a guessed "a" zone
    assert looked_up.zone_instance_types == ("g6.xlarge", "p5.48xlarge")
    pinned = layout(pools=[NodePool(name="g", gpu="H100", nodes=2, zone="us-east-1d")]).network
    assert (pinned.zone, pinned.zone_lookup, pinned.zone_instance_types) == ("us-east-1d", False, ())


@pytest.mark.parametrize(
    ("offers", "zone"),
    [
        ({"us-east-1a": ["p5", "g6"], "us-east-1b": ["p5", "g6"]}, "us-east-1a"),
        ({"us-east-1a": ["g6"], "us-east-1c": ["p5", "g6"], "us-east-1b": ["p5"]}, "us-east-1c"),
        ({"us-east-1-bos-1a": ["p5", "g6"], "us-east-1f": ["p5", "g6", "x"]}, "us-east-1f"),
    ],
)
def test_pick_zone(offers: dict[str, list[str]], zone: str) -> None:
    pairs = [(z, kind) for z, kinds in offers.items() for kind in kinds]
    locations, offered = [z for z, _ in pairs], [k for _, k in pairs]
    assert aws.pick_zone("us-east-1", ["p5", "g6"], locations, offered) == zone


def test_pick_zone_refuses_when_no_zone_offers_every_shape() -> None:
    with pytest.raises(aws.AwsPlanError) as failure:
        aws.pick_zone("us-west-2", ["p5", "g6"], ["us-west-2a", "us-west-2b"], ["g6", "p5"])
    assert str(failure.value).startswith("no availability zone of us-west-2 offers all of ['g6', 'p5']")
    assert "p5: us-west-2b" in str(failure.value) and "set zone= on the pools" in str(failure.value)
    with pytest.raises(aws.AwsPlanError, match="p5: none"):
        aws.pick_zone("us-west-2", ["p5"], [], [])


def test_pools_in_different_zones_cannot_share_a_created_network() -> None:
    pools = [
        NodePool(name="a", gpu="H100", nodes=2, zone="us-east-1a"),
        NodePool(name="b", gpu="H100", nodes=2, zone="us-east-1b"),
    ]
    codes = [f.code for f in plan_cluster(make_cluster(pools=pools), load_catalog()).findings]
    assert codes == ["aws-zones-differ"]  # validation says so before anything is emitted
    unchecked = plan_cluster(make_cluster(pools=pools), load_catalog()).model_copy(update={"findings": []})
    with pytest.raises(aws.AwsPlanError, match="one zone"):  # and the emitter refuses it regardless
        aws.aws_plan("c", unchecked)


def test_existing_network_uses_the_first_subnet() -> None:
    net = layout(network=Network(vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"])).network
    assert (net.create, net.vpc_id, net.subnet_id, net.zone) == (False, "vpc-1", "subnet-a", None)
    assert (net.zone_lookup, net.zone_instance_types) == (False, ())


# --- identity -----------------------------------------------------------------------------------------------


def test_node_policy_grants_only_the_clusters_buckets() -> None:
    arns = ["arn:aws:s3:::llm-ckpt-1", "arn:aws:s3:::llm-data-2"]
    policy = aws.node_policy(arns, None, "us-east-1")
    assert policy is not None
    resources = [r for s in policy["Statement"] for r in s["Resource"]]
    assert set(resources) == {*arns, *(f"{a}/*" for a in arns)}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    assert "*" not in json.dumps([s["Action"] for s in policy["Statement"]])
    assert aws.node_policy([], None, "us-east-1") is None


@pytest.mark.parametrize(
    ("key", "resource"),
    [
        ("arn:aws:kms:us-east-1:1:key/k", "arn:aws:kms:us-east-1:1:key/k"),
        ("1234-abcd", "arn:aws:kms:us-east-1:*:key/1234-abcd"),
        ("alias/ml", "arn:aws:kms:us-east-1:*:key/*"),
    ],
)
def test_kms_use_is_limited_to_s3(key: str, resource: str) -> None:
    policy = aws.node_policy(["arn:aws:s3:::b"], key, "us-east-1")
    assert policy is not None
    kms = policy["Statement"][-1]
    assert kms["Resource"] == resource
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}


def test_identity_attaches_ssm_and_extra_policies_with_stable_names() -> None:
    extra = ["arn:aws:iam::1:policy/team/Read", "arn:aws:iam::2:policy/other/Read"]
    identity = layout(options=AwsOptions(extra_policy_arns=extra)).identity
    assert list(identity.managed_policy_arns.values()) == [
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        *extra,
    ]
    assert len(set(identity.managed_policy_arns)) == 3
    assert identity.assume_role_policy["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


@pytest.mark.parametrize(
    ("region", "partition"), [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_partition(region: str, partition: str) -> None:
    assert aws.partition_of(region) == partition
    assert aws.autoscaling_role_arn(partition, "111122223333") == (
        f"arn:{partition}:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )


@pytest.mark.parametrize(
    ("key", "alias"),
    [
        ("1234abcd-12ab-34cd-56ef-1234567890ab", False),
        ("arn:aws:kms:us-east-1:1:key/1234abcd", False),
        ("alias/ml", True),
        ("arn:aws:kms:us-east-1:1:alias/ml", True),
    ],
)
def test_customer_key_is_granted_to_auto_scaling(key: str, alias: bool) -> None:
    grant = layout(options=AwsOptions(kms_key_id=key)).identity.ebs_key_grant
    assert grant is not None
    assert (grant.resource_name, grant.key_id, grant.resolve_alias) == ("c-ebs-key-grant", key, alias)
    assert grant.grantee_role_path.endswith("autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
    assert {"Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant"} <= set(grant.operations)
    assert layout().identity.ebs_key_grant is None


# --- pools --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity", "reservation", "expected", "wait"),
    [
        (CapacityKind.ON_DEMAND, None, aws.CapacitySpec(None, None), "20m"),
        (CapacityKind.SPOT, None, aws.CapacitySpec("spot", None), "20m"),
        (CapacityKind.RESERVATION, "cr-1", aws.CapacitySpec(None, "cr-1"), "20m"),
        (CapacityKind.CAPACITY_BLOCK, "cr-2", aws.CapacitySpec("capacity-block", "cr-2"), "0"),
    ],
)
def test_capacity(
    capacity: CapacityKind, reservation: str | None, expected: aws.CapacitySpec, wait: str
) -> None:
    zone = "us-east-1b" if reservation else None
    pool = NodePool(name="g", gpu="H100", nodes=2, capacity=capacity, reservation_id=reservation, zone=zone)
    spec = layout(pools=[pool]).pools[0]
    assert spec.capacity == expected
    assert spec.wait_for_capacity_timeout == wait  # a capacity block may start after `pulumi up`


def test_pool_hardening_and_tags() -> None:
    spec = layout(
        pools=[NodePool(name="g", gpu="H100", nodes=2, labels={"owner": "me", "managed-by": "someone-else"})],
        options=AwsOptions(kms_key_id="k-1"),
    ).pools[0]
    assert spec.metadata == aws.MetadataSpec("enabled", "required", 1)
    assert spec.root_volume == aws.RootVolumeSpec("/dev/sda1", 200, "gp3", "k-1", encrypted=True)
    assert spec.instance_tags["Name"] == "llm-g"
    assert spec.instance_tags["owner"] == "me"
    assert spec.instance_tags["managed-by"] == "provisioner"  # our tag keys keep our values
    assert spec.instance_tags["provisioner:pool"] == "g"
    assert spec.wait_for_capacity_timeout not in ("0", "")


def test_image_from_ssm_unless_custom() -> None:
    default = layout().pools[0]
    assert (
        default.image_id is None
        and default.image_parameter
        and default.image_parameter.startswith("/aws/service/")
    )
    override = layout(options=AwsOptions(ami_ssm_parameter="/my/ami")).pools[0]
    assert override.image_parameter == "/my/ami"
    custom = layout(software={"image": "ami-0feedbeef"}).pools[0]
    assert (custom.image_id, custom.image_parameter) == ("ami-0feedbeef", None)


def test_root_device_is_known_only_for_the_catalogs_image() -> None:
    assert layout().pools[0].root_volume.device_name == "/dev/sda1"
    assert layout(software={"image": "ami-0feedbeef"}).pools[0].root_volume.device_name is None
    assert layout(options=AwsOptions(ami_ssm_parameter="/my/ami")).pools[0].root_volume.device_name is None


def test_too_many_tags_are_refused() -> None:
    cluster = make_cluster(tags={f"k{i}": "v" for i in range(60)})
    findings = plan_cluster(cluster, load_catalog()).findings
    assert [(f.code, f.path) for f in findings] == [("aws-too-many-tags", "pools[0].labels")]
    unchecked = plan_cluster(cluster, load_catalog()).model_copy(update={"findings": []})
    with pytest.raises(aws.AwsPlanError, match="at most 50"):
        aws.aws_plan("c", unchecked)


# --- storage ------------------------------------------------------------------------------------------------


def test_lustre_settings_and_rules() -> None:
    fs = layout(storage=[Lustre(name="shared", capacity_gib=2400, throughput_mib_per_tib=500)]).lustre[0]
    assert (fs.deployment_type, fs.storage_capacity, fs.per_unit_storage_throughput) == (
        "PERSISTENT_2",
        2400,
        500,
    )
    assert (fs.data_compression_type, fs.file_system_type_version, fs.protect) == ("LZ4", "2.15", True)
    ports = {(r.from_port, r.to_port) for r in fs.sg_rules + fs.client_rules}
    assert ports == {(988, 988), (1018, 1023)}
    assert {r.peer for r in fs.sg_rules} == {"self", "cluster"}
    assert not any(r.cidr_ipv4 or r.cidr_ipv6 for r in fs.sg_rules + fs.client_rules)


@pytest.mark.parametrize(("kms", "algorithm"), [(None, "AES256"), ("k-1", "aws:kms")])
def test_bucket_encryption(kms: str | None, algorithm: str) -> None:
    bucket = layout(storage=[Bucket(name="data")], options=AwsOptions(kms_key_id=kms)).buckets[0]
    assert (bucket.sse_algorithm, bucket.kms_key_id, bucket.protect, bucket.versioning) == (
        algorithm,
        kms,
        True,
        True,
    )
    assert bucket.bucket_prefix == "llm-data-"


def test_long_bucket_prefix_is_cut_to_the_s3_limit() -> None:
    prefix = aws.bucket_prefix("a" * 32, "b" * 24)
    assert len(prefix) <= aws.BUCKET_PREFIX_MAX and prefix.endswith("-") and "--" not in prefix


def test_tls_only_policy_denies_plain_http() -> None:
    statement = aws.tls_only_bucket_policy("arn:aws:s3:::b")["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
