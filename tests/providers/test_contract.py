"""The provider contract: every registered provider, planned and emitted offline, keeps the same promises.

For each provider of the registry (`provisioner.providers.base.all_providers()`) whose emitter exists, a
reference declaration (two nodes of the catalog's H100 shape, the cluster's tags; variants with Slurm and a
login node, with the shared filesystems and bucket the provider supports, with a customer KMS key, with SSH
ranges, with a second pool) is planned and emitted under the fake cloud of `provisioner plan`, and checked:

1. names start with the cluster name; URNs are stable across emits and when a pool is added;
2. one explicit provider with the declared region/project carries every cloud resource, and every taggable
   resource has the cluster's tags (its own or the provider's defaults);
3. nothing is open to the internet, SSH only from declared ranges;
4. disks, filesystems and buckets are encrypted (with the declared customer key when there is one);
5. the metadata service and boot metadata are hardened;
6. no generated secret is in any input but the secret store's, and nodes name secrets by id/ARN;
7. filesystems and buckets are protected;
8. least privilege (no wildcard IAM, no default or basic-role service accounts);
9. GPU nodes come as groups, never one billed instance per node.

What differs between clouds is one `ProviderContract` entry per provider in `CONTRACTS` below: a provider that
is registered without one fails `test_every_registered_provider_has_a_contract`. The checkers
(contract_checks.py) are tested against doctored recordings at the end of this module, so that each check is
known to fail when the contract is broken.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from contract_checks import (
    CHECKS,
    Context,
    Ingress,
    Problems,
    ProviderContract,
    as_list,
    as_mapping,
    check_same_urns,
    check_urns_kept,
    machines,
    policy_documents,
    report,
    stateful,
    truthy,
    unsecret,
    wildcard_statements,
)
from contract_harness import DYNAMIC, Recording, Resource, emit, planned

from provisioner.catalog import shipped_catalog
from provisioner.catalog.select import Selection, select_offer
from provisioner.component import COMPONENT_TYPE
from provisioner.program.mocks import fake_outputs
from provisioner.providers.base import Capability, MissingSdkError, ProviderInfo, all_providers
from provisioner.spec import (
    AwsOptions,
    Bucket,
    Cluster,
    CrusoeOptions,
    GcpOptions,
    LambdaOptions,
    Lustre,
    Network,
    Nfs,
    NodePool,
    Severity,
    Slurm,
    SlurmLogin,
)
from provisioner.spec.options import ProviderOptions

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_gcp.*")
"""pulumi_gcp warns about its own deprecated classes as its modules load; not ours."""

CLUSTER = "ref"
TAGS = {"team": "research", "cost-center": "ml-42"}
"""Tags that are valid labels on every cloud (lowercase, short)."""
SSH_RANGE = "203.0.113.0/24"
GPU = "H100"


# --- AWS ---------------------------------------------------------------------------------------------------

AWS_KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
AWS_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_BUCKETS = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
AWS_BUCKET_SSE = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
AWS_FILESYSTEMS = frozenset(
    {
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        "aws:fsx/openZfsFileSystem:OpenZfsFileSystem",
        "aws:efs/fileSystem:FileSystem",
    }
)
AWS_ADMIN_POLICIES = frozenset(
    f"arn:aws:iam::aws:policy/{name}" for name in ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
)
AWS_POLICY_TYPES = frozenset(
    {
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/policy:Policy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
        "aws:s3/bucketPolicy:BucketPolicy",
    }
)


def _aws_protocol(value: Any) -> str:
    text = str(value if value is not None else "-1").lower()
    return {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}.get(text, text)


def _aws_ports(rule: dict[str, Any], protocol: str) -> tuple[tuple[int, int], ...] | None:
    if protocol == "all" or rule.get("fromPort") is None:
        return None
    low, high = int(rule["fromPort"]), int(rule.get("toPort", rule["fromPort"]))
    return None if low < 0 else ((low, high),)


def _aws_rule(name: str, rule: dict[str, Any], cidrs: Iterable[Any], protocol_key: str) -> Ingress:
    protocol = _aws_protocol(rule.get(protocol_key))
    return Ingress(name, tuple(str(c) for c in cidrs if c), protocol, _aws_ports(rule, protocol))


def aws_ingress(r: Resource) -> list[Ingress]:
    i = r.inputs
    if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        return [_aws_rule(r.name, i, [i.get("cidrIpv4"), i.get("cidrIpv6")], "ipProtocol")]
    if r.type == "aws:ec2/securityGroupRule:SecurityGroupRule" and i.get("type") == "ingress":
        cidrs = as_list(i.get("cidrBlocks")) + as_list(i.get("ipv6CidrBlocks"))
        return [_aws_rule(r.name, i, cidrs, "protocol")]
    if r.type == "aws:ec2/securityGroup:SecurityGroup":
        return [
            _aws_rule(r.name, x, as_list(x.get("cidrBlocks")) + as_list(x.get("ipv6CidrBlocks")), "protocol")
            for x in map(as_mapping, as_list(i.get("ingress")))
        ]
    return []


def aws_hardening(r: Resource, ctx: Context) -> Problems:
    problems = []
    metadata = as_mapping(r.inputs.get("metadataOptions"))
    if metadata.get("httpTokens") != "required":
        problems.append(
            f"{r.type} {r.name!r}: IMDSv2 not required (metadataOptions.httpTokens = "
            f"{metadata.get('httpTokens')!r}, want 'required')"
        )
    if not ctx.cluster.network.public_ips:
        nics = [as_mapping(n) for n in as_list(r.inputs.get("networkInterfaces"))]
        if any(truthy(n.get("associatePublicIpAddress")) for n in nics) or truthy(
            r.inputs.get("associatePublicIpAddress")
        ):
            problems.append(f"{r.type} {r.name!r}: a public IP address, and the declaration asked for none")
    return problems


def _aws_volume(owner: Resource, what: str, volume: dict[str, Any], ctx: Context) -> Problems:
    if not truthy(volume.get("encrypted")):
        return [
            f"{owner.type} {owner.name!r}: {what} is not encrypted (encrypted = {volume.get('encrypted')!r})"
        ]
    if ctx.kms_key and volume.get("kmsKeyId") != ctx.kms_key:
        return [
            f"{owner.type} {owner.name!r}: {what} uses key {volume.get('kmsKeyId')!r}, not {ctx.kms_key!r}"
        ]
    return []


def _aws_bucket_encryption(bucket: Resource, rec: Recording, ctx: Context) -> Problems:
    bucket_id, _ = fake_outputs(bucket.type, bucket.name, bucket.inputs, ctx.cluster.region)
    configs = [r for r in rec if r.type in AWS_BUCKET_SSE and r.inputs.get("bucket") == bucket_id]
    rules = [as_mapping(x) for c in configs for x in as_list(c.inputs.get("rules"))]
    rules += [
        as_mapping(x)
        for x in as_list(as_mapping(bucket.inputs.get("serverSideEncryptionConfiguration")).get("rule"))
    ]
    defaults = [as_mapping(x.get("applyServerSideEncryptionByDefault")) for x in rules]
    if not any(d.get("sseAlgorithm") in ("AES256", "aws:kms", "aws:kms:dsse") for d in defaults):
        return [f"{bucket.type} {bucket.name!r}: no default server-side encryption configured for it"]
    if ctx.kms_key and not any(d.get("kmsMasterKeyId") == ctx.kms_key for d in defaults):
        return [f"{bucket.type} {bucket.name!r}: its default encryption does not use {ctx.kms_key!r}"]
    return []


def aws_encryption(r: Resource, rec: Recording, ctx: Context) -> Problems:
    i = r.inputs
    if r.type == AWS_LAUNCH_TEMPLATE:
        mappings = [as_mapping(m) for m in as_list(i.get("blockDeviceMappings"))]
        if not mappings:
            return [
                f"{r.type} {r.name!r}: no block device mapping; its root volume takes the image's setting"
            ]
        return [
            p
            for m in mappings
            for p in _aws_volume(r, f"volume {m.get('deviceName')!r}", as_mapping(m.get("ebs")), ctx)
        ]
    if r.type == AWS_INSTANCE:
        problems = _aws_volume(r, "its root volume", as_mapping(i.get("rootBlockDevice")), ctx)
        for extra in map(as_mapping, as_list(i.get("ebsBlockDevices"))):
            problems += _aws_volume(r, f"volume {extra.get('deviceName')!r}", extra, ctx)
        return problems
    if r.type == "aws:ebs/volume:Volume":
        return _aws_volume(r, "the volume", dict(i), ctx)
    if r.type in AWS_FILESYSTEMS:  # FSx and EFS encrypt at rest; with a key declared, with that key
        if r.type == "aws:efs/fileSystem:FileSystem" and not truthy(i.get("encrypted")):
            return [f"{r.type} {r.name!r}: not encrypted"]
        if ctx.kms_key and i.get("kmsKeyId") != ctx.kms_key:
            return [f"{r.type} {r.name!r}: kmsKeyId is {i.get('kmsKeyId')!r}, not {ctx.kms_key!r}"]
        return []
    if r.type in AWS_BUCKETS:
        return _aws_bucket_encryption(r, rec, ctx)
    return []


def aws_privilege(r: Resource, ctx: Context) -> Problems:
    i = r.inputs
    docs: list[Any] = []
    if r.type in AWS_POLICY_TYPES:
        docs.append(i.get("policy"))
    if r.type == "aws:iam/role:Role":
        docs += [
            i.get("assumeRolePolicy"),
            *(as_mapping(p).get("policy") for p in as_list(i.get("inlinePolicies"))),
        ]
    problems = [
        f"{r.type} {r.name!r}: {finding}"
        for value in docs
        for doc in policy_documents(value)
        for finding in wildcard_statements(doc)
    ]
    arns = [i.get("policyArn")] if r.type.startswith("aws:iam/") else []
    arns += as_list(i.get("managedPolicyArns")) if r.type == "aws:iam/role:Role" else []
    problems += [f"{r.type} {r.name!r}: attaches {arn}" for arn in arns if arn in AWS_ADMIN_POLICIES]
    return problems


AWS = ProviderContract(
    package="aws",
    region="us-east-1",
    options=lambda kms: AwsOptions(kms_key_id=kms),
    kms_key=AWS_KMS,
    tag_field="tags",
    default_tags=lambda inputs: dict(as_mapping(inputs.get("defaultTags")).get("tags") or {}),
    defaults_skip=frozenset({"aws:autoscaling/group:Group"}),  # default_tags do not reach ASGs
    provider_settings=lambda cluster: {"region": cluster.region},
    ingress=aws_ingress,
    machine_types=frozenset({AWS_LAUNCH_TEMPLATE, AWS_INSTANCE}),
    hardening=aws_hardening,
    encryption=aws_encryption,
    filesystem_types=AWS_FILESYSTEMS,
    bucket_types=AWS_BUCKETS,
    deletion_protected=lambda r: False,
    secret_types=frozenset({"aws:secretsmanager/secret:Secret"}),
    secret_holders=frozenset({"aws:secretsmanager/secretVersion:SecretVersion"}),
    privilege=aws_privilege,
    group_types=frozenset(
        {
            "aws:autoscaling/group:Group",
            "aws:ec2/fleet:Fleet",
            "aws:ec2/spotFleetRequest:SpotFleetRequest",
            "aws:eks/nodeGroup:NodeGroup",
        }
    ),
    instance_types=frozenset({AWS_INSTANCE, "aws:ec2/spotInstanceRequest:SpotInstanceRequest"}),
    shape=lambda r: r.inputs.get("instanceType"),
)


# --- Google Cloud ------------------------------------------------------------------------------------------

GCP_PROJECT = "contract-project-1"
GCP_KMS = "projects/contract-project-1/locations/us-central1/keyRings/ring/cryptoKeys/key"
GCP_TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
GCP_INSTANCE = "gcp:compute/instance:Instance"
GCP_SECURE_METADATA = {
    "enable-oslogin": "TRUE",
    "block-project-ssh-keys": "TRUE",
    "serial-port-enable": "FALSE",
}
"""provisioner/providers/gcp/compute_plan.py SECURE_METADATA, written out: the contract, not the code."""
GCP_IAM_TYPES = frozenset(
    {
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:storage/bucketIAMBinding:BucketIAMBinding",
        "gcp:secretmanager/secretIamMember:SecretIamMember",
        "gcp:serviceaccount/iAMMember:IAMMember",
    }
)
GCP_BASIC_ROLES = frozenset({"roles/owner", "roles/editor"})
GCP_PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})


def _gcp_ports(allow: dict[str, Any]) -> tuple[tuple[int, int], ...] | None:
    ports = as_list(allow.get("ports"))
    if not ports:
        return None
    ranges = []
    for port in map(str, ports):
        low, _, high = port.partition("-")
        ranges.append((int(low), int(high or low)))
    return tuple(ranges)


def gcp_ingress(r: Resource) -> list[Ingress]:
    i = r.inputs
    if r.type != "gcp:compute/firewall:Firewall" or truthy(i.get("disabled")):
        return []
    if str(i.get("direction") or "INGRESS").upper() != "INGRESS":
        return []
    cidrs = [str(c) for c in as_list(i.get("sourceRanges"))]
    if not cidrs and not i.get("sourceTags") and not i.get("sourceServiceAccounts"):
        cidrs = ["0.0.0.0/0"]  # Google's default source of an ingress rule that names none
    return [
        Ingress(r.name, tuple(cidrs), str(a.get("protocol", "all")).lower(), _gcp_ports(a))
        for a in map(as_mapping, as_list(i.get("allows")))
    ]


def gcp_hardening(r: Resource, ctx: Context) -> Problems:
    problems = []
    metadata = as_mapping(r.inputs.get("metadata"))
    for key, want in GCP_SECURE_METADATA.items():
        if metadata.get(key) != want:
            problems.append(f"{r.type} {r.name!r}: metadata {key} is {metadata.get(key)!r}, want {want!r}")
    shielded = as_mapping(r.inputs.get("shieldedInstanceConfig"))
    for key in ("enableVtpm", "enableIntegrityMonitoring"):
        if shielded.get(key) is not True:
            problems.append(f"{r.type} {r.name!r}: Shielded VM {key} is {shielded.get(key)!r}, want True")
    if not ctx.cluster.network.public_ips:
        for n, nic in enumerate(map(as_mapping, as_list(r.inputs.get("networkInterfaces")))):
            if as_list(nic.get("accessConfigs")) or as_list(nic.get("ipv6AccessConfigs")):
                problems.append(f"{r.type} {r.name!r}: network interface {n} has a public IP (access config)")
    return problems


def _gcp_key(r: Resource, what: str, key: Any, ctx: Context) -> Problems:
    if ctx.kms_key and key != ctx.kms_key:
        return [f"{r.type} {r.name!r}: {what} uses key {key!r}, not the declared {ctx.kms_key!r}"]
    return []


def gcp_encryption(r: Resource, rec: Recording, ctx: Context) -> Problems:
    """Google encrypts everything at rest; a declared customer key (CMEK) must be on every disk and store."""
    i = r.inputs
    if r.type == GCP_TEMPLATE:
        disks = [as_mapping(d) for d in as_list(i.get("disks"))]
        return [
            p
            for n, d in enumerate(disks)
            if str(d.get("type", "PERSISTENT")).upper() != "SCRATCH"  # local SSDs take no key
            for p in _gcp_key(
                r, f"disk {n}", as_mapping(d.get("diskEncryptionKey")).get("kmsKeySelfLink"), ctx
            )
        ]
    if r.type == GCP_INSTANCE:
        problems = _gcp_key(r, "its boot disk", as_mapping(i.get("bootDisk")).get("kmsKeySelfLink"), ctx)
        for n, d in enumerate(map(as_mapping, as_list(i.get("attachedDisks")))):
            problems += _gcp_key(r, f"attached disk {n}", d.get("kmsKeySelfLink"), ctx)
        return problems
    if r.type == "gcp:compute/disk:Disk":
        return _gcp_key(r, "the disk", as_mapping(i.get("diskEncryptionKey")).get("kmsKeySelfLink"), ctx)
    if r.type == "gcp:storage/bucket:Bucket":
        return _gcp_key(r, "the bucket", as_mapping(i.get("encryption")).get("defaultKmsKeyName"), ctx)
    if r.type == "gcp:filestore/instance:Instance":
        return _gcp_key(r, "the share", i.get("kmsKeyName"), ctx)
    if r.type == "gcp:lustre/instance:Instance":
        return _gcp_key(r, "the filesystem", i.get("kmsKey"), ctx)
    return []


def gcp_privilege(r: Resource, ctx: Context) -> Problems:
    i = r.inputs
    if r.type in (GCP_TEMPLATE, GCP_INSTANCE):
        email = str(as_mapping(i.get("serviceAccount")).get("email") or "")
        if not email or email == "default" or email.endswith("-compute@developer.gserviceaccount.com"):
            return [f"{r.type} {r.name!r}: runs as the default compute service account ({email or 'unset'})"]
        return []
    if r.type in GCP_IAM_TYPES:
        members = [str(unsecret(m)) for m in [i.get("member"), *as_list(i.get("members"))] if m]
        problems = (
            [f"{r.type} {r.name!r}: grants the basic role {i.get('role')}"]
            if i.get("role") in (GCP_BASIC_ROLES)
            else []
        )
        return problems + [f"{r.type} {r.name!r}: grants {m}" for m in members if m in GCP_PUBLIC_MEMBERS]
    return []


GCP = ProviderContract(
    package="gcp",
    region="us-central1",
    options=lambda kms: GcpOptions(project=GCP_PROJECT, kms_key=kms),
    kms_key=GCP_KMS,
    tag_field="labels",
    default_tags=lambda inputs: as_mapping(inputs.get("defaultLabels")),
    provider_settings=lambda cluster: {"region": cluster.region, "project": GCP_PROJECT},
    ingress=gcp_ingress,
    declared_ssh=lambda c: (
        [str(n) for n in c.network.ssh_cidrs]
        + (["35.235.240.0/20"] if isinstance(c.options, GcpOptions) and c.options.iap_ssh else [])
    ),
    machine_types=frozenset(
        {GCP_TEMPLATE, GCP_INSTANCE, "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"}
    ),
    hardening=gcp_hardening,
    encryption=gcp_encryption,
    filesystem_types=frozenset({"gcp:filestore/instance:Instance", "gcp:lustre/instance:Instance"}),
    bucket_types=frozenset({"gcp:storage/bucket:Bucket"}),
    deletion_protected=lambda r: (
        truthy(r.inputs.get("deletionProtectionEnabled")) or r.inputs.get("deletionPolicy") == "PREVENT"
    ),
    secret_types=frozenset({"gcp:secretmanager/secret:Secret"}),
    secret_holders=frozenset({"gcp:secretmanager/secretVersion:SecretVersion"}),
    privilege=gcp_privilege,
    group_types=frozenset(
        {
            "gcp:compute/instanceGroupManager:InstanceGroupManager",
            "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
            "gcp:container/nodePool:NodePool",
        }
    ),
    instance_types=frozenset({GCP_INSTANCE}),
    shape=lambda r: r.inputs.get("machineType"),
    # Managed Lustre's smallest size at 250 MB/s per TiB is 36000 GiB; 1000 MB/s per TiB starts at 9000
    storage_args={"lustre": {"capacity_gib": 9000, "throughput_mib_per_tib": 1000}},
)


# --- REST clouds (Lambda, Crusoe): Pulumi dynamic resources over the clouds' APIs --------------------------

REST_POOL = f"{DYNAMIC}#pool"
REST_VOLUME = f"{DYNAMIC}#volume"
CRUSOE_PROJECT = "198e7c51-9ed2-41db-b3c8-baeee40d7592"
CRUSOE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIContractKeyOnly000000000000000000000000 contract@test"
CREDENTIAL_INPUT = re.compile(r"(api_?key|token|secret|password|access_key|credential)", re.IGNORECASE)
"""Inputs that would put a credential into the state (`ssh_key` is a key's name or a public key)."""
_NFT_SET = re.compile(r"set (\w+) \{[^}]*?elements = \{ ([^}]*) \}", re.DOTALL)


def boot_files(user_data: str) -> dict[str, str]:
    """The files a pool's boot writes: a startup script's archive (Crusoe), or a cloud-config's write_files,
    alone or in a multipart document (Lambda)."""
    if "PROVISIONER_FILES" in user_data:
        after = user_data.split("<<'PROVISIONER_FILES'", 1)[1].split("\n", 1)[1]
        body = after.split("\nPROVISIONER_FILES", 1)[0]
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(body)), mode="r:gz") as tar:
            return {
                f"/{m.name}": tar.extractfile(m).read().decode()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            }
    parts = [user_data]
    if user_data.startswith("Content-Type: multipart"):
        parts = [
            str(p.get_payload(decode=True).decode())
            for p in email.message_from_string(user_data).walk()
            if p.get_content_type() == "text/cloud-config"
        ]
    found: dict[str, str] = {}
    for part in parts:
        config = yaml.safe_load(part) if part.startswith("#cloud-config") else None
        for entry in (config or {}).get("write_files", []):
            found[str(entry["path"])] = str(entry.get("content", ""))
    return found


