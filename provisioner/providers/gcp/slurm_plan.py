"""Google Cloud decisions of a Slurm cluster: the controller, the login group, the secrets, who may read them,
and the controller's metadata. Pure: no Pulumi, no SDK, no network (the emit side is `slurm.py`).

- **Secrets.** The munge key and slurmdbd's password are Secret Manager secrets (`{cluster}-munge-key`,
  `{cluster}-slurmdbd-password`), replicated only in the cluster's region (user-managed replication: the data
  stays where the cluster is). A node reads the latest version with its service account's token; each secret
  grants `roles/secretmanager.secretAccessor` on itself only, never project-wide.
- **Identities.** The controller has a service account of its own: it alone may read the database password.
  The GPU and login nodes keep the nodes' account (`Identity`), which may read the munge key and nothing else.
- **Configuration.** The controller reads each Slurm file from its own instance metadata
  (`gcp_metadata_key(prefix, file)`), kept current by a timer: a metadata change is an in-place update of the
  instance, so a changed declaration reaches a running controller without stopping or replacing it.
- **Hardening.** The pools' defaults (OS Login, no project SSH keys, serial port off, no external address) and
  Shielded VM with Secure Boot on (these CPU nodes load no DKMS-built module).

Facts used (recalled unless a source is named; the session that wrote this had no Google Cloud account):
- Public image families `projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts` and
  `.../ubuntu-2404-lts-amd64` (both seen side by side in public infrastructure code; not read on Google's
  image list page).
- A subnet's first two and last two addresses are Google's (network, gateway, reserved, broadcast): several
  subnet-planning pages agree (subnettool.com/learn/gcp, prefixbench.com/learn/gcp-vpc-subnets).
- Secret ids take letters, digits, `_` and `-`, at most 255 characters; service account ids 6 to 30 lowercase
  letters, digits and hyphens, starting with a letter (recalled).
- cloud-init's GCE datasource base64-decodes `user-data` when `user-data-encoding` is `base64`, then reads a
  gzipped payload as any other (cloud-init's DataSourceGCE.py, seen in public code).
- Metadata: 256 KB per value, 512 KB in all (compute_plan.check_metadata).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from provisioner.bootstrap.slurm import (
    MUNGE_KEY_BYTES,
    controller_host_name,
    gcp_metadata_key,
    slurm_config_files,
)
from provisioner.errors import ProvisionerError
from provisioner.plan import ClusterPlan, SlurmPlan, SupportNodePlan
from provisioner.providers.gcp.compute_plan import (
    METADATA_TOTAL_LIMIT,
    METADATA_VALUE_LIMIT,
    NODE_ROLES,
    SECURE_METADATA,
    ShieldedSpec,
    check_metadata,
)
from provisioner.providers.gcp.plan import (
    ACCOUNT_ID_MAX,
    NAME_MAX,
    NODE_TAG,
    child,
    gcp_options,
    labels_of,
    resource_name,
)
from provisioner.providers.gcp.specs import DiskSpec, GcpPlan, GcpPlanError
from provisioner.spec import OperatingSystem

__all__ = [
    "CONFIG_PREFIX",
    "CONFIG_STORE",
    "ENCODING_KEY",
    "SECRET_ACCESSOR",
    "SECRET_STORE",
    "USER_DATA_KEY",
    "USER_DATA_LIMIT",
    "AccountSpec",
    "AddressSpec",
    "ControllerSpec",
    "GcpSlurmSpec",
    "LoginSpec",
    "SecretSpec",
    "config_metadata",
    "controller_account_spec",
    "controller_address",
    "controller_metadata",
    "controller_spec",
    "login_metadata",
    "login_spec",
    "secret_id",
    "secret_spec",
    "slurm_spec",
    "support_image",
    "user_data_metadata",
]

SECRET_STORE = "gcp-secretmanager"
CONFIG_STORE = "gcp-metadata"
CONFIG_PREFIX = "provisioner-slurm"
"""Metadata keys of the configuration: `provisioner-slurm-slurm-conf`, `provisioner-slurm-gres-conf`, ..."""
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The access scope of the support nodes: every API, narrowed by the service account's IAM roles (Secret
Manager has no narrower scope)."""
SUPPORT_DISK_TYPE = "pd-balanced"
SUPPORT_IMAGES = {
    OperatingSystem.UBUNTU_22_04: "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
    OperatingSystem.UBUNTU_24_04: "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64",
}
"""Plain Ubuntu for the CPU nodes (no GPU software): the family of the cluster's OS, its latest image."""
CONTROLLER_IP_OFFSET = 10
"""The controller sits at the 10th address of a subnet the cluster creates (as on AWS)."""
DB_PASSWORD_LENGTH = 32
SECRET_ID_MAX = 255
ACCOUNT_SUFFIX = "-slurmctl"
LOGIN_UPDATE = "OPPORTUNISTIC"
"""A new login template reaches a login node when it is recreated (resize, autohealing,
`gcloud compute instance-groups managed recreate-instances`), never by killing users' sessions."""
TEMPLATE_PREFIX_MAX = 37
"""Longer `name_prefix`es of an instance template get a shorter, collision-prone suffix (pulumi-gcp docs)."""
USER_DATA_KEY = "user-data"
ENCODING_KEY = "user-data-encoding"
USER_DATA_LIMIT = (METADATA_VALUE_LIMIT - len(USER_DATA_KEY)) * 3 // 4
"""What the rendered user data may take, raw or gzipped, so that base64 of it still fits a metadata value."""
WIDEST_ADDRESS = "255.255.255.255"


