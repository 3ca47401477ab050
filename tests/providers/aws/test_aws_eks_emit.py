"""An EKS cluster under the Pulumi mock runtime: the cluster (private endpoint, logs, OIDC, access), the
system and GPU node groups on their own launch templates (EFA interfaces, placement group, encrypted root,
IMDSv2, taints and labels), and the Helm releases with pinned versions and the values we render."""

from __future__ import annotations

import base64
import dataclasses
import email
import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from aws_harness import Deployment, deploy

from provisioner.catalog import Catalog, shipped_catalog
from provisioner.k8s.render import helm_values
from provisioner.plan import plan_cluster
from provisioner.providers.aws.eks import has_null
from provisioner.spec import AwsOptions, CapacityKind, Cluster, Kubernetes, NodePool

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
PLACEMENT_GROUP = "aws:ec2/placementGroup:PlacementGroup"
ASG = "aws:autoscaling/group:Group"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
SUBNET = "aws:ec2/subnet:Subnet"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def example() -> Cluster:
    cluster = runpy.run_path(str(ROOT / "examples/h100_eks.py"))["cluster"]
    assert isinstance(cluster, Cluster)
    return cluster


@pytest.fixture(scope="module")
def eks() -> Deployment:
    return deploy(example())


@pytest.fixture(scope="module")
def private() -> Deployment:
    """The example with a private endpoint only, reached from a VPN's range."""
    cluster = example().model_copy(
        update={"scheduler": Kubernetes(version="1.35", api_private_cidrs=["10.8.0.0/16"])}
    )
    return deploy(cluster)