def firewall_rules(files: dict[str, str]) -> str | None:
    """The nftables ruleset a node loads: the host-firewall step's here-document (or a file written as is)."""
    step = files.get("/opt/provisioner/steps/host-firewall.sh")
    if step is not None and "<<'NFT'\n" in step:
        return step.split("<<'NFT'\n", 1)[1].split("\nNFT\n", 1)[0]
    return files.get("/etc/provisioner/firewall.nft")


def rest_ingress(r: Resource) -> list[Ingress]:
    """What a REST pool's nodes admit: the node's own nftables filter from its boot files. A node without
    one, or one that does not drop by default, is open to the world on its public address."""
    if r.kind != REST_POOL:
        return []
    rules = firewall_rules(boot_files(str(r.inputs.get("user_data") or "")))
    if rules is None or "policy drop;" not in rules:
        return [Ingress(r.name, ("0.0.0.0/0", "::/0"), "all")]
    sets = {name: tuple(e.strip() for e in elements.split(",")) for name, elements in _NFT_SET.findall(rules)}
    found = []
    for line in rules.splitlines():
        words = line.split()
        if "accept" not in words or not ("dport" in words or "saddr" in words):
            continue  # state, loopback, ICMP and DHCP-reply rules: no new inbound service
        if "saddr" not in words:  # `tcp dport 22 accept`: from anywhere
            port = int(words[words.index("dport") + 1].strip("{},"))
            found.append(Ingress(r.name, ("0.0.0.0/0", "::/0"), words[0], ((port, port),)))
            continue
        cidrs = sets.get(words[words.index("saddr") + 1].lstrip("@"), ())
        if "dport" in words:
            port = int(words[words.index("dport") + 1])
            found.append(Ingress(r.name, cidrs, words[0], ((port, port),)))
        else:
            found.append(Ingress(r.name, cidrs, "all"))
    return found


