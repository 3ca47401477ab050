"""The emit side of the AWS adapter under the Pulumi mock runtime: what `GpuCluster` registers on AWS.

Inputs are checked as the engine receives them (wire names: `networkInterfaces`, `httpTokens`, ...).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pulumi
import pytest
from aws_harness import (
    ACCOUNT_ID,
    CUSTOM_ROOT_DEVICE,
    FAKE_AMI,
    GET_AMI,
    GET_CALLER_IDENTITY,
    GET_KMS_KEY,
    GET_OFFERINGS,
    SSM_GET_PARAMETER,
    Deployment,
    Registration,
    ami,
    deploy,
    make_cluster,
    offerings,
)

from provisioner.providers.aws import INFO, compute
from provisioner.spec import AwsOptions, CapacityKind, Network, NodePool, Software

GOLDEN = Path(__file__).parent / "golden"

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
PLACEMENT = "aws:ec2/placementGroup:PlacementGroup"
FSX = "aws:fsx/lustreFileSystem:LustreFileSystem"
BUCKET = "aws:s3/bucket:Bucket"
SG = "aws:ec2/securityGroup:SecurityGroup"
SUBNET = "aws:ec2/subnet:Subnet"
GRANT = "aws:kms/grant:Grant"
AUTOSCALING_ROLE = (
    f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)
COMPONENTS = {
    "provisioner:aws:Network",
    "provisioner:aws:Identity",
    "provisioner:aws:NodePool",
    "provisioner:aws:SharedFilesystem",
    "provisioner:aws:Bucket",
}
# Resources that take no tags in AWS (associations, attachments, bucket sub-resources, routes).
UNTAGGABLE = {
    "aws:ec2/route:Route",
    "aws:kms/grant:Grant",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
}


def aws_resources(d: Deployment) -> list[Registration]:
    return [r for r in d.resources if r.type.startswith("aws:")]


def cluster_sg_id(d: Deployment) -> str:
    return str(d.outputs["security_group_id"])


# --- EFA, placement, launch template ------------------------------------------------------------------------


@pytest.mark.parametrize(("pool", "cards"), [("p5", 32), ("p4d", 4), ("p5en", 16), ("p6", 8), ("g6", 0)])
def test_efa_interfaces_per_shape(shapes: Deployment, pool: str, cards: int) -> None:
    nics = shapes.launch_template(pool)["networkInterfaces"]
    assert len(nics) == max(cards, 1)
    assert [n["networkCardIndex"] for n in nics] == list(range(len(nics)))
    assert all(n["deviceIndex"] == 0 for n in nics)
    if cards == 0:
        assert "interfaceType" not in nics[0]
    else:
        assert nics[0]["interfaceType"] == "efa"
        assert all(n["interfaceType"] == "efa-only" for n in nics[1:])
    assert all(n["securityGroups"] == [cluster_sg_id(shapes)] for n in nics)
    assert all("subnetId" not in n for n in nics)  # the auto scaling group's subnets place the nodes
    assert all(n["deleteOnTermination"] == "true" for n in nics)
    assert nics[0]["associatePublicIpAddress"] == "false"


def test_placement_group_only_for_multi_node_efa_pools(shapes: Deployment) -> None:
    groups = {r.name: r for r in shapes.of_type(PLACEMENT)}
    assert set(groups) == {"shapes-p5-pg", "shapes-p5en-pg", "shapes-p6-pg"}  # p4d: one node; g6: no EFA
    assert all(g.inputs["strategy"] == "cluster" for g in groups.values())
    asgs = {r.name: r.inputs for r in shapes.of_type(ASG)}
    assert asgs["shapes-p5-asg"]["placementGroup"] == "shapes-p5-pg-physical"
    assert "placementGroup" not in asgs["shapes-g6-asg"]
    assert "placementGroup" not in asgs["shapes-p4d-asg"]


def test_named_placement_group_is_launched_into_and_none_is_created() -> None:
    pools = [
        NodePool(name="own", gpu="H100", nodes=4, placement_group="team-pg"),
        NodePool(name="new", gpu="H100", nodes=2),
    ]
    d = deploy(make_cluster(pools=pools, storage=[]))
    assert [r.name for r in d.of_type(PLACEMENT)] == ["llm-new-pg"]
    asgs = {r.name: r.inputs for r in d.of_type(ASG)}
    assert asgs["llm-own-asg"]["placementGroup"] == "team-pg"
    assert asgs["llm-new-asg"]["placementGroup"] == "llm-new-pg-physical"


def test_reserved_capacity_gets_no_new_placement_group() -> None:
    """AWS places a reservation's or a capacity block's capacity: a new cluster group could miss it."""
    pools = [
        NodePool(
            name="odcr", gpu="H100", nodes=2, capacity="reservation", reservation_id="cr-1", zone="us-east-1b"
        ),
        NodePool(
            name="block",
            gpu="H100",
            nodes=2,
            capacity="capacity-block",
            reservation_id="cr-2",
            zone="us-east-1b",
        ),
        NodePool(
            name="pinned",
            gpu="H100",
            nodes=2,
            capacity="reservation",
            reservation_id="cr-3",
            zone="us-east-1b",
            placement_group="cr-3-pg",
        ),
    ]
    d = deploy(make_cluster(pools=pools, storage=[]))
    assert not d.of_type(PLACEMENT)
    asgs = {r.name: r.inputs for r in d.of_type(ASG)}
    assert "placementGroup" not in asgs["llm-odcr-asg"]
    assert "placementGroup" not in asgs["llm-block-asg"]
    assert asgs["llm-pinned-asg"]["placementGroup"] == "cr-3-pg"


@pytest.mark.parametrize("pool", ["p5", "p4d", "p5en", "p6", "g6"])
def test_launch_template_hardening(shapes: Deployment, pool: str) -> None:
    lt = shapes.launch_template(pool)
    assert lt["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }
    (root,) = lt["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/sda1"
    assert root["ebs"] == {
        "volumeSize": 200,
        "volumeType": "gp3",
        "encrypted": "true",
        "deleteOnTermination": "true",
    }
    assert lt["imageId"] == FAKE_AMI
    assert lt["iamInstanceProfile"]["arn"].endswith(":shapes-node-profile")
    assert "keyName" not in lt and "instanceMarketOptions" not in lt


def test_image_comes_from_the_ssm_public_parameter_through_the_cluster_provider(default: Deployment) -> None:
    (call,) = [c for c in default.calls if c.token == SSM_GET_PARAMETER]
    assert call.args["name"].startswith("/aws/service/deeplearning/ami/")
    assert "::llm-aws::" in call.provider


def test_custom_ami_skips_the_lookup() -> None:
    d = deploy(make_cluster(software=Software(image="ami-0custom0000000000")))
    assert d.launch_template("gpu")["imageId"] == "ami-0custom0000000000"
    assert not [c for c in d.calls if c.token == SSM_GET_PARAMETER]


def test_catalog_image_root_device_needs_no_lookup(default: Deployment) -> None:
    assert default.launch_template("gpu")["blockDeviceMappings"][0]["deviceName"] == "/dev/sda1"
    assert not default.calls_to(GET_AMI)


@pytest.mark.parametrize("device", [CUSTOM_ROOT_DEVICE, "/dev/nvme0n1"])
def test_custom_ami_root_volume_is_the_images_own_root_device(device: str) -> None:
    """The encrypted mapping must name the device the image boots from, or the real root stays unencrypted."""
    cluster = make_cluster(software=Software(image="ami-0custom0000000000"), storage=[])
    d = deploy(cluster, answers={GET_AMI: ami(device)})
    (root,) = d.launch_template("gpu")["blockDeviceMappings"]
    assert root["deviceName"] == device
    assert root["ebs"]["encrypted"] == "true"
    (call,) = d.calls_to(GET_AMI)
    assert call.args["filters"] == [{"name": "image-id", "values": ["ami-0custom0000000000"]}]
    assert "owners" not in call.args  # any image the account may launch, shared ones included
    assert call.args["includeDeprecated"] is True
    assert "::llm-aws::" in call.provider


def test_ssm_parameter_override_looks_up_the_root_device_of_the_image_it_names() -> None:
    d = deploy(make_cluster(options=AwsOptions(ami_ssm_parameter="/team/gpu-ami"), storage=[]))
    (call,) = d.calls_to(GET_AMI)
    assert call.args["filters"] == [{"name": "image-id", "values": [FAKE_AMI]}]
    assert d.launch_template("gpu")["blockDeviceMappings"][0]["deviceName"] == CUSTOM_ROOT_DEVICE


def test_kms_key_and_key_pair(hardened: Deployment) -> None:
    lt = hardened.launch_template("gpu")
    key = hardened.cluster.options.kms_key_id  # type: ignore[union-attr]
    assert lt["blockDeviceMappings"][0]["ebs"]["kmsKeyId"] == key
    assert lt["keyName"] == "ops"
    assert hardened.one(FSX).inputs["kmsKeyId"] == key


def test_tag_specifications_carry_cluster_tags_and_pool_labels(default: Deployment) -> None:
    specs = {s["resourceType"]: s["tags"] for s in default.launch_template("gpu")["tagSpecifications"]}
    assert set(specs) == {"instance", "volume"}
    for tags in specs.values():
        assert tags["team"] == "research"
        assert tags["provisioner:cluster"] == "llm"
        assert tags["provisioner:pool"] == "gpu"
        assert tags["Name"] == "llm-gpu"


def test_user_data_mounts_lustre_is_small_and_holds_no_secret(shapes: Deployment) -> None:
    for pool in ("p5", "p4d", "p5en", "p6", "g6"):
        text = shapes.user_data(pool)
        assert text.startswith("#cloud-config")
        assert len(shapes.user_data_bytes(pool)) <= 16 * 1024  # EC2's limit, on what it receives
        assert "fs-shapes-shared-fs.fsx.us-east-1.amazonaws.com@tcp:/" in text
        assert not re.search(
            r"PRIVATE KEY|AKIA[0-9A-Z]{16}|aws_secret_access_key|password\s*[:=]", text, re.I
        )


# --- capacity and scale -------------------------------------------------------------------------------------


def test_capacity_kinds() -> None:
    zone = "us-east-1b"
    pools = [
        NodePool(name="spot", gpu="H100", nodes=2, capacity=CapacityKind.SPOT, zone=zone),
        NodePool(
            name="odcr",
            gpu="H100",
            nodes=2,
            capacity=CapacityKind.RESERVATION,
            reservation_id="cr-0a",
            zone=zone,
        ),
        NodePool(
            name="block",
            gpu="H100",
            nodes=2,
            capacity=CapacityKind.CAPACITY_BLOCK,
            reservation_id="cr-0b",
            zone=zone,
        ),
    ]
    d = deploy(make_cluster(pools=pools))
    spot, odcr, block = (d.launch_template(p) for p in ("spot", "odcr", "block"))
    assert spot["instanceMarketOptions"] == {"marketType": "spot"}
    assert "capacityReservationSpecification" not in spot
    target = {"capacityReservationTarget": {"capacityReservationId": "cr-0a"}}
    assert odcr["capacityReservationSpecification"] == target and "instanceMarketOptions" not in odcr
    assert block["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert (
        block["capacityReservationSpecification"]["capacityReservationTarget"]["capacityReservationId"]
        == "cr-0b"
    )
    waits = {r.name: r.inputs["waitForCapacityTimeout"] for r in d.of_type(ASG)}
    # a block may start after `pulumi up`: its group does not wait; the others wait to report a shortage
    assert waits == {"llm-spot-asg": "20m", "llm-odcr-asg": "20m", "llm-block-asg": "0"}


def test_one_group_per_pool_whatever_the_node_count() -> None:
    def counts(nodes: int) -> tuple[dict[str, int], Registration]:
        d = deploy(make_cluster(pools=[NodePool(name="gpu", gpu="H100", nodes=nodes)], storage=[]))
        types = [r.type for r in d.resources]
        return {t: types.count(t) for t in set(types)}, d.one(ASG)

    small, _ = counts(2)
    large, asg = counts(1024)
    assert large == small and large[ASG] == 1 and large[LAUNCH_TEMPLATE] == 1
    assert asg.inputs["minSize"] == asg.inputs["maxSize"] == asg.inputs["desiredCapacity"] == 1024


def test_group_settings(shapes: Deployment) -> None:
    asgs = {r.name: r.inputs for r in shapes.of_type(ASG)}
    assert len(asgs) == len(shapes.cluster.pools)
    nodes = {"p5": 2, "p4d": 1, "p5en": 2, "p6": 2, "g6": 2}
    for pool, count in nodes.items():
        asg = asgs[f"shapes-{pool}-asg"]
        assert asg["minSize"] == asg["maxSize"] == asg["desiredCapacity"] == count
        assert asg["vpcZoneIdentifiers"] == [shapes.outputs["private_subnet_id"]]
        assert asg["launchTemplate"] == {"id": shapes.outputs["launch_templates"][pool], "version": "3"}
        assert asg["suspendedProcesses"] == ["AZRebalance"]
        assert asg["forceDelete"] is True
        assert asg["waitForCapacityTimeout"] == "20m"
        tags = {t["key"]: t["value"] for t in asg["tags"]}
        assert tags["Name"] == f"shapes-{pool}" and tags["provisioner:cluster"] == "shapes"
        assert all(t["propagateAtLaunch"] for t in asg["tags"])


# --- network and security groups ----------------------------------------------------------------------------


def test_created_network(default: Deployment) -> None:
    vpc = default.one("aws:ec2/vpc:Vpc").inputs
    assert (vpc["cidrBlock"], vpc["enableDnsSupport"], vpc["enableDnsHostnames"]) == (
        "10.0.0.0/16",
        True,
        True,
    )
    subnets = {r.name: r.inputs for r in default.of_type("aws:ec2/subnet:Subnet")}
    assert subnets["llm-private"]["cidrBlock"] == "10.0.0.0/17"
    assert all(
        s["availabilityZone"] == "us-east-1a" and s["mapPublicIpOnLaunch"] is False for s in subnets.values()
    )
    nat = default.one("aws:ec2/natGateway:NatGateway").inputs
    assert nat["subnetId"] == "llm-public-id"
    routes = {r.name: r.inputs for r in default.of_type("aws:ec2/route:Route")}
    assert routes["llm-private-rt-default"]["natGatewayId"] == "llm-nat-id"
    assert routes["llm-public-rt-default"]["gatewayId"] == "llm-igw-id"
    endpoint = default.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs
    assert (endpoint["serviceName"], endpoint["vpcEndpointType"]) == ("com.amazonaws.us-east-1.s3", "Gateway")


def test_pinned_zone_and_region(hardened: Deployment) -> None:
    assert {r.inputs["availabilityZone"] for r in hardened.of_type(SUBNET)} == {"eu-north-1b"}
    provider = hardened.one("pulumi:providers:aws").inputs
    assert provider["region"] == "eu-north-1"
    assert not hardened.calls_to(GET_OFFERINGS)  # a declared zone is used as is
    assert all(not r.ignore_changes for r in hardened.of_type(SUBNET))
    assert hardened.outputs["zone"] == "eu-north-1b"


def test_zone_of_a_created_network_is_looked_up_at_deploy_time(shapes: Deployment) -> None:
    (call,) = shapes.calls_to(GET_OFFERINGS)
    assert call.args["locationType"] == "availability-zone"
    assert call.args["filters"] == [
        {
            "name": "instance-type",
            "values": sorted(
                ["p5.48xlarge", "p4d.24xlarge", "p5en.48xlarge", "p6-b200.48xlarge", "g6.xlarge"]
            ),
        }
    ]
    assert "::shapes-aws::" in call.provider
    assert {r.inputs["availabilityZone"] for r in shapes.of_type(SUBNET)} == {"us-east-1a"}
    assert shapes.outputs["zone"] == "us-east-1a"
    # once created, the subnets keep their zone: a later answer must not replace the network
    assert all(r.ignore_changes == ["availabilityZone"] for r in shapes.of_type(SUBNET))


def test_looked_up_zone_is_the_first_that_offers_every_pool_shape() -> None:
    pools = [
        NodePool(name="train", gpu="H100", nodes=2),
        NodePool(name="serve", gpu="L4", instance_type="g6.xlarge", nodes=1),
    ]
    answer = offerings(
        {
            "us-east-1-bos-1a": ["p5.48xlarge", "g6.xlarge"],  # a Local Zone: never the cluster's zone
            "us-east-1a": ["g6.xlarge"],
            "us-east-1f": ["p5.48xlarge", "g6.xlarge"],
            "us-east-1c": ["p5.48xlarge", "g6.xlarge"],
            "us-east-1d": ["p5.48xlarge"],
        }
    )
    d = deploy(make_cluster(pools=pools, storage=[]), answers={GET_OFFERINGS: answer})
    assert {r.inputs["availabilityZone"] for r in d.of_type(SUBNET)} == {"us-east-1c"}


def test_no_zone_offering_every_shape_fails_the_deploy_clearly() -> None:
    pools = [
        NodePool(name="train", gpu="H100", nodes=2),
        NodePool(name="serve", gpu="L4", instance_type="g6.xlarge", nodes=1),
    ]
    answer = offerings({"us-east-1a": ["g6.xlarge"], "us-east-1d": ["p5.48xlarge"]})
    with pytest.raises(Exception, match=r"no availability zone of us-east-1 offers all of \[") as failure:
        deploy(make_cluster(pools=pools, storage=[]), answers={GET_OFFERINGS: answer})
    message = str(failure.value)
    assert "'g6.xlarge', 'p5.48xlarge'" in message and "set zone= on the pools" in message
    assert "p5.48xlarge: us-east-1d" in message


def test_existing_network_needs_no_zone(existing_vpc: Deployment) -> None:
    assert not existing_vpc.calls_to(GET_OFFERINGS)
    assert existing_vpc.outputs["zone"] is None


def test_cluster_security_group_rules(default: Deployment) -> None:
    sg = cluster_sg_id(default)
    ingress = [r.inputs for r in default.of_type(INGRESS) if r.inputs["securityGroupId"] == sg]
    egress = [r.inputs for r in default.of_type(EGRESS) if r.inputs["securityGroupId"] == sg]
    assert {"ipProtocol": "-1", "referencedSecurityGroupId": sg} in [
        {k: r.get(k) for k in ("ipProtocol", "referencedSecurityGroupId")} for r in ingress
    ]
    assert [r for r in egress if r["ipProtocol"] == "-1" and r.get("referencedSecurityGroupId") == sg]
    assert [r for r in egress if r["ipProtocol"] == "-1" and r.get("cidrIpv4") == "0.0.0.0/0"]
    assert not [r for r in ingress if r.get("fromPort") == 22]  # no SSH unless declared
    assert all("cidrIpv4" not in r and "cidrIpv6" not in r for r in ingress)


@pytest.mark.parametrize("fixture", ["default", "hardened", "shapes", "existing_vpc"])
def test_no_ingress_from_the_world(fixture: str, request: pytest.FixtureRequest) -> None:
    d: Deployment = request.getfixturevalue(fixture)
    for rule in d.of_type(INGRESS):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0"
        assert rule.inputs.get("cidrIpv6") != "::/0"
    for group in d.of_type(SG):
        assert "ingress" not in group.inputs  # all rules are separate, checkable resources


def test_ssh_only_from_declared_ranges(hardened: Deployment) -> None:
    with_cidr = [
        r.inputs for r in hardened.of_type(INGRESS) if "cidrIpv4" in r.inputs or "cidrIpv6" in r.inputs
    ]
    assert {(r.get("cidrIpv4"), r.get("cidrIpv6")) for r in with_cidr} == {
        ("203.0.113.0/24", None),
        (None, "2001:db8::/32"),
    }
    assert all((r["ipProtocol"], r["fromPort"], r["toPort"]) == ("tcp", 22, 22) for r in with_cidr)


def test_existing_vpc_creates_only_security_groups(existing_vpc: Deployment) -> None:
    created = {r.type for r in aws_resources(existing_vpc)}
    for kind in (
        "vpc:Vpc",
        "subnet:Subnet",
        "natGateway:NatGateway",
        "internetGateway:InternetGateway",
        "eip:Eip",
    ):
        assert f"aws:ec2/{kind}" not in created
    assert {r.inputs["vpcId"] for r in existing_vpc.of_type(SG)} == {"vpc-0abc"}
    assert existing_vpc.outputs["vpc_id"] == "vpc-0abc"
    assert existing_vpc.outputs["private_subnet_id"] == "subnet-0private"
    assert existing_vpc.one(ASG).inputs["vpcZoneIdentifiers"] == ["subnet-0private"]
    assert existing_vpc.one(FSX).inputs["subnetIds"] == "subnet-0private"


# --- identity -----------------------------------------------------------------------------------------------


def test_node_role(hardened: Deployment) -> None:
    role = hardened.one("aws:iam/role:Role").inputs
    trust = json.loads(role["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {
        r.inputs["policyArn"] for r in hardened.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        "arn:aws:iam::123456789012:policy/ReadEcr",
    }
    policy = json.loads(hardened.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    s3 = [s for s in policy["Statement"] if any(a.startswith("s3:") for a in s["Action"])]
    bucket_arn = "arn:aws:s3:::hard-ckpt-20260101abcdef"  # the mocked bucket's ARN
    assert {r for s in s3 for r in s["Resource"]} == {bucket_arn, f"{bucket_arn}/*"}
    (kms,) = [s for s in policy["Statement"] if s not in s3]
    assert kms["Resource"] == hardened.cluster.options.kms_key_id  # type: ignore[union-attr]
    assert hardened.one("aws:iam/instanceProfile:InstanceProfile").inputs["role"] == "hard-node-role-physical"


def test_customer_key_is_granted_to_the_auto_scaling_role(hardened: Deployment) -> None:
    """Auto Scaling launches with its service-linked role: without a grant on the key, every launch of an
    encrypted root volume fails with Client.InternalError."""
    grant = hardened.one(GRANT)
    key = hardened.cluster.options.kms_key_id  # type: ignore[union-attr]
    assert grant.inputs["keyId"] == key
    assert grant.inputs["granteePrincipal"] == AUTOSCALING_ROLE
    assert set(grant.inputs["operations"]) == {
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "DescribeKey",
        "CreateGrant",
    }
    assert grant.parent == hardened.one("provisioner:aws:Identity").urn
    assert grant.name == "hard-ebs-key-grant"
    (call,) = hardened.calls_to(GET_CALLER_IDENTITY)
    assert "::hard-aws::" in call.provider
    assert grant.urn in hardened.one(ASG).dependencies  # no node launches before the grant exists


def test_key_alias_is_resolved_for_the_grant() -> None:
    d = deploy(make_cluster(options=AwsOptions(kms_key_id="alias/ml"), storage=[]))
    (call,) = d.calls_to(GET_KMS_KEY)
    assert call.args["keyId"] == "alias/ml"
    assert d.one(GRANT).inputs["keyId"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/")


def test_no_grant_without_a_customer_key(default: Deployment) -> None:
    assert not default.of_type(GRANT)
    assert not default.calls_to(GET_CALLER_IDENTITY)


def test_user_data_limit_comes_from_the_provider_info(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not hasattr(compute, "USER_DATA_LIMIT")  # one source of truth: INFO.user_data_limit
    limits: list[int | None] = []
    real = compute.render_user_data

    def spy(*args: object, limit: int | None = None) -> str:
        limits.append(limit)
        return real(*args, limit=limit)  # type: ignore[arg-type]

    monkeypatch.setattr(compute, "render_user_data", spy)
    deploy(make_cluster(storage=[]))
    assert limits == [INFO.user_data_limit] and INFO.user_data_limit == 16 * 1024


def test_no_inline_policy_without_buckets() -> None:
    d = deploy(make_cluster(storage=[]))
    assert not d.of_type("aws:iam/rolePolicy:RolePolicy")


# --- storage ------------------------------------------------------------------------------------------------


def test_lustre(default: Deployment) -> None:
    fsx = default.one(FSX)
    assert fsx.protect is True
    i = fsx.inputs
    assert (i["deploymentType"], i["storageCapacity"], i["perUnitStorageThroughput"]) == (
        "PERSISTENT_2",
        1200,
        250,
    )
    assert (i["dataCompressionType"], i["fileSystemTypeVersion"]) == ("LZ4", "2.15")
    assert i["subnetIds"] == default.outputs["private_subnet_id"]
    (fs_sg,) = i["securityGroupIds"]
    rules = [r.inputs for r in default.of_type(INGRESS) if r.inputs["securityGroupId"] == fs_sg]
    assert {(r["fromPort"], r["toPort"]) for r in rules} == {(988, 988), (1018, 1023)}
    assert {r["referencedSecurityGroupId"] for r in rules} == {fs_sg, cluster_sg_id(default)}
    assert default.outputs["filesystems"] == {"shared": "fs-llm-shared-fs.fsx.us-east-1.amazonaws.com"}


def test_bucket(default: Deployment) -> None:
    bucket = default.one(BUCKET)
    assert bucket.protect is True
    assert (bucket.inputs["bucketPrefix"], bucket.inputs["forceDestroy"]) == ("llm-ckpt-", False)
    pab = default.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        pab[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    sse = default.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    versioning = default.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    ownership = default.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    policy = json.loads(default.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    assert default.outputs["buckets"] == {"ckpt": "llm-ckpt-20260101abcdef"}


def test_bucket_with_kms(hardened: Deployment) -> None:
    sse = hardened.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    rule = sse.inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith("arn:aws:kms:")
    assert rule["bucketKeyEnabled"] is True


def test_unprotected_and_unversioned_storage(existing_vpc: Deployment) -> None:
    assert not existing_vpc.one(FSX).protect
    assert not existing_vpc.one(BUCKET).protect
    assert not existing_vpc.of_type("aws:s3/bucketVersioning:BucketVersioning")


# --- every resource -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["default", "hardened", "shapes", "existing_vpc"])
def test_every_resource_is_tagged(fixture: str, request: pytest.FixtureRequest) -> None:
    d: Deployment = request.getfixturevalue(fixture)
    expected = {"provisioner:cluster": d.cluster.name, "managed-by": "provisioner", "team": "research"}
    provider = d.one("pulumi:providers:aws").inputs
    assert json.loads(provider["defaultTags"])["tags"] == expected  # the provider sends nested inputs as JSON
    for r in aws_resources(d):
        if r.type in UNTAGGABLE:
            continue
        if r.type == ASG:
            tags = {t["key"]: t["value"] for t in r.inputs["tags"]}
        else:
            assert "tags" in r.inputs, f"{r.type} {r.name} is not tagged"
            tags = r.inputs["tags"]
        assert expected.items() <= tags.items(), f"{r.type} {r.name}: {tags}"


@pytest.mark.parametrize("fixture", ["default", "shapes", "existing_vpc"])
def test_names_parents_and_provider(fixture: str, request: pytest.FixtureRequest) -> None:
    d: Deployment = request.getfixturevalue(fixture)
    name = d.cluster.name
    (root,) = d.of_type("provisioner:index:GpuCluster")
    assert all(r.name == name or r.name.startswith(f"{name}-") for r in d.resources)
    assert len({(r.type, r.name) for r in d.resources}) == len(d.resources)
    components = [r for r in d.resources if r.type in COMPONENTS]
    assert all(c.parent == root.urn for c in components)
    component_urns = {c.urn for c in components}
    provider = d.one("pulumi:providers:aws")
    assert provider.parent == root.urn
    for r in aws_resources(d):
        assert r.parent in component_urns, f"{r.type} {r.name} is not under a concern component"
        assert r.provider.startswith(f"{provider.urn}::"), (
            f"{r.type} {r.name} does not use the cluster provider"
        )


def test_outputs(default: Deployment) -> None:
    assert set(default.outputs) == {
        "vpc_id",
        "private_subnet_id",
        "zone",
        "security_group_id",
        "node_role_arn",
        "pools",
        "launch_templates",
        "filesystems",
        "buckets",
    }
    assert default.outputs["pools"] == {"gpu": "llm-gpu-asg-physical"}
    assert default.outputs["node_role_arn"].endswith(":llm-node-role")


def test_golden_urns(default: Deployment) -> None:
    """URNs are API: a changed one makes `pulumi up` replace a running cluster. Update the golden file on
    purpose only (PROVISIONER_UPDATE_GOLDEN=1), with an alias for every renamed or re-parented resource."""
    urns = "\n".join(sorted(default.engine_urn(r) for r in default.resources)) + "\n"
    golden = GOLDEN / "aws_default_urns.txt"
    if os.environ.get("PROVISIONER_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(urns)
    assert urns == golden.read_text()


def test_emit_is_deterministic(default: Deployment) -> None:
    again = deploy(default.cluster)
    assert [(r.urn, r.inputs) for r in sorted(again.resources, key=lambda r: r.urn)] == [
        (r.urn, r.inputs) for r in sorted(default.resources, key=lambda r: r.urn)
    ]


def test_ordering_dependencies(default: Deployment) -> None:
    """FSx comes after the rules that admit Lustre traffic; the instance profile after the role's grants."""
    fsx = default.one(FSX)
    rules = {r.urn for r in default.of_type(INGRESS) + default.of_type(EGRESS) if "-shared-" in r.name}
    assert rules and rules <= set(fsx.dependencies)
    profile = default.one("aws:iam/instanceProfile:InstanceProfile")
    grants = default.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    grants += default.of_type("aws:iam/rolePolicy:RolePolicy")
    assert {g.urn for g in grants} <= set(profile.dependencies)


def test_public_ips_on_a_single_interface_pool_in_your_own_public_subnet() -> None:
    network = Network(vpc_id="vpc-1", subnet_ids=["subnet-public"], public_ips=True)
    pools = [NodePool(name="gpu", gpu="L4", nodes=1, instance_type="g6.xlarge")]
    d = deploy(make_cluster(network=network, pools=pools, storage=[]))
    nics = d.launch_template("gpu")["networkInterfaces"]
    assert [n["associatePublicIpAddress"] for n in nics] == ["true"]


def test_public_ips_are_refused_where_ec2_would_not_give_them() -> None:
    with pytest.raises(pulumi.RunError, match="aws-public-ips-multi-interface"):
        deploy(make_cluster(network=Network(vpc_id="vpc-1", subnet_ids=["s-1"], public_ips=True)))
    with pytest.raises(pulumi.RunError, match="aws-public-ips-private-subnet"):
        deploy(make_cluster(network=Network(public_ips=True), storage=[]))


def test_invalid_declaration_creates_nothing() -> None:
    with pytest.raises(pulumi.RunError, match="ssh-open-to-world"):
        deploy(make_cluster(network=Network(ssh_cidrs=["0.0.0.0/0"])))