# --- data ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """A Secret Manager secret whose value Pulumi generates (pulumi_random) and the nodes read at boot."""

    key: str
    """'munge-key' or 'db-password': suffix of resource names (`-random`: generator, `-value`: version)."""
    resource_name: str
    secret_id: str
    location: str
    """The only replica: the cluster's region."""
    labels: dict[str, str]
    readers: tuple[str, ...]
    """Who gets secretAccessor on this secret: 'nodes' (the nodes' account), 'controller'."""


@dataclass(frozen=True, slots=True)
class AccountSpec:
    resource_name: str
    account_id: str
    display_name: str
    roles: dict[str, str]
    """Resource name of the project IAM member -> role."""


@dataclass(frozen=True, slots=True)
class AddressSpec:
    """The controller's static internal address, reserved in the host subnet (no node can take it)."""

    resource_name: str
    name: str
    address: str | None
    """The declared or the 10th address of a created subnet; None = Google allocates one (existing subnet)."""
    region: str


@dataclass(frozen=True)
class ControllerSpec:
    """One instance, not a group: it holds Slurm's state and the accounting database on its disk."""

    resource_name: str
    instance_name: str
    """Also its host name and internal DNS name (`controller_host_name`)."""
    machine_type: str
    zone: str
    disk: DiskSpec
    metadata: dict[str, str]
    """The fixed keys (hardening); user-data and the configuration are added at deploy time."""
    shielded: ShieldedSpec
    external_ip: bool
    labels: dict[str, str]
    network_tags: tuple[str, ...]
    address: AddressSpec
    protect: bool
    """Pulumi protect and the instance's deletion protection."""
    scopes: tuple[str, ...] = (CLOUD_PLATFORM_SCOPE,)
    allow_stopping_for_update: bool = True
    """A declared change of its machine type stops and restarts it (jobs keep running on the nodes); its
    image and user data are ignored once it exists, its configuration changes in place."""


@dataclass(frozen=True)
class LoginSpec:
    """Login nodes: one instance template and one zonal managed instance group."""

    resource_name: str
    base_instance_name: str
    """Also the group's name; its nodes are `<base>-xxxx`."""
    template_prefix: str
    """Templates are immutable: each change is a new one, `<prefix><timestamp>`, made before the old goes."""
    machine_type: str
    count: int
    zone: str
    disk: DiskSpec
    metadata: dict[str, str]
    shielded: ShieldedSpec
    external_ip: bool
    labels: dict[str, str]
    network_tags: tuple[str, ...]
    scopes: tuple[str, ...] = (CLOUD_PLATFORM_SCOPE,)
    update_type: str = LOGIN_UPDATE


@dataclass(frozen=True)
class GcpSlurmSpec:
    resource_name: str
    """`{name}-slurm`: the Scheduler component; every child is named `{name}-slurm-...`."""
    project: str | None
    controller: ControllerSpec
    login: LoginSpec | None
    munge_key: SecretSpec
    db_password: SecretSpec | None
    controller_account: AccountSpec
    config_prefix: str
    config_keys: dict[str, str]
    """Slurm file name -> the controller's metadata key that holds it."""
    munge_key_bytes: int = MUNGE_KEY_BYTES
    db_password_length: int = DB_PASSWORD_LENGTH
    secret_store: str = SECRET_STORE
    config_store: str = CONFIG_STORE


# --- helpers ------------------------------------------------------------------------------------------------


def _slurm(plan: ClusterPlan) -> SlurmPlan:
    if plan.slurm is None:
        raise GcpPlanError(f"cluster {plan.name!r} declares no Slurm scheduler")
    return plan.slurm


def support_image(plan: ClusterPlan) -> str:
    """Plain Ubuntu of the cluster's OS (the first pool's, which the support nodes' boot scripts target)."""
    os = plan.pools[0].software.os
    image = SUPPORT_IMAGES.get(os)
    if image is None:
        raise GcpPlanError(
            f"pools[0].software.os = {os.value!r}: the Slurm controller and login nodes on Google Cloud boot "
            f"Ubuntu; allowed: {', '.join(o.value for o in SUPPORT_IMAGES)}"
        )
    return image