def rest_placement(r: Resource, ctx: Context) -> Problems:
    i = r.inputs
    want = ctx.cluster.provider.value
    problems = []
    if i.get("provider") != want:
        problems.append(f"{r.type} {r.name!r}: for {i.get('provider')!r}, not {want!r}")
    regions = as_list(i.get("regions")) if r.kind == REST_POOL else [i.get("region")]
    if not regions or regions[0] != ctx.cluster.region:
        problems.append(f"{r.type} {r.name!r}: goes to {regions}, not first to {ctx.cluster.region}")
    return problems


def rest_hardening(r: Resource, ctx: Context) -> Problems:
    """Key-only SSH, and the node boots our bootstrap (its health gate and inbound filter)."""
    problems = [] if r.inputs.get("ssh_key") else [f"{r.type} {r.name!r}: no SSH key (password logins?)"]
    files = boot_files(str(r.inputs.get("user_data") or ""))
    if "/etc/systemd/system/provisioner-bootstrap.service" not in files:
        problems.append(f"{r.type} {r.name!r}: its user data does not install provisioner's bootstrap")
    return problems


def rest_privilege(r: Resource, ctx: Context) -> Problems:
    """No credential in any input: the API key comes from the environment at deploy time, never the state."""
    return [
        f"{r.type} {r.name!r}: input {key!r} would keep a credential in the state"
        for key in r.inputs
        if r.package == "pulumi-python" and key != "__provider" and CREDENTIAL_INPUT.search(key)
    ]


