"""What a change to a recorded resource does in the cloud, as data: which inputs force a replacement, and
which resources hold data (stateful) or GPUs (expensive).

A plan records inputs, not the provider's schema, so `provisioner diff` cannot ask Pulumi whether an update
replaces. The table below says it instead, per resource type. It follows the `ForceNew` attributes of the
Terraform providers that the bridged Pulumi providers are generated from (pulumi-aws 7 / terraform-provider-
aws 6, pulumi-gcp 8+ / terraform-provider-google 6), limited to the inputs our emitters set or could set, and
our own dynamic providers' `diff` (`providers/rest/dynamic.py`, `volume.py`). Where the upstream behaviour is
in place it is left out on purpose, e.g. a new launch template version never replaces an auto scaling group,
a GKE node pool's machine type and disk are changed in place (a rolling node upgrade), an FSx for Lustre
file system grows and changes its throughput in place. A type missing here is never reported as replaced:
the diff says so in its legend rather than guess.

The REST tuples are mirrored, not imported: those modules import Pulumi and this layer must not (a test
asserts the copies are equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class When(StrEnum):
    """When a change of the input at `path` forces a replacement."""

    CHANGE = "change"
    """Any change (added, removed or a new value)."""
    DECREASE = "decrease"
    """Only a smaller number (a file system cannot shrink in place, it grows)."""
    DROP = "drop"
    """Only when the new list lacks an item of the old one (a REST pool keeps running in a region that is
    still allowed: new fallback regions move nothing)."""
    FLAG = "flag"
    """Only when the resource's boolean input named by `flag` is true (EC2 `userDataReplaceOnChange`)."""


@dataclass(frozen=True, slots=True)
class ReplaceRule:
    path: str
    """Input path: a top-level key, a dotted path into nested maps (`nodeConfig.guestAccelerators`), or '*'
    (every input: the resource is immutable)."""
    when: When = When.CHANGE
    flag: str | None = None


def _rules(*paths: str) -> tuple[ReplaceRule, ...]:
    return tuple(ReplaceRule(p) for p in paths)


REST_POOL = "provisioner:rest:Pool"
"""Kind given to a `pulumi-python:dynamic:Resource` that is one of our REST pools (its inputs have `pool`)."""
REST_VOLUME = "provisioner:rest:Volume"
"""Kind given to a dynamic resource that is one of our REST volumes (its inputs have `kind`, no `count`)."""

REST_POOL_REPLACES = (
    "pool",
    "owner",
    "instance_type",
    "regions",
    "ssh_key",
    "file_systems",
    "provider",
    "project_id",
    "image",
    "ib_partition",
    "disks",
)
"""Mirror of `providers.rest.dynamic.REPLACES`."""
REST_VOLUME_REPLACES = ("name", "region", "kind", "provider")
"""Mirror of `providers.rest.volume.REPLACES`."""

_FSX_LUSTRE = (
    *_rules(
        "deploymentType",
        "subnetIds",
        "securityGroupIds",
        "storageType",
        "kmsKeyId",
        "fileSystemTypeVersion",
        "copyTagsToBackups",
        "driveCacheType",
        "efaEnabled",
        "importPath",
        "exportPath",
        "importedFileChunkSize",
        "backupId",
    ),
    ReplaceRule("storageCapacity", When.DECREASE),
)