def support_disk(plan: ClusterPlan, node: SupportNodePlan, kms_key: str | None) -> DiskSpec:
    return DiskSpec(support_image(plan), node.root_volume_gib, SUPPORT_DISK_TYPE, kms_key)


def support_labels(spec: GcpPlan, role: str) -> dict[str, str]:
    return {**spec.labels, **labels_of({"provisioner:slurm_role": role})}


def network_tags(spec: GcpPlan) -> tuple[str, ...]:
    """The pools' tags (the firewall rules take none; the tags name the cluster's nodes)."""
    return (NODE_TAG, resource_name(spec.name))


def secret_id(cluster: str, key: str) -> str:
    """`{cluster}-{key}` in Secret Manager's alphabet (letters, digits, '_' and '-'), at most 255 long."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", cluster).strip("-") or "cluster"
    return f"{stem[: SECRET_ID_MAX - len(key) - 1]}-{key}"


def controller_account_id(name: str) -> str:
    """`{name}-slurmctl`, within the 30 characters of an account id; a long name is cut and gets a digest of
    the whole, so that two long names never share an account."""
    room = ACCOUNT_ID_MAX - len(ACCOUNT_SUFFIX)
    stem = resource_name(name, NAME_MAX)
    if len(stem) > room:
        digest = hashlib.sha256(name.encode()).hexdigest()[:4]
        stem = f"{resource_name(stem, room - 5)}-{digest}"
    return f"{stem}{ACCOUNT_SUFFIX}"


def controller_address(host_cidr: str | None, declared: str | None) -> str | None:
    """The declared address (checked against a subnet the cluster creates), else the 10th of a created
    subnet; None for an existing subnet without a declared address (Google allocates a free one)."""
    if host_cidr is None:
        return declared
    subnet = IPv4Network(host_cidr)
    reserved = {
        subnet.network_address,
        subnet.network_address + 1,
        subnet.broadcast_address - 1,
        subnet.broadcast_address,
    }
    if declared is not None:
        address = IPv4Address(declared)
        if address not in subnet or address in reserved:
            raise GcpPlanError(
                f"scheduler.controller.private_ip = {declared}: not a usable address of the nodes' subnet "
                f"{subnet} (Google keeps its first two and last two); give one inside it"
            )
        return declared
    if subnet.num_addresses - 2 <= CONTROLLER_IP_OFFSET:
        raise GcpPlanError(
            f"network.cidr = {subnet} has no address {CONTROLLER_IP_OFFSET} for the Slurm controller: use a "
            "/27 or larger network"
        )
    return str(subnet.network_address + CONTROLLER_IP_OFFSET)


# --- specs --------------------------------------------------------------------------------------------------


def secret_spec(spec: GcpPlan, plan: ClusterPlan, key: str, readers: tuple[str, ...]) -> SecretSpec:
    return SecretSpec(
        key=key,
        resource_name=child(spec.name, "slurm", key),
        secret_id=secret_id(plan.name, "slurmdbd-password" if key == "db-password" else key),
        location=spec.region,
        labels={**spec.labels, **labels_of({"provisioner:secret": key})},
        readers=readers,
    )


def controller_account_spec(spec: GcpPlan, plan: ClusterPlan) -> AccountSpec:
    """Logs and metrics (as the nodes), the declaration's extra roles; its secrets are granted per secret."""
    roles = dict.fromkeys((*NODE_ROLES, *gcp_options(plan).extra_roles))
    stem = child(spec.name, "slurm", "controller")
    return AccountSpec(
        resource_name=child(stem, "account"),
        account_id=controller_account_id(spec.name),
        display_name=f"Slurm controller of {spec.name}"[:100],
        roles={child(stem, resource_name(role.removeprefix("roles/"))): role for role in roles},
    )


def controller_spec(spec: GcpPlan, plan: ClusterPlan) -> ControllerSpec:
    slurm = _slurm(plan)
    node = slurm.controller
    created = spec.network.existing_subnet is None and spec.network.existing_network is None
    stem = child(spec.name, "slurm", "controller")
    return ControllerSpec(
        resource_name=stem,
        instance_name=resource_name(controller_host_name(plan)),
        machine_type=node.instance_type,
        zone=spec.zone,
        disk=support_disk(plan, node, spec.kms_key),
        metadata=dict(SECURE_METADATA),
        shielded=ShieldedSpec(secure_boot=True),
        external_ip=spec.public_ips,
        labels=support_labels(spec, "controller"),
        network_tags=network_tags(spec),
        address=AddressSpec(
            resource_name=child(stem, "ip"),
            name=resource_name(controller_host_name(plan)),
            address=controller_address(spec.network.host_cidr if created else None, slurm.controller_ip),
            region=spec.region,
        ),
        protect=slurm.controller_protect,
    )