def test_the_cluster_is_private_logged_and_protected(private: Deployment) -> None:
    registration = private.one(CLUSTER)
    cluster = registration.inputs
    vpc = cluster["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc or not vpc["publicAccessCidrs"]
    assert cluster["version"] == "1.35"
    assert cluster["enabledClusterLogTypes"] == [
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    ]
    assert cluster["deletionProtection"] is True
    assert registration.protect is True, "Pulumi refuses to destroy it too, before touching anything"
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    assert private.one(OIDC).inputs["clientIdLists"] == ["sts.amazonaws.com"]
    logs = private.one("aws:cloudwatch/logGroup:LogGroup")
    assert logs.inputs["name"] == "/aws/eks/eks-train/cluster" and logs.inputs["retentionInDays"] == 90
    assert logs.urn in registration.dependencies, "the log group exists before EKS would make its own"


def test_the_private_endpoint_takes_the_declared_ranges_on_443(private: Deployment) -> None:
    vpc = private.one(CLUSTER).inputs["vpcConfig"]
    api_sg = private.named("eks-train-eks-api-sg")
    assert f"{api_sg.name}-id" in vpc["securityGroupIds"]
    rules = [r.inputs for r in private.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")]
    api = [r for r in rules if r["securityGroupId"] == f"{api_sg.name}-id"]
    assert api == [
        {
            "securityGroupId": "eks-train-eks-api-sg-id",
            "ipProtocol": "tcp",
            "fromPort": 443,
            "toPort": 443,
            "cidrIpv4": "10.8.0.0/16",
            "description": "Kubernetes API from 10.8.0.0/16 (api_private_cidrs)",
            "tags": api[0].get("tags"),
        }
    ]


def test_the_control_plane_subnets_are_two_zones_eks_supports(eks: Deployment) -> None:
    subnets = {r.name: r.inputs for r in eks.of_type(SUBNET)}
    first, second = subnets["eks-train-control-plane-a"], subnets["eks-train-control-plane-b"]
    assert first["availabilityZone"] != second["availabilityZone"]
    assert not first["mapPublicIpOnLaunch"] and not second["mapPublicIpOnLaunch"]
    vpc = eks.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["subnetIds"] == ["eks-train-control-plane-a-id", "eks-train-control-plane-b-id"]
    zones = eks.calls_to("aws:index/getAvailabilityZones:getAvailabilityZones")
    assert zones and set(zones[0].args["excludeZoneIds"]) == {"use1-az3", "usw1-az2", "cac1-az3"}
    assert eks.named("eks-train-gpu-ng").inputs["subnetIds"] == ["eks-train-private-id"]


def test_the_public_endpoint_takes_only_the_declared_ranges(eks: Deployment) -> None:
    vpc = eks.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert vpc["endpointPrivateAccess"] is True, "the nodes reach it privately"


def test_gpu_pools_are_node_groups_on_their_launch_templates(eks: Deployment) -> None:
    assert not eks.of_type(ASG), "EKS owns the groups: no auto scaling group of ours"
    groups = {r.name: r for r in eks.of_type(NODE_GROUP)}
    assert set(groups) == {"eks-train-gpu-ng", "eks-train-system-ng"}
    gpu = groups["eks-train-gpu-ng"].inputs
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA" and gpu["capacityType"] == "ON_DEMAND"
    assert gpu["version"] == "1.35", "the nodes follow the control plane's version"
    assert gpu["updateConfig"] == {"maxUnavailable": 1, "updateStrategy": "MINIMAL"}
    assert gpu["scalingConfig"] == {"desiredSize": 2, "minSize": 2, "maxSize": 2}
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert gpu["labels"]["provisioner.dev/pool"] == "gpu"
    assert gpu["labels"]["provisioner.dev/fabric"] == "efa"
    assert gpu["labels"]["team"] == "research"
    assert "instanceTypes" not in gpu and "diskSize" not in gpu, "both come from the launch template"
    template = eks.named("eks-train-gpu-lt").inputs
    assert gpu["launchTemplate"]["id"] == "eks-train-gpu-lt-id"
    assert template["instanceType"] == "p5.48xlarge"
    assert "imageId" not in template and "iamInstanceProfile" not in template, "EKS adds both"
    nics = template["networkInterfaces"]
    assert len(nics) == 32
    assert nics[0]["interfaceType"] == "efa" and {n["interfaceType"] for n in nics[1:]} == {"efa-only"}
    assert all("subnetId" not in n for n in nics)
    assert all(len(n["securityGroups"]) == 2 for n in nics), "ours and EKS's cluster security group"
    root = template["blockDeviceMappings"][0]
    assert root["deviceName"] == "/dev/xvda" and root["ebs"]["encrypted"] == "true"
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
    placement = eks.named("eks-train-gpu-pg")
    assert placement.inputs["strategy"] == "cluster"
    assert template["placement"]["groupName"]


def test_nvme_becomes_the_kubelets_raid0(eks: Deployment) -> None:
    template = eks.named("eks-train-gpu-lt").inputs
    message = email.message_from_bytes(base64.b64decode(template["userData"]))
    parts = [p for p in message.walk() if p.get_content_type() == "application/node.eks.aws"]
    assert len(parts) == 1
    assert "strategy: RAID0" in parts[0].get_payload()
    assert "userData" not in eks.named("eks-train-system-lt").inputs


def test_the_system_group_is_small_untainted_and_standard(eks: Deployment) -> None:
    system = eks.named("eks-train-system-ng").inputs
    assert system["amiType"] == "AL2023_x86_64_STANDARD"
    assert system.get("taints") in (None, [])
    template = eks.named("eks-train-system-lt").inputs
    assert template["instanceType"] == "m7i.xlarge"
    assert len(template["networkInterfaces"]) == 1 and "interfaceType" not in template["networkInterfaces"][0]
    assert "placement" not in template


def test_node_roles_hold_the_eks_policies(eks: Deployment) -> None:
    attached = {
        r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in eks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonEKS_CNI_Policy",
    } <= attached
    assert "AmazonEKSClusterPolicy" in attached


def test_helm_releases_are_pinned_with_our_values(eks: Deployment) -> None:
    plan = plan_cluster(example(), shipped_catalog())
    assert plan.kubernetes is not None
    releases = {r.inputs["name"]: r.inputs for r in eks.of_type(RELEASE)}
    assert (
        set(releases)
        == {r.name for r in plan.kubernetes.releases}
        == {"gpu-operator", "aws-efa-k8s-device-plugin"}
    )
    for release in plan.kubernetes.releases:
        got = releases[release.name]
        assert got["chart"] == release.chart
        assert got["version"] == release.version
        assert got["repositoryOpts"]["repo"] == release.repository
        assert got["namespace"] == release.namespace
        assert got["values"] == json.loads(json.dumps(helm_values(plan, release)))
    operator = releases["gpu-operator"]["values"]
    assert operator["driver"]["enabled"] is False and operator["toolkit"]["enabled"] is False


def test_helm_releases_wait_for_the_system_nodes_and_our_namespaces(eks: Deployment) -> None:
    system_ng = eks.named("eks-train-system-ng").urn
    namespaces = {r.urn for r in eks.of_type(NAMESPACE)}
    assert namespaces, "our namespaces are applied"
    for release in eks.of_type(RELEASE):
        assert system_ng in release.dependencies
        assert namespaces <= set(release.dependencies)
        assert "pulumi:providers:kubernetes::eks-train-eks-k8s::" in release.provider
    assert eks.of_type(CONFIG_MAP), "the NCCL settings of each pool are applied"


def test_the_kubeconfig_is_a_secret_that_uses_aws_eks_get_token(eks: Deployment) -> None:
    config = json.loads(eks.outputs["kubeconfig"])
    user = config["users"][0]["user"]["exec"]
    assert user["command"] == "aws" and user["args"][:2] == ["eks", "get-token"]
    assert config["clusters"][0]["cluster"]["server"].startswith("https://")


def test_public_endpoint_admins_spot_and_secrets_key() -> None:
    cluster = Cluster(
        name="eks-pub",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=1, capacity=CapacityKind.SPOT)],
        scheduler=Kubernetes(
            api_public_cidrs=["203.0.113.0/24"],
            admins=["arn:aws:iam::123456789012:role/platform"],
            protect=False,
        ),
        options=AwsOptions(kms_key_id=KEY_ARN),
    )
    d = deploy(cluster)
    vpc = d.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert d.one(CLUSTER).inputs["deletionProtection"] is False
    assert not d.one(CLUSTER).protect
    assert d.one(CLUSTER).inputs["encryptionConfig"]["provider"]["keyArn"] == KEY_ARN
    entry = d.one("aws:eks/accessEntry:AccessEntry").inputs
    assert entry["principalArn"] == "arn:aws:iam::123456789012:role/platform"
    policy = d.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation").inputs
    assert policy["policyArn"].endswith("AmazonEKSClusterAdminPolicy")
    gpu = d.named("eks-pub-gpu-ng").inputs
    assert gpu["capacityType"] == "SPOT"
    assert "instanceMarketOptions" not in d.named("eks-pub-gpu-lt").inputs, "EKS sets spot itself"
    assert d.named("eks-pub-gpu-lt").inputs["blockDeviceMappings"][0]["ebs"]["kmsKeyId"] == KEY_ARN