def rest_contract(region: str, options: Callable[[str | None], ProviderOptions | None]) -> ProviderContract:
    return ProviderContract(
        package="pulumi-python",
        region=region,
        options=options,
        kms_key="",
        tag_field="tags",
        default_tags=lambda inputs: {},
        provider_settings=lambda cluster: {},
        ingress=rest_ingress,
        machine_types=frozenset({REST_POOL}),
        hardening=rest_hardening,
        # Lambda's and Crusoe's APIs take no encryption setting for filesystems or disks (none in what we
        # read): there is nothing to check; the README lists it among what is not verified
        encryption=lambda r, rec, ctx: [],
        filesystem_types=frozenset({REST_VOLUME}),
        bucket_types=frozenset(),
        deletion_protected=lambda r: False,
        secret_types=frozenset(),
        secret_holders=frozenset(),
        privilege=rest_privilege,
        group_types=frozenset({REST_POOL}),
        instance_types=frozenset(),
        shape=lambda r: r.inputs.get("instance_type"),
        explicit_provider=False,
        placement=rest_placement,
        taggable=lambda r: r.kind == REST_POOL,
    )


LAMBDA = rest_contract("us-east-1", lambda kms: LambdaOptions(ssh_key_name="contract-key"))
CRUSOE = rest_contract(
    "us-east1-a", lambda kms: CrusoeOptions(project_id=CRUSOE_PROJECT, ssh_public_key=CRUSOE_KEY)
)


