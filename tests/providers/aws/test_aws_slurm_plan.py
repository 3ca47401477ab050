"""The pure Slurm side of the AWS adapter (providers/aws/slurm_plan.py): names, addresses, shapes, secrets
and IAM documents, without any Pulumi runtime."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Network, ip_address
from pathlib import Path
from typing import Any

import pytest
from aws_harness import make_cluster
from hypothesis import given
from hypothesis import strategies as st

from provisioner.catalog import load_catalog
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.providers.aws import plan as aws
from provisioner.providers.aws import slurm_plan
from provisioner.providers.aws.specs import AwsPlanError, SlurmSpec
from provisioner.spec import (
    AwsOptions,
    Cluster,
    Network,
    NodePool,
    Slurm,
    SlurmController,
    SlurmLogin,
)

ROOT = Path(__file__).resolve().parents[3]
MUNGE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:llm-munge-key-abc-AbCdEf"
DB_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:llm-db-password-abc-GhIjKl"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def planned(cluster: Cluster) -> ClusterPlan:
    plan = plan_cluster(cluster, load_catalog())
    assert plan.ok, [f.render() for f in plan.findings]
    return plan


def slurm_cluster(scheduler: Slurm | None = None, **overrides: Any) -> Cluster:
    slurm = scheduler or Slurm(login=SlurmLogin(count=2), accounting=True)
    return make_cluster(scheduler=slurm, **overrides)


def layout(name: str = "c", **overrides: Any) -> SlurmSpec:
    spec = aws.aws_plan(name, planned(slurm_cluster(**overrides))).slurm
    assert spec is not None
    return spec


def test_the_module_never_imports_pulumi() -> None:
    code = (
        "import sys, provisioner.providers.aws.slurm_plan; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'pulumi_random')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_scheduler_no_slurm_layout() -> None:
    assert aws.aws_plan("c", planned(make_cluster())).slurm is None


# --- the controller's address -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "address"),
    [
        ("10.0.0.0/17", "10.0.0.10"),
        ("172.31.32.0/20", "172.31.32.10"),
        ("192.168.7.0/24", "192.168.7.10"),
        ("10.1.2.16/28", "10.1.2.26"),  # the smallest subnet AWS allows
    ],
)
def test_the_controller_is_the_10th_address_of_the_subnet(cidr: str, address: str) -> None:
    assert slurm_plan.controller_private_ip(cidr) == address


@pytest.mark.parametrize("cidr", ["10.0.0.0/29", "10.0.0.8/30"])
def test_a_subnet_without_a_10th_address_is_refused(cidr: str) -> None:
    with pytest.raises(AwsPlanError, match="/28 or larger"):
        slurm_plan.controller_private_ip(cidr)


@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=8, max_value=28))
def test_the_address_is_always_a_usable_host_of_the_subnet(base: int, prefix: int) -> None:
    subnet = IPv4Network((base, prefix), strict=False)
    address = ip_address(slurm_plan.controller_private_ip(str(subnet)))
    assert address in subnet
    assert subnet.network_address + 3 < address < subnet.broadcast_address  # AWS reserves these


def test_a_created_network_fixes_the_address_in_the_plan() -> None:
    assert layout().controller.private_ip == "10.0.0.10"  # private subnet: first half of 10.0.0.0/16
    custom = layout(network=Network(cidr=IPv4Network("10.20.0.0/16")))
    assert custom.controller.private_ip == "10.20.0.10"


def test_an_existing_network_looks_the_subnet_up_at_deploy_time() -> None:
    spec = layout(network=Network(vpc_id="vpc-0abc", subnet_ids=["subnet-0private"]))
    assert spec.controller.private_ip is None


# --- names, shapes, volumes ---------------------------------------------------------------------------------


def test_names_start_with_the_component_name() -> None:
    spec = layout("train")
    assert spec.resource_name == "train-slurm"
    assert spec.controller.resource_name == "train-slurm-controller"
    assert spec.login is not None and spec.login.resource_name == "train-slurm-login"
    assert spec.munge_key.resource_name == "train-slurm-munge-key"
    assert spec.db_password is not None and spec.db_password.resource_name == "train-slurm-db-password"
    ident = spec.controller_identity
    assert (ident.role_name, ident.profile_name, ident.policy_name) == (
        "train-slurm-controller-role",
        "train-slurm-controller-profile",
        "train-slurm-controller-secrets",
    )
    assert ident.managed_policy_arns == {
        "train-slurm-controller-ssm": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    }
    assert spec.node_policy_name == "train-slurm-node-secrets"


def test_default_shapes_are_the_adapters_support_shapes() -> None:
    spec = layout()
    assert spec.controller.instance_type == "m7i.2xlarge"
    assert spec.login is not None
    assert (spec.login.instance_type, spec.login.count) == ("m7i.xlarge", 2)


def test_declared_shapes_and_disks_are_kept() -> None:
    spec = layout(
        scheduler=Slurm(
            controller=SlurmController(instance_type="m7i.4xlarge", root_volume_gib=500),
            login=SlurmLogin(count=3, instance_type="c7i.large", root_volume_gib=60),
        )
    )
    assert spec.controller.instance_type == "m7i.4xlarge"
    assert spec.controller.root_volume.size_gib == 500
    assert spec.login is not None
    assert (spec.login.instance_type, spec.login.count, spec.login.root_volume.size_gib) == (
        "c7i.large",
        3,
        60,
    )


def test_root_volumes_are_encrypted_gp3_with_the_clusters_key() -> None:
    spec = layout(options=AwsOptions(kms_key_id=KEY_ARN))
    assert spec.login is not None
    for root in (spec.controller.root_volume, spec.login.root_volume):
        assert (root.volume_type, root.encrypted, root.delete_on_termination) == ("gp3", True, True)
        assert root.kms_key_id == KEY_ARN
    assert spec.controller.root_volume.device_name is None  # an instance's root is the image's own
    assert spec.login.root_volume.device_name == aws.ROOT_DEVICE  # the catalog image's, like the pools'


def test_support_nodes_boot_the_first_pools_image() -> None:
    pools = [NodePool(name="big", gpu="H100", nodes=2), NodePool(name="small", gpu="L4", nodes=1)]
    assert layout(pools=pools, suppress=["multi-node-without-fabric"]).image_pool == "big"


def test_imds_v2_and_no_public_ip_by_default() -> None:
    spec = layout()
    assert spec.login is not None
    for metadata in (spec.controller.metadata, spec.login.metadata):
        assert (metadata.http_tokens, metadata.http_put_response_hop_limit) == ("required", 1)
    assert spec.controller.associate_public_ip is False
    assert spec.login.interfaces == (aws.InterfaceSpec(0, 0, None, False),)


def test_public_ips_when_the_network_asks_for_them() -> None:
    network = Network(vpc_id="vpc-0abc", subnet_ids=["subnet-0public"], public_ips=True)
    pools = [NodePool(name="gpu", gpu="L4", instance_type="g6.xlarge", nodes=1)]
    spec = layout(network=network, pools=pools)
    assert spec.controller.associate_public_ip is True
    assert spec.login is not None and spec.login.interfaces[0].associate_public_ip is True


def test_tags_name_the_node_and_its_role_and_keep_the_managed_keys() -> None:
    spec = layout(tags={"team": "ml", "Name": "theirs"})
    tags = spec.controller.instance_tags
    assert tags["Name"] == "llm-controller"  # the host name the controller takes at boot
    assert tags["provisioner:slurm-role"] == "controller"
    assert tags["team"] == "ml" and tags["provisioner:cluster"] == "llm"
    assert spec.login is not None and spec.login.instance_tags["Name"] == "llm-login"


def test_without_login_or_accounting_there_is_neither() -> None:
    spec = layout(scheduler=Slurm())
    assert spec.login is None and spec.db_password is None


def test_a_looked_up_zone_must_offer_the_support_shapes_too() -> None:
    plan = planned(slurm_cluster())
    assert set(aws.aws_plan("c", plan).network.zone_instance_types) == {
        "p5.48xlarge",
        "m7i.2xlarge",
        "m7i.xlarge",
    }


# --- secrets ------------------------------------------------------------------------------------------------


def test_secrets_are_named_from_a_prefix_with_a_7_day_recovery_window() -> None:
    spec = layout()
    assert spec.munge_key.name_prefix == "llm-munge-key-"
    assert spec.db_password is not None and spec.db_password.name_prefix == "llm-db-password-"
    assert {spec.munge_key.recovery_window_in_days, spec.db_password.recovery_window_in_days} == {7}
    assert spec.munge_key.kms_key_id is None
    assert spec.munge_key_bytes == 128 and spec.db_password_length == 32
    assert spec.secret_store == "aws-secretsmanager"


def test_secrets_use_the_clusters_key() -> None:
    spec = layout(options=AwsOptions(kms_key_id="alias/ml"))
    assert spec.munge_key.kms_key_id == "alias/ml"
    assert spec.db_password is not None and spec.db_password.kms_key_id == "alias/ml"


# --- IAM ----------------------------------------------------------------------------------------------------


def test_nodes_may_read_the_munge_key_and_nothing_else() -> None:
    policy = slurm_plan.node_secrets_policy(MUNGE_ARN, None, "us-east-1")
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadMungeKey",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [MUNGE_ARN],
            }
        ],
    }


def test_the_controller_reads_the_munge_key_and_the_database_password() -> None:
    (read,) = slurm_plan.controller_policy(MUNGE_ARN, DB_ARN, None, "us-east-1")["Statement"]
    assert read["Action"] == ["secretsmanager:GetSecretValue"]
    assert read["Resource"] == [MUNGE_ARN, DB_ARN]
    (alone,) = slurm_plan.controller_policy(MUNGE_ARN, None, None, "us-east-1")["Statement"]
    assert alone["Resource"] == [MUNGE_ARN]


@pytest.mark.parametrize(
    ("key", "resource"),
    [
        (KEY_ARN, KEY_ARN),
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:*:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("alias/ml", "arn:aws:kms:eu-west-1:*:key/*"),
    ],
)
def test_a_customer_key_is_usable_through_secrets_manager_only(key: str, resource: str) -> None:
    for policy in (
        slurm_plan.node_secrets_policy(MUNGE_ARN, key, "eu-west-1"),
        slurm_plan.controller_policy(MUNGE_ARN, DB_ARN, key, "eu-west-1"),
    ):
        _, kms = policy["Statement"]
        assert kms["Action"] == ["kms:Decrypt"]
        assert kms["Resource"] == resource
        assert kms["Condition"]["StringEquals"] == {
            "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"
        }
        if key.startswith("alias/"):
            assert kms["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": "alias/ml"}


def test_the_s3_key_statement_is_unchanged() -> None:
    """The node policy of the buckets still uses the key through S3, to decrypt and to encrypt."""
    (_, _, kms) = aws.node_policy(["arn:aws:s3:::b"], KEY_ARN, "us-east-1")["Statement"]  # type: ignore[index]
    assert kms["Sid"] == "UseClusterKeyThroughS3"
    assert kms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_a_key_id_names_the_partition_of_the_region() -> None:
    policy = slurm_plan.node_secrets_policy(MUNGE_ARN, "1234abcd", "cn-north-1")
    assert policy["Statement"][1]["Resource"] == "arn:aws-cn:kms:cn-north-1:*:key/1234abcd"


def test_a_declared_controller_address_is_kept() -> None:
    spec = layout(scheduler=Slurm(controller=SlurmController(private_ip="10.0.0.200")))
    assert spec.controller.private_ip == "10.0.0.200"


@pytest.mark.parametrize(
    "address", ["10.0.0.0", "10.0.0.1", "10.0.0.3", "10.0.127.255", "10.0.128.10", "192.168.0.10"]
)
def test_a_declared_address_outside_the_subnet_or_reserved_is_refused(address: str) -> None:
    with pytest.raises(AwsPlanError) as info:
        layout(scheduler=Slurm(controller=SlurmController(private_ip=address)))
    assert f"scheduler.controller.private_ip {address}" in str(info.value)
    assert "10.0.0.0/17" in str(info.value)


def test_an_existing_subnet_checks_the_declared_address_against_its_cidr() -> None:
    assert slurm_plan.controller_private_ip("172.31.32.0/20", "172.31.40.7") == "172.31.40.7"
    with pytest.raises(AwsPlanError):
        slurm_plan.controller_private_ip("172.31.32.0/20", "172.31.64.7")


def test_the_controller_is_protected_unless_the_declaration_says_otherwise() -> None:
    assert layout().controller.protect is True
    spec = layout(scheduler=Slurm(controller=SlurmController(protect=False)))
    assert spec.controller.protect is False


def test_the_controller_gets_the_declared_extra_policies() -> None:
    extra = "arn:aws:iam::123456789012:policy/team-read-datasets"
    spec = layout(options=AwsOptions(extra_policy_arns=[extra]))
    arns = spec.controller_identity.managed_policy_arns
    assert set(arns.values()) == {"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", extra}
    assert "c-slurm-controller-policy-team-read-datasets" in arns