REPLACES: Mapping[str, tuple[ReplaceRule, ...]] = {
    # AWS: storage
    "aws:fsx/lustreFileSystem:LustreFileSystem": _FSX_LUSTRE,
    "aws:s3/bucket:Bucket": _rules("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:s3/bucketV2:BucketV2": _rules("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:ebs/volume:Volume": (*_rules("availabilityZone", "encrypted", "kmsKeyId", "snapshotId"),),
    # AWS: compute (a launch template change makes a new version: the group is updated, not replaced)
    "aws:autoscaling/group:Group": _rules("name", "namePrefix"),
    "aws:ec2/launchTemplate:LaunchTemplate": _rules("name", "namePrefix"),
    "aws:ec2/placementGroup:PlacementGroup": _rules("name", "strategy", "partitionCount", "spreadLevel"),
    "aws:ec2/instance:Instance": (
        *_rules(
            "ami",
            "availabilityZone",
            "subnetId",
            "privateIp",
            "associatePublicIpAddress",
            "keyName",
            "placementGroup",
            "tenancy",
            "ebsBlockDevices",
            "ephemeralBlockDevices",
            "networkInterfaces",
            "rootBlockDevice.encrypted",
            "rootBlockDevice.kmsKeyId",
            "securityGroups",
        ),
        ReplaceRule("userData", When.FLAG, "userDataReplaceOnChange"),
        ReplaceRule("userDataBase64", When.FLAG, "userDataReplaceOnChange"),
    ),
    "aws:eks/cluster:Cluster": _rules(
        "name",
        "roleArn",
        "kubernetesNetworkConfig",
        "outpostConfig",
        "bootstrapSelfManagedAddons",
        "accessConfig.bootstrapClusterCreatorAdminPermissions",
    ),
    "aws:eks/nodeGroup:NodeGroup": _rules(
        "amiType",
        "capacityType",
        "clusterName",
        "diskSize",
        "instanceTypes",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "remoteAccess",
        "subnetIds",
        "launchTemplate.id",
        "launchTemplate.name",
    ),
    # AWS: network and identity (replacing them is routine, but it shows in the counts)
    "aws:ec2/vpc:Vpc": _rules("cidrBlock", "instanceTenancy"),
    "aws:ec2/subnet:Subnet": _rules("vpcId", "cidrBlock", "availabilityZone"),
    "aws:ec2/securityGroup:SecurityGroup": _rules("name", "namePrefix", "vpcId", "description"),
    "aws:ec2/eip:Eip": _rules("domain"),
    "aws:ec2/natGateway:NatGateway": _rules("subnetId", "allocationId", "connectivityType"),
    "aws:ec2/route:Route": _rules("routeTableId", "destinationCidrBlock"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _rules("subnetId", "gatewayId"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _rules("vpcId", "serviceName", "vpcEndpointType"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _rules("securityGroupId"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _rules("securityGroupId"),
    "aws:iam/role:Role": _rules("name", "namePrefix", "path"),
    "aws:iam/instanceProfile:InstanceProfile": _rules("name", "namePrefix", "path"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _rules("role", "policyArn"),
    "aws:iam/rolePolicy:RolePolicy": _rules("name", "namePrefix", "role"),
    "aws:cloudwatch/logGroup:LogGroup": _rules("name", "namePrefix"),
    "aws:secretsmanager/secret:Secret": _rules("name", "namePrefix"),
    "aws:ssm/parameter:Parameter": _rules("name"),
    "pulumi:providers:aws": _rules("region"),
    # Google Cloud
    "gcp:filestore/instance:Instance": _rules(
        "name", "project", "location", "zone", "tier", "networks", "kmsKeyName", "protocol", "fileShares.name"
    ),
    "gcp:lustre/instance:Instance": _rules(
        "instanceId", "project", "location", "network", "filesystem", "perUnitStorageThroughput", "kmsKey"
    ),
    "gcp:storage/bucket:Bucket": _rules("name", "project", "location"),
    "gcp:compute/disk:Disk": _rules("name", "project", "zone", "type", "image", "snapshot"),
    "gcp:compute/instanceTemplate:InstanceTemplate": (ReplaceRule("*"),),
    "gcp:compute/instanceGroupManager:InstanceGroupManager": _rules(
        "name", "project", "zone", "baseInstanceName"
    ),
    "gcp:compute/instance:Instance": _rules(
        "name", "project", "zone", "bootDisk", "scratchDisks", "reservationAffinity", "hostname"
    ),
    "gcp:container/cluster:Cluster": _rules(
        "name",
        "project",
        "location",
        "network",
        "subnetwork",
        "ipAllocationPolicy",
        "networkingMode",
        "enableMultiNetworking",
        "datapathProvider",
        "initialNodeCount",
        "nodeConfig",
        "privateClusterConfig.enablePrivateEndpoint",
        "privateClusterConfig.masterIpv4CidrBlock",
    ),
    "gcp:container/nodePool:NodePool": _rules(
        "name",
        "namePrefix",
        "project",
        "cluster",
        "location",
        "initialNodeCount",
        "maxPodsPerNode",
        "placementPolicy",
        "queuedProvisioning",
        "networkConfig.additionalNodeNetworkConfigs",
        "networkConfig.additionalPodNetworkConfigs",
        "networkConfig.podRange",
        "networkConfig.createPodRange",
        "nodeConfig.guestAccelerators",
        "nodeConfig.localSsdCount",
        "nodeConfig.ephemeralStorageLocalSsdConfig",
        "nodeConfig.localNvmeSsdBlockConfig",
        "nodeConfig.reservationAffinity",
        "nodeConfig.spot",
        "nodeConfig.preemptible",
        "nodeConfig.serviceAccount",
        "nodeConfig.oauthScopes",
        "nodeConfig.minCpuPlatform",
        "nodeConfig.shieldedInstanceConfig",
        "nodeConfig.metadata",
        "nodeConfig.bootDiskKmsKey",
    ),
    "gcp:compute/network:Network": _rules("name", "project", "autoCreateSubnetworks"),
    "gcp:compute/subnetwork:Subnetwork": _rules("name", "project", "network", "region"),
    "gcp:compute/firewall:Firewall": _rules("name", "project", "network", "direction"),
    "gcp:compute/router:Router": _rules("name", "project", "network", "region"),
    "gcp:compute/routerNat:RouterNat": _rules("name", "project", "router", "region"),
    "gcp:serviceaccount/account:Account": _rules("accountId", "project"),
    "pulumi:providers:gcp": _rules("project"),
    # Others
    "random:index/randomPassword:RandomPassword": (ReplaceRule("*"),),
    "random:index/randomBytes:RandomBytes": (ReplaceRule("*"),),
    "kubernetes:helm.sh/v3:Release": _rules("name", "namespace"),
    "kubernetes:core/v1:Namespace": _rules("metadata.name"),
    "kubernetes:core/v1:ConfigMap": _rules("metadata.name", "metadata.namespace"),
    # our REST clouds (Lambda, Crusoe, ...)
    REST_POOL: (
        *_rules(*(k for k in REST_POOL_REPLACES if k != "regions")),
        ReplaceRule("regions", When.DROP),
    ),
    REST_VOLUME: _rules(*REST_VOLUME_REPLACES),
}
"""Resource kind -> the inputs whose change replaces it."""

STATEFUL_KINDS = frozenset(
    {
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:ebs/volume:Volume",
        "aws:efs/fileSystem:FileSystem",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:dynamodb/table:Table",
        "aws:eks/cluster:Cluster",
        "gcp:filestore/instance:Instance",
        "gcp:lustre/instance:Instance",
        "gcp:storage/bucket:Bucket",
        "gcp:compute/disk:Disk",
        "gcp:sql/databaseInstance:DatabaseInstance",
        "gcp:container/cluster:Cluster",
        REST_VOLUME,
    }
)
"""Kinds whose deletion loses data (a Kubernetes control plane counts: its etcd is the cluster's state).
Any resource the program protects (`protect=True`) is treated as stateful too."""

GPU_GROUP_KINDS = frozenset(
    {
        "aws:autoscaling/group:Group",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:ec2/instance:Instance",
        "gcp:compute/instanceGroupManager:InstanceGroupManager",
        "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
        "gcp:compute/instance:Instance",
        "gcp:container/nodePool:NodePool",
        REST_POOL,
    }
)
"""Kinds that run machines. One is a GPU group (expensive) when it belongs to a plan pool with GPUs."""

GPU_TEMPLATE_KINDS = frozenset(
    {
        "aws:ec2/launchTemplate:LaunchTemplate",
        "gcp:compute/instanceTemplate:InstanceTemplate",
        "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate",
    }
)
"""What a GPU group's nodes are made from: changing what a node is (shape, image, boot) rolls every node of
the group (terminated and launched again) even though the template itself is only updated."""
ROLLING_KEYS = ("instanceType", "imageId", "userData", "machineType", "sourceImage", "disks", "metadata")
"""Template inputs (dotted-path heads) whose change replaces the group's running nodes."""
SIZE_KEYS = ("desiredCapacity", "minSize", "targetSize", "nodeCount", "count", "scalingConfig.desiredSize")
"""A GPU group's size: a smaller one terminates running nodes."""

DYNAMIC = "pulumi-python:dynamic:Resource"


def resource_kind(resource: Mapping[str, Any]) -> str:
    """The resource's type, except for our dynamic resources, which all share one Pulumi type: they are
    told apart by their inputs (a pool has `pool` and `count`, a volume `kind`)."""
    kind = str(resource.get("type", ""))
    if kind != DYNAMIC:
        return kind
    inputs = resource.get("inputs") or {}
    if "pool" in inputs and "count" in inputs:
        return REST_POOL
    if "kind" in inputs and "count" not in inputs:
        return REST_VOLUME
    return kind