CONTRACTS: dict[str, ProviderContract] = {"aws": AWS, "gcp": GCP, "lambda": LAMBDA, "crusoe": CRUSOE}
"""One entry per registered provider with an emitter. Adding a provider: add its entry here."""


# --- the reference declarations ----------------------------------------------------------------------------

VARIANTS = ("base", "slurm", "storage", "kms", "ssh", "two-pools")
"""base: one H100 pool of two nodes, with tags (every variant has them); slurm: + Slurm with a login node and
accounting; storage: + the shared filesystems and the bucket the provider supports; kms: storage and Slurm
with a customer key; ssh: + SSH from a declared range; two-pools: + a second pool."""

REGISTERED = [info.name for info in all_providers()]


def provider(name: str) -> ProviderInfo:
    return next(info for info in all_providers() if info.name == name)


def contract_for(info: ProviderInfo) -> ProviderContract:
    """The provider's entry, or a failure that says what to do (skip providers without an emitter)."""
    if info.emitter is None:
        pytest.skip(f"{info.name}: no emitter yet (ProviderInfo.emitter is None), nothing to emit")
    if info.name not in CONTRACTS:
        pytest.fail(
            f"provider {info.name!r} is registered with an emitter but has no contract entry: add a "
            f"ProviderContract for it to CONTRACTS in tests/providers/test_contract.py",
            pytrace=False,
        )
    return CONTRACTS[info.name]


def _gpu_pool(info: ProviderInfo, contract: ProviderContract, name: str) -> tuple[str, NodePool]:
    """The catalog's H100 shape of the provider, two nodes; and the region it is offered in."""
    catalog = shipped_catalog()
    chosen = select_offer(catalog, info.name, GPU, None, 2, None, region=contract.region)
    assert isinstance(chosen, Selection), f"{info.name}: the catalog offers no {GPU} shape: {chosen}"
    offer = chosen.offer
    region = contract.region
    if offer.regions and region not in offer.regions:
        region = sorted(offer.regions)[0]
    if info.zonal_pools:
        assert offer.zones_in(region), f"{info.name}: pools are zonal; the catalog has no zone of {region}"
    # no zone: the plan picks one (zonal providers: the first zone of the region that has the shape)
    pool = NodePool(name=name, gpu=GPU, nodes=2, instance_type=offer.instance_type)
    return region, pool


def _filesystems(info: ProviderInfo, contract: ProviderContract) -> list[Any]:
    """Every shared filesystem the provider supports, and a bucket."""
    kinds = [(Capability.LUSTRE, Lustre, "lustre"), (Capability.NFS, Nfs, "nfs")]
    found: list[Any] = [
        cls(**contract.storage_args.get(key, {})) for cap, cls, key in kinds if info.unsupported(cap) is None
    ]
    if info.unsupported(Capability.BUCKET) is None:
        found.append(Bucket(name="ckpt"))
    return found


def reference(name: str, variant: str) -> Cluster:
    info = provider(name)
    contract = contract_for(info)
    region, pool = _gpu_pool(info, contract, "gpu")
    fields: dict[str, Any] = {
        "name": CLUSTER,
        "provider": name,
        "region": region,
        "pools": [pool],
        "tags": TAGS,
        "options": contract.options(None),
    }
    if variant in ("slurm", "kms"):
        if info.unsupported(Capability.SLURM):
            pytest.skip(f"{name}: {info.unsupported(Capability.SLURM)}")
        # without a shared filesystem, /home stays on each node (and the plan warns unless told so)
        fields["scheduler"] = Slurm(login=SlurmLogin(), accounting=True, shared_home=variant == "kms")
    if variant in ("storage", "kms"):
        fields["storage"] = _filesystems(info, contract)
        if not fields["storage"]:
            pytest.skip(f"{name}: supports no shared filesystem and no bucket")
    if variant == "kms":
        fields["options"] = contract.options(contract.kms_key)
    if variant == "ssh":
        fields["network"] = Network(ssh_cidrs=[SSH_RANGE])
    if variant == "two-pools":
        fields["pools"] = [pool, pool.model_copy(update={"name": "gpu2"})]
    return Cluster(**fields)


def context(name: str, variant: str) -> Context:
    cluster = reference(name, variant)
    plan = planned(cluster)
    errors = [f.render() for f in plan.findings if f.severity is Severity.ERROR]
    assert plan.ok, f"{name}/{variant}: the reference declaration does not plan:\n" + "\n".join(errors)
    contract = CONTRACTS[name]
    kms = contract.kms_key if variant == "kms" else None
    return Context(cluster, plan, contract, shipped_catalog(), kms)


def fullest(name: str) -> str:
    """The variant with the most in it: Slurm, storage and a customer key; storage alone where the provider
    has no Slurm (no generated secrets, no customer keys)."""
    return "kms" if provider(name).unsupported(Capability.SLURM) is None else "storage"


@cache
def _recorded(name: str, variant: str) -> tuple[Recording, Context]:
    ctx = context(name, variant)
    return emit(ctx.cluster), ctx


def recorded(name: str, variant: str) -> tuple[Recording, Context]:
    info = provider(name)
    contract_for(info)
    try:
        info.load_emitter()
    except MissingSdkError as exc:  # the test environment installs every SDK; a partial one skips
        pytest.skip(str(exc))
    return _recorded(name, variant)


# --- the contract ------------------------------------------------------------------------------------------


def test_every_registered_provider_has_a_contract() -> None:
    implemented = {info.name for info in all_providers() if info.emitter is not None}
    missing = sorted(implemented - set(CONTRACTS))
    assert not missing, (
        f"providers {missing} are registered with an emitter but have no contract entry: add a "
        "ProviderContract for each to CONTRACTS in tests/providers/test_contract.py"
    )
    stale = sorted(set(CONTRACTS) - implemented)
    assert not stale, f"CONTRACTS has entries for {stale}, which the registry does not implement"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("name", REGISTERED)
def test_contract(name: str, check: str, variant: str) -> None:
    rec, ctx = recorded(name, variant)
    problems = CHECKS[check](rec, ctx)
    assert not problems, report(problems, f"{name}/{variant} {check}")


