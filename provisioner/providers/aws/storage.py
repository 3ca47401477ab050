"""Shared storage: FSx for Lustre filesystems and S3 buckets (private, encrypted, protected by default)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from provisioner.bootstrap import LustreMount
from provisioner.providers.aws.common import (
    BUCKET_TYPE,
    FILESYSTEM_TYPE,
    add_sg_rules,
    child_opts,
    component_opts,
)
from provisioner.providers.aws.network import Network
from provisioner.providers.aws.plan import AwsPlan, BucketSpec, LustreSpec, child, tls_only_bucket_policy


class SharedFilesystem(pulumi.ComponentResource):
    """An FSx for Lustre filesystem in the nodes' subnet, with a security group that admits only the nodes."""

    spec: LustreSpec
    filesystem: aws.fsx.LustreFileSystem
    security_group: aws.ec2.SecurityGroup

    def __init__(
        self, spec: AwsPlan, fs: LustreSpec, network: Network, provider: aws.Provider, parent: pulumi.Resource
    ) -> None:
        super().__init__(FILESYSTEM_TYPE, fs.resource_name, None, component_opts(parent, provider))
        self.spec = fs
        rules = self._security_group(spec, network, provider)
        self.filesystem = aws.fsx.LustreFileSystem(
            child(fs.resource_name, "fs"),
            deployment_type=fs.deployment_type,
            storage_capacity=fs.storage_capacity,
            per_unit_storage_throughput=fs.per_unit_storage_throughput,
            subnet_ids=network.private_subnet_id,  # pulumi_aws 7: one subnet id (FSx takes one)
            security_group_ids=[self.security_group.id],
            kms_key_id=fs.kms_key_id,
            data_compression_type=fs.data_compression_type,
            file_system_type_version=fs.file_system_type_version,
            copy_tags_to_backups=True,
            tags={**spec.tags, "Name": child(spec.cluster, fs.name)},
            # The rules first: FSx checks at creation that its security group admits Lustre traffic.
            opts=child_opts(self, provider, protect=fs.protect, depends_on=rules),
        )
        self.register_outputs(
            {"dns_name": self.filesystem.dns_name, "mount_name": self.filesystem.mount_name}
        )

    def _security_group(
        self, spec: AwsPlan, network: Network, provider: aws.Provider
    ) -> list[pulumi.CustomResource]:
        """The filesystem's own group (Lustre ports from the nodes and itself), and the nodes' rules that
        accept the servers' connections. Returns the rules, which must exist before the filesystem."""
        fs = self.spec
        sg_name = child(fs.resource_name, "sg")
        self.security_group = aws.ec2.SecurityGroup(
            sg_name,
            vpc_id=network.vpc_id,
            description=f"FSx for Lustre {fs.name} of cluster {spec.cluster}",
            revoke_rules_on_delete=True,
            tags=spec.tags,
            opts=child_opts(self, provider),
        )
        cluster_sg = network.security_group.id
        own = {"cluster": cluster_sg}
        rules = add_sg_rules(self, sg_name, self.security_group.id, fs.sg_rules, own, spec.tags, provider)
        peers = {fs.sg_key: self.security_group.id}
        client = child(fs.resource_name, "client")
        return rules + add_sg_rules(self, client, cluster_sg, fs.client_rules, peers, spec.tags, provider)

    def mount(self) -> pulumi.Output[LustreMount]:
        mount_point = self.spec.mount_point
        return pulumi.Output.all(self.filesystem.dns_name, self.filesystem.mount_name).apply(
            lambda values: LustreMount(str(values[0]), str(values[1]), mount_point)
        )


def lustre_mounts(filesystems: Sequence[SharedFilesystem]) -> pulumi.Output[list[LustreMount]]:
    return pulumi.Output.all(*(fs.mount() for fs in filesystems)).apply(list)


class ClusterBucket(pulumi.ComponentResource):
    """A private S3 bucket: public access blocked, owner-enforced, encrypted, TLS only, versioned if asked."""

    spec: BucketSpec
    bucket: aws.s3.Bucket

    def __init__(
        self, spec: AwsPlan, item: BucketSpec, provider: aws.Provider, parent: pulumi.Resource
    ) -> None:
        super().__init__(BUCKET_TYPE, item.resource_name, None, component_opts(parent, provider))
        self.spec = item
        name, opts = item.resource_name, child_opts(self, provider)
        self.bucket = aws.s3.Bucket(
            child(name, "bucket"),
            bucket_prefix=item.bucket_prefix,
            force_destroy=False,
            tags=spec.tags,
            opts=child_opts(self, provider, protect=item.protect),
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            child(name, "public-access"),
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        aws.s3.BucketOwnershipControls(
            child(name, "ownership"),
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts,
        )
        self._encryption(item, opts)
        if item.versioning:  # turning it off later deletes this resource, which suspends versioning
            aws.s3.BucketVersioning(
                child(name, "versioning"),
                bucket=self.bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=opts,
            )
        aws.s3.BucketPolicy(
            child(name, "tls-only"),
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
            # One bucket-configuration call at a time: S3 answers concurrent ones with OperationAborted.
            opts=child_opts(self, provider, depends_on=[public_access]),
        )
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})

    def _encryption(self, item: BucketSpec, opts: pulumi.ResourceOptions) -> None:
        by_default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm=item.sse_algorithm, kms_master_key_id=item.kms_key_id
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            child(item.resource_name, "encryption"),
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=by_default,
                    bucket_key_enabled=item.kms_key_id is not None,
                )
            ],
            opts=opts,
        )
