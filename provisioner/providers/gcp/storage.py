"""Shared storage on Google Cloud: Filestore (NFS), Managed Lustre and Cloud Storage buckets. Private,
encrypted (Google-managed keys, or the declared CMEK key), protected from deletion by default."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from provisioner.bootstrap import LustreMount
from provisioner.bootstrap.mounts import NfsMount
from provisioner.providers.gcp.common import (
    BUCKET_TYPE,
    FILESYSTEM_TYPE,
    child_opts,
    component_opts,
    project_id,
)
from provisioner.providers.gcp.identity import Identity
from provisioner.providers.gcp.network import Network
from provisioner.providers.gcp.plan import child
from provisioner.providers.gcp.specs import BUCKET_ROLE, BucketSpec, FilestoreSpec, GcpPlan, LustreSpec


@dataclass(frozen=True)
class SharedMounts:
    """What the nodes mount, known once the filesystems exist."""

    lustre: list[LustreMount] = field(default_factory=list)
    nfs: list[NfsMount] = field(default_factory=list)


class Filestore(pulumi.ComponentResource):
    """A Filestore instance on the host network, its share exported read-write to the nodes' subnet only."""

    spec: FilestoreSpec
    instance: gcp.filestore.Instance

    def __init__(
        self,
        spec: GcpPlan,
        fs: FilestoreSpec,
        network: Network,
        provider: gcp.Provider,
        parent: pulumi.Resource,
    ) -> None:
        super().__init__(FILESYSTEM_TYPE, child(spec.name, fs.key), None, component_opts(parent, provider))
        self.spec = fs
        self.instance = gcp.filestore.Instance(
            child(spec.name, fs.key, "filestore"),
            name=fs.name,
            project=spec.project,
            location=fs.location,
            tier=fs.tier,
            file_shares=gcp.filestore.InstanceFileSharesArgs(
                name=fs.share,
                capacity_gb=fs.capacity_gib,
                nfs_export_options=[
                    gcp.filestore.InstanceFileSharesNfsExportOptionArgs(
                        ip_ranges=[spec.network.host_cidr],
                        access_mode="READ_WRITE",
                        # root on the nodes creates the users' home folders
                        squash_mode="NO_ROOT_SQUASH",
                    )
                ],
            ),
            networks=[
                gcp.filestore.InstanceNetworkArgs(
                    network=network.network_name.apply(lambda n: n.rsplit("/", 1)[-1]),
                    modes=["MODE_IPV4"],
                    connect_mode="DIRECT_PEERING",
                )
            ],
            kms_key_name=spec.kms_key,
            deletion_protection_enabled=fs.protect,
            deletion_protection_reason="provisioner: protected shared storage" if fs.protect else None,
            labels=spec.labels,
            opts=child_opts(self, provider, protect=fs.protect),
        )
        self.register_outputs({"address": self.address})

    @property
    def address(self) -> pulumi.Output[str]:
        return self.instance.networks.apply(lambda nets: str((nets[0].ip_addresses or [""])[0]))

    def mount(self) -> pulumi.Output[NfsMount]:
        share, point = self.spec.share, self.spec.mount_point
        return self.address.apply(lambda ip: NfsMount(ip, f"/{share}", point))


class ManagedLustre(pulumi.ComponentResource):
    """A Managed Lustre instance, reached through the host network's private services access."""

    spec: LustreSpec
    instance: gcp.lustre.Instance

    def __init__(
        self, spec: GcpPlan, fs: LustreSpec, network: Network, provider: gcp.Provider, parent: pulumi.Resource
    ) -> None:
        super().__init__(FILESYSTEM_TYPE, child(spec.name, fs.key), None, component_opts(parent, provider))
        self.spec = fs
        project = project_id(provider, self, spec.project)
        vpc = pulumi.Output.all(project, network.network_name).apply(
            lambda v: f"projects/{v[0]}/global/networks/{v[1].rsplit('/', 1)[-1]}"
        )
        depends = [network.private_services] if network.private_services else []
        self.instance = gcp.lustre.Instance(
            child(spec.name, fs.key, "lustre"),
            instance_id=fs.instance_id,
            project=spec.project,
            location=fs.zone,
            filesystem=fs.filesystem,
            capacity_gib=str(fs.capacity_gib),
            per_unit_storage_throughput=str(fs.throughput_mb_per_tib),
            network=vpc,
            gke_support_enabled=fs.gke_support,
            kms_key=spec.kms_key,
            deletion_policy="PREVENT" if fs.protect else "DELETE",
            labels=spec.labels,
            opts=child_opts(self, provider, protect=fs.protect, depends_on=depends),
        )
        self.register_outputs({"mount_point": self.instance.mount_point})

    def mount(self) -> pulumi.Output[LustreMount]:
        point, name = self.spec.mount_point, self.spec.filesystem
        # the instance reports its mount point as 'IP@tcp:/FSNAME'
        return self.instance.mount_point.apply(lambda text: LustreMount(text.split("@", 1)[0], name, point))


class ClusterBucket(pulumi.ComponentResource):
    """A bucket with uniform access, public access prevented and versioning; the nodes may use its objects
    (roles/storage.objectUser on this bucket only), never change the bucket itself."""

    spec: BucketSpec
    bucket: gcp.storage.Bucket

    def __init__(
        self,
        spec: GcpPlan,
        item: BucketSpec,
        identity: Identity,
        provider: gcp.Provider,
        parent: pulumi.Resource,
    ) -> None:
        super().__init__(BUCKET_TYPE, child(spec.name, item.key), None, component_opts(parent, provider))
        self.spec = item
        self.bucket = gcp.storage.Bucket(
            item.name_prefix,
            project=spec.project,
            location=item.location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=item.versioning),
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=item.kms_key)
            if item.kms_key
            else None,
            force_destroy=False,
            labels=spec.labels,
            opts=child_opts(self, provider, protect=item.protect),
        )
        self.access = gcp.storage.BucketIAMMember(
            child(spec.name, item.key, "nodes"),
            bucket=self.bucket.name,
            role=BUCKET_ROLE,
            member=identity.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=child_opts(self, provider),
        )
        self.register_outputs({"name": self.bucket.name, "url": self.bucket.url})


def shared_mounts(
    filestores: Sequence[Filestore], lustres: Sequence[ManagedLustre]
) -> pulumi.Output[SharedMounts]:
    nfs = [fs.mount() for fs in filestores]
    lustre = [fs.mount() for fs in lustres]
    return pulumi.Output.all(pulumi.Output.all(*lustre), pulumi.Output.all(*nfs)).apply(
        lambda values: SharedMounts(list(values[0]), list(values[1]))
    )