@pytest.mark.parametrize("name", REGISTERED)
def test_storage_variant_has_stateful_storage(name: str) -> None:
    """The protection and encryption checks see filesystems and buckets (they are not vacuous)."""
    rec, ctx = recorded(name, "storage")
    kinds = {r.kind for r in stateful(rec, ctx)}
    declared = {s.kind for s in ctx.cluster.storage}
    if "bucket" in declared:
        assert kinds & ctx.contract.bucket_types, f"{name}: the storage variant emitted no bucket"
    if declared & {"lustre", "nfs"}:
        assert kinds & ctx.contract.filesystem_types, f"{name}: the storage variant emitted no filesystem"


@pytest.mark.parametrize("name", REGISTERED)
def test_slurm_variant_has_secrets(name: str) -> None:
    """The secret checks see generated secrets and secret-store entries (they are not vacuous)."""
    rec, ctx = recorded(name, "slurm")
    assert len(rec.secrets) >= 2, f"{name}: the Slurm variant generated no munge key/password: {rec.secrets}"
    assert any(r.kind in ctx.contract.secret_types for r in rec), f"{name}: no secret-store entry emitted"


@pytest.mark.parametrize("name", REGISTERED)
def test_urns_are_stable_across_emits(name: str) -> None:
    contract_for(provider(name))
    ctx = context(name, fullest(name))
    problems = check_same_urns(emit(ctx.cluster), emit(ctx.cluster))
    assert not problems, report(problems, f"{name}: two emits of one declaration")


@pytest.mark.parametrize("name", REGISTERED)
def test_a_second_pool_keeps_every_urn(name: str) -> None:
    one, _ = recorded(name, "base")
    two, _ = recorded(name, "two-pools")
    problems = check_urns_kept(one, two, "when a second pool is added")
    assert not problems, report(problems, f"{name}: adding a pool")
    assert len(two.urns) > len(one.urns), f"{name}: a second pool added no resource"


@pytest.mark.parametrize("name", REGISTERED)
def test_plan_command_registers_the_same_resources(name: str, tmp_path: Path) -> None:
    """`provisioner plan` (the runner, on a program file) registers what this test's harness records."""
    from provisioner.program.runner import run_program

    rec, ctx = recorded(name, fullest(name))
    program = tmp_path / "cluster.py"
    program.write_text(
        "from provisioner import Cluster\n"
        f"cluster = Cluster.model_validate_json({ctx.cluster.model_dump_json(exclude_none=True)!r})\n",
        encoding="utf-8",
    )
    result = run_program(program)
    assert result.failure is None, result.failure
    [run] = result.clusters
    assert run.emitted, [f.render() for f in run.plan.findings]
    planned_resources = {(r.type, r.name) for r in run.resources}
    assert planned_resources == {(r.type, r.name) for r in rec}


# --- the checks can fail: doctored recordings --------------------------------------------------------------


def doctored(
    rec: Recording,
    *,
    add: Iterable[Resource] = (),
    drop: Callable[[Resource], bool] = lambda r: False,
    change: Callable[[Resource], Resource | None] = lambda r: None,
) -> Recording:
    """A copy of `rec` with resources changed (`change` returns the replacement, or None to keep one),
    dropped, or added."""
    kept = [change(r) or r for r in rec if not drop(r)]
    return dataclasses.replace(rec, resources=[*kept, *add])


def with_inputs(r: Resource, **inputs: Any) -> Resource:
    return dataclasses.replace(r, inputs={**r.inputs, **inputs})


def fake(rec: Recording, typ: str, name: str, **inputs: Any) -> Resource:
    """A resource on the cluster's provider, under the cluster."""
    provider_ref = next(r for r in rec if r.is_provider)
    root = next(r for r in rec if r.type == COMPONENT_TYPE)
    return Resource(
        type=typ,
        name=name,
        urn=f"urn:pulumi:dev::contract::{typ}::{name}",
        parent=root.urn,
        provider=f"{provider_ref.urn}::fake-id",
        protect=False,
        custom=True,
        inputs=inputs,
    )


def first(rec: Recording, predicate: Callable[[Resource], bool]) -> Resource:
    found = [r for r in rec if predicate(r)]
    assert found, "the recording has no resource to doctor"
    return found[0]


def _named(
    target: Resource, replacement: Callable[[Resource], Resource]
) -> Callable[[Resource], Resource | None]:
    return lambda r: replacement(r) if r.urn == target.urn else None


Doctor = Callable[[Recording, Context], tuple[Recording, str]]
"""Breaks a recording; returns it and the name of the resource the check must report."""