def login_spec(spec: GcpPlan, plan: ClusterPlan, node: SupportNodePlan) -> LoginSpec:
    return LoginSpec(
        resource_name=child(spec.name, "slurm", "login"),
        base_instance_name=resource_name(f"{plan.name}-login", NAME_MAX - 5),  # the MIG adds '-xxxx'
        template_prefix=f"{resource_name(f'{plan.name}-login', TEMPLATE_PREFIX_MAX - 1)}-",
        machine_type=node.instance_type,
        count=node.count,
        zone=spec.zone,
        disk=support_disk(plan, node, spec.kms_key),
        metadata=dict(SECURE_METADATA),
        shielded=ShieldedSpec(secure_boot=True),
        external_ip=spec.public_ips,
        labels=support_labels(spec, "login"),
        network_tags=network_tags(spec),
    )


def slurm_spec(spec: GcpPlan, plan: ClusterPlan) -> GcpSlurmSpec:
    """The Slurm part of the Google Cloud layout. The configuration is checked against the metadata limits
    here already (rendered for the widest address); the user data joins it at deploy time."""
    slurm = _slurm(plan)
    files = slurm_config_files(plan, WIDEST_ADDRESS)
    keys = {name: gcp_metadata_key(CONFIG_PREFIX, name) for name in sorted(files)}
    controller = controller_spec(spec, plan)
    check_controller_metadata(plan, {**controller.metadata, **config_metadata(keys, files)})
    return GcpSlurmSpec(
        resource_name=child(spec.name, "slurm"),
        project=spec.project,
        controller=controller,
        login=None if slurm.login is None or slurm.login.count < 1 else login_spec(spec, plan, slurm.login),
        munge_key=secret_spec(spec, plan, "munge-key", ("nodes", "controller")),
        db_password=secret_spec(spec, plan, "db-password", ("controller",)) if slurm.accounting else None,
        controller_account=controller_account_spec(spec, plan),
        config_prefix=CONFIG_PREFIX,
        config_keys=keys,
    )


# --- metadata -----------------------------------------------------------------------------------------------


def config_metadata(keys: dict[str, str], files: dict[str, str]) -> dict[str, str]:
    """The controller's metadata entries of the configuration it serves: key -> the file's text."""
    missing = sorted(set(files) - set(keys))
    if missing:
        raise GcpPlanError(f"no metadata key for the Slurm files {missing} (the plan knows {sorted(keys)})")
    return {keys[name]: text for name, text in sorted(files.items())}


def user_data_metadata(text: str) -> dict[str, str]:
    """`user-data` as it is when it fits a metadata value; else gzipped and base64-encoded, which cloud-init's
    GCE datasource decodes (`user-data-encoding: base64`)."""
    if len(USER_DATA_KEY) + len(text.encode()) <= METADATA_VALUE_LIMIT:
        return {USER_DATA_KEY: text}
    packed = base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode()
    return {USER_DATA_KEY: packed, ENCODING_KEY: "base64"}


def check_controller_metadata(plan: ClusterPlan, metadata: dict[str, str]) -> None:
    """Google Cloud's metadata limits, with what to do about them."""
    try:
        check_metadata(metadata)
    except ProvisionerError as exc:
        sizes = ", ".join(
            f"{key} {len(key.encode()) + len(value.encode())} bytes"
            for key, value in sorted(metadata.items(), key=lambda kv: -len(kv[1]))[:4]
        )
        raise GcpPlanError(
            f"the Slurm controller of cluster {plan.name!r} carries its user data and every Slurm file in "
            f"its instance metadata, and it does not fit: {exc} (largest: {sizes}; limits "
            f"{METADATA_VALUE_LIMIT} bytes a value, {METADATA_TOTAL_LIMIT} in all): declare fewer pools or "
            "partitions, or drop software that adds to the boot scripts"
        ) from None


def controller_metadata(
    spec: GcpSlurmSpec, plan: ClusterPlan, user_data: str, files: dict[str, str]
) -> dict[str, str]:
    """Everything in the controller's metadata: the hardening keys, its user data, the Slurm files."""
    metadata = {
        **spec.controller.metadata,
        **user_data_metadata(user_data),
        **config_metadata(spec.config_keys, files),
    }
    check_controller_metadata(plan, metadata)
    return metadata


def login_metadata(spec: LoginSpec, plan: ClusterPlan, user_data: str) -> dict[str, str]:
    metadata = {**spec.metadata, **user_data_metadata(user_data)}
    try:
        check_metadata(metadata)
    except ProvisionerError as exc:
        raise GcpPlanError(f"the Slurm login nodes of cluster {plan.name!r}: {exc}") from None
    return metadata