def test_capacity_blocks_are_bought_capacity(monkeypatch: Any) -> None:
    cluster = Cluster(
        name="eks-cb",
        provider="aws",
        region="us-east-1",
        pools=[
            NodePool(
                name="gpu",
                gpu="H100",
                nodes=2,
                capacity=CapacityKind.CAPACITY_BLOCK,
                reservation_id="cr-0123456789abcdef0",
                zone="us-east-1a",
            )
        ],
        scheduler=Kubernetes(api_public_cidrs=["203.0.113.0/24"]),
    )
    d = deploy(cluster)
    assert d.named("eks-cb-gpu-ng").inputs["capacityType"] == "CAPACITY_BLOCK"
    template = d.named("eks-cb-gpu-lt").inputs
    assert template["instanceMarketOptions"]["marketType"] == "capacity-block"
    target = template["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target["capacityReservationId"] == "cr-0123456789abcdef0"
    assert not d.of_type(PLACEMENT_GROUP), "AWS places a capacity block"
    assert "version" not in d.named("eks-cb-gpu-ng").inputs, "AWS asks to scale blocks to 0 to upgrade them"


def amd_catalog() -> Catalog:
    """The shipped catalog, plus an AMD shape on AWS (AWS sells none) and an AMD node image for EKS."""
    shipped = shipped_catalog()
    p5, managed = shipped.offer("aws", "p5.48xlarge"), shipped.managed_kubernetes("aws")
    assert p5 is not None and managed is not None
    amd = dataclasses.replace(p5, instance_type="test-mi300x.48xlarge", gpu="MI300X", nvswitch=False)
    managed = dataclasses.replace(managed, images={**managed.images, "amd": "TEST_AMD_IMAGE"})
    charts = [c for key in ("amd-gpu", "aws-efa-k8s-device-plugin") if (c := shipped.chart(key))]
    systems = [c for c in [shipped.cpu_shape("aws", "m7i.xlarge")] if c]
    images = [i for i in [shipped.image("aws", "ubuntu-22.04")] if i]
    return Catalog(
        shipped.gpus, [*shipped.offers, amd], shipped.cuda_min_driver, images, systems, [managed], charts
    )


def test_values_that_delete_a_chart_default_go_as_a_values_file() -> None:
    """AMD's chart selects nodes by an NFD label we do not install; our values delete that default with a
    null, which Pulumi's Python SDK would drop from `values`: such values go as a YAML file instead."""
    cluster = Cluster(
        name="eks-amd",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="amd", gpu="MI300X", nodes=1, instance_type="test-mi300x.48xlarge")],
        scheduler=Kubernetes(api_public_cidrs=["203.0.113.0/24"]),
    )
    catalog = amd_catalog()
    plan = plan_cluster(cluster, catalog)
    assert plan.ok, [f.render() for f in plan.findings]
    assert plan.kubernetes is not None
    release = plan.kubernetes.release("amd-gpu")
    assert release is not None and has_null(helm_values(plan, release))
    d = deploy(cluster, catalog=catalog)
    amd = next(r.inputs for r in d.of_type(RELEASE) if r.inputs["name"] == "amd-gpu")
    assert "values" not in amd or not amd["values"]
    files = amd["valueYamlFiles"]
    assert len(files) == 1 and isinstance(files[0], pulumi.StringAsset)
    assert yaml.safe_load(files[0].text) == helm_values(plan, release)
    assert "feature.node.kubernetes.io/pci-0300_1002.present: null" in files[0].text
    efa = next(r.inputs for r in d.of_type(RELEASE) if r.inputs["name"] == "aws-efa-k8s-device-plugin")
    assert efa["values"], "values without a null stay plain values (shown in the plan)"