def _generic_doctors() -> dict[str, Doctor]:
    def bad_name(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        machine = machines(rec, ctx)[0]
        return doctored(
            rec, add=[dataclasses.replace(machine, name="other-thing", urn="urn:x::other")]
        ), "other-thing"

    def default_provider(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = machines(rec, ctx)[0]
        return doctored(
            rec, change=_named(target, lambda r: dataclasses.replace(r, provider=None))
        ), target.name

    def wrong_region(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = first(rec, lambda r: r.is_provider)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, region="elsewhere-1"))
        ), target.name

    def untagged(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        """No provider defaults, and no tags on the resources."""
        field_name = ctx.contract.tag_field

        def strip(r: Resource) -> Resource:
            inputs = {} if r.is_provider else {k: v for k, v in r.inputs.items() if k != field_name}
            return dataclasses.replace(r, inputs=inputs)

        target = machines(rec, ctx)[0]
        return doctored(rec, change=strip), target.name

    def secret_in_user_data(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        import base64
        import gzip

        secret = next(iter(rec.secrets.values()))
        encoded = base64.b64encode(gzip.compress(f"#!/bin/bash\nKEY='{secret}'\n".encode())).decode()
        target = machines(rec, ctx)[0]
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, startupScript=encoded))
        ), target.name

    def secret_in_plain_text(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        secret = list(rec.secrets.values())[-1]
        target = machines(rec, ctx)[-1]
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, note=f"pw={secret}"))
        ), target.name

    def secret_unreferenced(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        secret = first(rec, lambda r: r.kind in ctx.contract.secret_types)
        blank = lambda r: dataclasses.replace(r, inputs={}) if r.kind in ctx.contract.machine_types else None  # noqa: E731
        return doctored(rec, change=blank), secret.name

    def unprotected(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = stateful(rec, ctx)[0]
        return doctored(
            rec, change=_named(target, lambda r: dataclasses.replace(r, protect=False, inputs={}))
        ), target.name

    def no_groups(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        return doctored(rec, drop=lambda r: r.kind in ctx.contract.group_types), "pools but 0 group"

    return {
        "names": bad_name,
        "provider/default": default_provider,
        "provider/region": wrong_region,
        "tags": untagged,
        "secret-values/encoded": secret_in_user_data,
        "secret-values/plain": secret_in_plain_text,
        "secret-references": secret_unreferenced,
        "protected": unprotected,
        "groups/none": no_groups,
    }


def _aws_doctors() -> dict[str, Doctor]:
    rule = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

    def world_rule(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(
            rec, rule, "ref-evil-https", cidrIpv4="0.0.0.0/0", ipProtocol="tcp", fromPort=443, toPort=443
        )
        return doctored(rec, add=[bad]), bad.name

    def world_v6_all(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(rec, rule, "ref-evil-v6", cidrIpv6="::/0", ipProtocol="-1")
        return doctored(rec, add=[bad]), bad.name

    def ssh_undeclared(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(
            rec,
            "aws:ec2/securityGroup:SecurityGroup",
            "ref-evil-sg",
            ingress=[{"cidrBlocks": ["198.51.100.0/24"], "protocol": "tcp", "fromPort": 20, "toPort": 30}],
        )
        return doctored(rec, add=[bad]), bad.name

    def lt(rec: Recording) -> Resource:
        return first(rec, lambda r: r.type == AWS_LAUNCH_TEMPLATE)

    def imds_v1(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = lt(rec)
        meta = {**as_mapping(target.inputs["metadataOptions"]), "httpTokens": "optional"}
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, metadataOptions=meta))
        ), target.name

    def public_ip(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = first(rec, lambda r: r.type == AWS_INSTANCE)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, associatePublicIpAddress=True))
        ), target.name

    def unencrypted_volume(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = lt(rec)
        mappings = [
            {**m, "ebs": {**m["ebs"], "encrypted": "false"}} for m in target.inputs["blockDeviceMappings"]
        ]
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, blockDeviceMappings=mappings))
        ), target.name

    def wrong_key(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = first(rec, lambda r: r.type in AWS_FILESYSTEMS)
        return doctored(rec, change=_named(target, lambda r: with_inputs(r, kmsKeyId=None))), target.name

    def bucket_without_sse(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = first(rec, lambda r: r.type in AWS_BUCKETS)
        return doctored(rec, drop=lambda r: r.type in AWS_BUCKET_SSE), target.name

    def star_policy(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        bad = fake(rec, "aws:iam/rolePolicy:RolePolicy", "ref-evil-policy", policy=json.dumps(doc), role="x")
        return doctored(rec, add=[bad]), bad.name

    def admin_attached(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(
            rec,
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "ref-evil-admin",
            policyArn="arn:aws:iam::aws:policy/AdministratorAccess",
            role="x",
        )
        return doctored(rec, add=[bad]), bad.name

    def gpu_instance(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(rec, AWS_INSTANCE, "ref-gpu-node-0", instanceType=ctx.plan.pools[0].instance_type)
        return doctored(rec, add=[bad]), bad.name

    return {
        "ingress/world": world_rule,
        "ingress/world-v6": world_v6_all,
        "ingress/ssh": ssh_undeclared,
        "hardening/imds": imds_v1,
        "hardening/public-ip": public_ip,
        "encryption/volume": unencrypted_volume,
        "encryption/key": wrong_key,
        "encryption/bucket": bucket_without_sse,
        "privilege/wildcard": star_policy,
        "privilege/admin": admin_attached,
        "groups/instance": gpu_instance,
    }


def _gcp_doctors() -> dict[str, Doctor]:
    firewall = "gcp:compute/firewall:Firewall"

    def world_rule(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(
            rec,
            firewall,
            "ref-evil-http",
            sourceRanges=["0.0.0.0/0"],
            allows=[{"protocol": "tcp", "ports": ["80"]}],
        )
        return doctored(rec, add=[bad]), bad.name

    def implicit_world(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(rec, firewall, "ref-evil-implicit", allows=[{"protocol": "udp"}])
        return doctored(rec, add=[bad]), bad.name

    def ssh_undeclared(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(
            rec,
            firewall,
            "ref-evil-ssh",
            direction="INGRESS",
            sourceRanges=["198.51.100.0/24"],
            allows=[{"protocol": "tcp", "ports": ["20-30"]}],
        )
        return doctored(rec, add=[bad]), bad.name

    def template(rec: Recording) -> Resource:
        return first(rec, lambda r: r.type == GCP_TEMPLATE)

    def oslogin_off(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = template(rec)
        meta = {
            **as_mapping(target.inputs["metadata"]),
            "enable-oslogin": "FALSE",
            "serial-port-enable": "TRUE",
        }
        return doctored(rec, change=_named(target, lambda r: with_inputs(r, metadata=meta))), target.name

    def public_ip(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = template(rec)
        nics = [{**as_mapping(n), "accessConfigs": [{}]} for n in as_list(target.inputs["networkInterfaces"])]
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, networkInterfaces=nics))
        ), target.name

    def not_shielded(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = first(rec, lambda r: r.type == GCP_INSTANCE)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, shieldedInstanceConfig={}))
        ), target.name

    def disk_without_key(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = template(rec)
        disks = [
            {k: v for k, v in as_mapping(d).items() if k != "diskEncryptionKey"}
            for d in target.inputs["disks"]
        ]
        return doctored(rec, change=_named(target, lambda r: with_inputs(r, disks=disks))), target.name

    def bucket_without_key(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = first(rec, lambda r: r.type == "gcp:storage/bucket:Bucket")
        return doctored(rec, change=_named(target, lambda r: with_inputs(r, encryption=None))), target.name

    def default_account(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = template(rec)
        account = {"email": "123456789-compute@developer.gserviceaccount.com", "scopes": ["cloud-platform"]}
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, serviceAccount=account))
        ), target.name

    def no_account(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = first(rec, lambda r: r.type == GCP_INSTANCE)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, serviceAccount=None))
        ), target.name

    def editor(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(
            rec,
            "gcp:projects/iAMMember:IAMMember",
            "ref-evil-editor",
            role="roles/editor",
            member="serviceAccount:x@y.iam.gserviceaccount.com",
            project=GCP_PROJECT,
        )
        return doctored(rec, add=[bad]), bad.name

    def public_bucket(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(
            rec,
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            "ref-evil-public",
            role="roles/storage.objectViewer",
            member="allUsers",
            bucket="b",
        )
        return doctored(rec, add=[bad]), bad.name

    def gpu_instance(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        bad = fake(rec, GCP_INSTANCE, "ref-gpu-node-0", machineType=ctx.plan.pools[0].instance_type)
        return doctored(rec, add=[bad]), bad.name

    return {
        "ingress/world": world_rule,
        "ingress/implicit-world": implicit_world,
        "ingress/ssh": ssh_undeclared,
        "hardening/metadata": oslogin_off,
        "hardening/public-ip": public_ip,
        "hardening/shielded": not_shielded,
        "encryption/disk": disk_without_key,
        "encryption/bucket": bucket_without_key,
        "privilege/default-account": default_account,
        "privilege/no-account": no_account,
        "privilege/editor": editor,
        "privilege/public": public_bucket,
        "groups/instance": gpu_instance,
    }


def _rest_doctors() -> dict[str, Doctor]:
    def pool(rec: Recording) -> Resource:
        return first(rec, lambda r: r.kind == REST_POOL)

    def boot(firewall: str) -> str:
        """A cloud-config that writes only this firewall."""
        return "#cloud-config\n" + yaml.safe_dump(
            {"write_files": [{"path": "/etc/provisioner/firewall.nft", "content": firewall}]}
        )

    def other_cloud(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = pool(rec)
        return doctored(rec, change=_named(target, lambda r: with_inputs(r, provider="aws"))), target.name

    def other_region(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = pool(rec)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, regions=["elsewhere-1", ctx.cluster.region]))
        ), target.name

    def no_firewall(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = pool(rec)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, user_data="#cloud-config\n"))
        ), target.name

    def ssh_undeclared(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        rules = (
            "table inet provisioner {\n  set ssh_v4 {\n    type ipv4_addr\n    flags interval\n"
            "    elements = { 198.51.100.0/24 }\n  }\n  chain input {\n    policy drop;\n"
            "    tcp dport 22 ip saddr @ssh_v4 accept\n  }\n}\n"
        )
        target = pool(rec)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, user_data=boot(rules)))
        ), target.name

    def ssh_from_anywhere(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        rules = (
            "table inet provisioner {\n  chain input {\n    policy drop;\n    tcp dport 22 accept\n  }\n}\n"
        )
        target = pool(rec)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, user_data=boot(rules)))
        ), target.name

    def no_bootstrap(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = pool(rec)
        return doctored(rec, change=_named(target, lambda r: with_inputs(r, user_data=""))), target.name

    def api_key(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = pool(rec)
        return doctored(
            rec, change=_named(target, lambda r: with_inputs(r, api_key="secret_abc123"))
        ), target.name

    def unprotected(rec: Recording, ctx: Context) -> tuple[Recording, str]:
        target = stateful(rec, ctx)[0]
        return doctored(
            rec, change=_named(target, lambda r: dataclasses.replace(r, protect=False))
        ), target.name

    return {
        "protected": unprotected,
        "provider/default": other_cloud,
        "provider/region": other_region,
        "ingress/no-firewall": no_firewall,
        "ingress/ssh": ssh_undeclared,
        "ingress/ssh-anywhere": ssh_from_anywhere,
        "hardening/no-bootstrap": no_bootstrap,
        "privilege/api-key": api_key,
    }


SPECIFIC_DOCTORS: dict[str, Callable[[], dict[str, Doctor]]] = {
    "aws": _aws_doctors,
    "gcp": _gcp_doctors,
    "lambda": _rest_doctors,
    "crusoe": _rest_doctors,
}
NEEDS_SECRETS = ("secret-values/encoded", "secret-values/plain", "secret-references")
"""Generic doctors that plant a generated secret: only for providers with Slurm (the munge key)."""
_REST_NOTHING_TO_CHECK = {
    "encryption": "their APIs take no encryption setting for filesystems or disks",
    "secret-values": "no generated secret exists without Slurm (privilege: no credential is an input)",
    "secret-references": "no secret-store entry exists without Slurm",
}
NOTHING_TO_CHECK: dict[str, dict[str, str]] = {
    "lambda": _REST_NOTHING_TO_CHECK,
    "crusoe": _REST_NOTHING_TO_CHECK,
}
"""Checks that have nothing to look at on a provider, and why: they have no negative test there."""
"""Doctored recordings for each provider's own predicates (ingress, hardening, encryption, privilege)."""
DOCTORS: dict[str, dict[str, Doctor]] = {
    name: {
        key: doctor
        for key, doctor in {**_generic_doctors(), **SPECIFIC_DOCTORS.get(name, dict)()}.items()
        if key not in NEEDS_SECRETS or provider(name).unsupported(Capability.SLURM) is None
    }
    for name in CONTRACTS
}
NEGATIVE = [(name, key) for name, doctors in DOCTORS.items() for key in doctors]


@pytest.mark.parametrize(("name", "doctor"), NEGATIVE, ids=[f"{n}-{d}" for n, d in NEGATIVE])
def test_check_reports_a_doctored_recording(name: str, doctor: str) -> None:
    rec, ctx = recorded(name, fullest(name))
    check = CHECKS[doctor.split("/")[0]]
    assert not check(rec, ctx), f"{name}: the undoctored recording already fails {doctor}"
    bad, culprit = DOCTORS[name][doctor](rec, ctx)
    problems = check(bad, ctx)
    assert any(culprit in p for p in problems), f"{doctor} did not report {culprit!r}: {problems}"


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_urn_checks_report_a_changed_urn(name: str) -> None:
    rec, ctx = recorded(name, "base")
    target = machines(rec, ctx)[0]
    renamed = doctored(rec, change=_named(target, lambda r: dataclasses.replace(r, urn=f"{r.urn}-v2")))
    problems = check_same_urns(rec, renamed)
    assert len(problems) == 2 and all(target.name in p for p in problems), problems
    assert [p for p in check_urns_kept(rec, renamed, "when a pool is added") if target.name in p]


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_negative_tests_cover_every_check(name: str) -> None:
    """A provider's predicates are known to fail only with a doctored recording for each check."""
    covered = {key.split("/")[0] for key in DOCTORS[name]} | set(NOTHING_TO_CHECK.get(name, {}))
    missing = sorted(set(CHECKS) - covered)
    if name not in SPECIFIC_DOCTORS:
        pytest.skip(f"{name}: its predicates have no negative tests yet ({missing}); add to SPECIFIC_DOCTORS")
    assert not missing, f"{name}: no negative test for {missing}; add doctors to SPECIFIC_DOCTORS"
