"""The Kubernetes declaration: the provider runs a managed Kubernetes, the version is offered, the API is not
open to the world, labels are valid Kubernetes labels, and what the node image ignores is said."""

import re
from collections.abc import Iterator
from datetime import date

from provisioner.catalog import ManagedKubernetes, parse_version
from provisioner.providers.base import Capability, provider_info
from provisioner.spec import GpuVendor, Kubernetes, Severity, Software
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error, warning
from provisioner.validate.rules.support import unknown_support_shape

LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_CHARS = "letters, digits, '-', '_' or '.', alphanumeric at both ends"
RESERVED_PREFIXES = ("provisioner.dev", "kubernetes.io", "k8s.io", "nvidia.com", "amd.com")
AWS_PRINCIPAL = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(role|user)/.+$")
SERVICE_LINKED = "role/aws-service-role/"
RESERVED_POOL_NAMES = ("system",)
"""Pool names a Kubernetes cluster keeps for its own node groups."""
IGNORED_SOFTWARE = ("image", "nvidia_driver", "cuda", "rocm", "extra_user_data")
"""Software fields the managed node image does not take: it carries its own driver and toolkit."""


def today() -> date:
    """The date support windows are judged by (a function, so tests can pin it)."""
    return date.today()


def _kubernetes(ctx: RuleContext) -> Kubernetes | None:
    scheduler = ctx.cluster.scheduler
    return scheduler if isinstance(scheduler, Kubernetes) else None


def _managed(ctx: RuleContext) -> ManagedKubernetes | None:
    return ctx.catalog.managed_kubernetes(ctx.cluster.provider.value)


def provider_runs_kubernetes(ctx: RuleContext) -> Iterator[Finding]:
    info = provider_info(ctx.cluster.provider.value)
    if _kubernetes(ctx) is None or info is None:  # an unknown provider is reported by the provider rules
        return
    reason = info.unsupported(Capability.KUBERNETES)
    if reason is None and _managed(ctx) is None:
        reason = f"the catalog has no managed Kubernetes for {ctx.cluster.provider.value}"
    if reason is not None:
        yield error(
            "kubernetes-unsupported",
            "scheduler",
            f"{ctx.cluster.provider.value!r}: {reason}",
            "use a provider with managed Kubernetes support (e.g. aws: EKS), or scheduler=None",
        )


def version_offered(ctx: RuleContext) -> Iterator[Finding]:
    spec, managed = _kubernetes(ctx), _managed(ctx)
    if spec is None or managed is None or spec.version is None:
        return
    known = managed.version(spec.version)
    versions = sorted((v.minor for v in managed.versions), key=parse_version)
    if known is not None:
        return
    if parse_version(spec.version) < parse_version(versions[0]):
        yield error(
            "kubernetes-version-retired",
            "scheduler.version",
            f"{managed.service} {spec.version!r} is older than every version in our data "
            f"({', '.join(versions)}): it is past its support",
            f"use {managed.default_version!r} (or None for it)",
        )
    else:
        yield warning(
            "kubernetes-version-unknown",
            "scheduler.version",
            f"{managed.service} {spec.version!r} is not in provisioner's data ({', '.join(versions)}): its "
            "support dates and the charts' compatibility are unchecked",
            f"use {managed.default_version!r}, or add the version to catalog/data/kubernetes.yaml",
        )


def standard_support(ctx: RuleContext) -> Iterator[Finding]:
    spec, managed = _kubernetes(ctx), _managed(ctx)
    if spec is None or managed is None:
        return
    known = managed.version(spec.version or managed.default_version)
    if known is None or today() < known.end_of_standard_support:
        return
    fee = managed.extended_support_price
    extra = f" (${fee.per_hour:.2f}/hour for the control plane)" if fee else ""
    yield warning(
        "kubernetes-extended-support",
        "scheduler.version",
        f"{managed.service} {known.minor} left standard support on "
        f"{known.end_of_standard_support.isoformat()}: it runs on extended support{extra}",
        f"upgrade to {managed.default_version!r}",
    )


def api_not_open(ctx: RuleContext) -> Iterator[Finding]:
    spec = _kubernetes(ctx)
    if spec is None:
        return
    listed = [("api_public_cidrs", i, c) for i, c in enumerate(spec.api_public_cidrs)]
    listed += [("api_private_cidrs", i, c) for i, c in enumerate(spec.api_private_cidrs)]
    for field, i, cidr in listed:
        if cidr.prefixlen == 0:
            yield error(
                "kubernetes-api-open-to-world",
                f"scheduler.{field}[{i}]",
                f"{cidr} lets the whole internet reach the cluster's API server",
                "list your office or CI ranges (e.g. '203.0.113.0/24'), or none for a private endpoint",
            )


def _label_problem(key: str, value: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not LABEL_PREFIX.match(prefix)):
        return f"the key's prefix {prefix!r} is not a DNS subdomain (lower case letters, digits, '-', '.')"
    if not LABEL_NAME.match(name):
        return f"the key's name {name!r} must be 1-63 {LABEL_CHARS}"
    if any(prefix == p or prefix.endswith(f".{p}") for p in RESERVED_PREFIXES):
        return f"the prefix {prefix!r} is reserved (provisioner and Kubernetes set those labels)"
    if value and not LABEL_NAME.match(value):
        return f"the value {value!r} must be at most 63 {LABEL_CHARS}"
    return None


def labels_are_kubernetes_labels(ctx: RuleContext) -> Iterator[Finding]:
    if _kubernetes(ctx) is None:
        return
    for path, pool in ctx.pools():
        for key, value in pool.labels.items():
            problem = _label_problem(key, value)
            if problem is not None:
                yield error(
                    "kubernetes-label-invalid",
                    f"{path}.labels[{key!r}]",
                    f"{key}={value} becomes a node label of pool {pool.name!r}, and {problem}",
                    "rename the label (e.g. 'team': 'research' or 'example.com/team': 'research')",
                )


def software_the_image_ignores(ctx: RuleContext) -> Iterator[Finding]:
    spec, managed = _kubernetes(ctx), _managed(ctx)
    if spec is None or managed is None:
        return
    defaults = Software()
    declared = [("software", ctx.cluster.software)]
    declared += [(f"{path}.software", pool.software) for path, pool in ctx.pools() if pool.software]
    for path, software in declared:
        for name in IGNORED_SOFTWARE:
            if getattr(software, name) != getattr(defaults, name):
                yield warning(
                    "kubernetes-software-ignored",
                    f"{path}.{name}",
                    f"{managed.service} GPU nodes run the service's GPU image "
                    f"({managed.images.get('nvidia')}), which brings its own driver and container toolkit: "
                    f"{name} is not applied; CUDA and ROCm come with the containers",
                    f"remove {name}, or use scheduler=Slurm(...) or None for nodes built by provisioner",
                )


def vendor_has_image(ctx: RuleContext) -> Iterator[Finding]:
    spec, managed = _kubernetes(ctx), _managed(ctx)
    if spec is None or managed is None:
        return
    for path, pool in ctx.pools():
        gpu = ctx.gpu_of(pool)
        if gpu is not None and gpu.vendor is not GpuVendor.NVIDIA and gpu.vendor.value not in managed.images:
            yield error(
                "kubernetes-no-gpu-image",
                f"{path}.gpu",
                f"{managed.service} has no node image for {gpu.vendor.value} GPUs in our data ({pool.gpu})",
                "use NVIDIA GPUs on this provider, or a provider whose managed Kubernetes runs them",
            )


def device_plugin_managed(ctx: RuleContext) -> Iterator[Finding]:
    """Said once where the service runs the NVIDIA driver and device plugin itself (GKE): the declared
    `device_plugin` chart is not installed."""
    spec, managed = _kubernetes(ctx), _managed(ctx)
    if spec is None or managed is None or not managed.manages_device_plugin:
        return
    gpus = [ctx.gpu_of(pool) for _, pool in ctx.pools()]
    if not any(gpu is not None and gpu.vendor is GpuVendor.NVIDIA for gpu in gpus):
        return
    metrics = f"; GPU metrics come from {managed.service}'s DCGM package" if spec.dcgm_exporter else ""
    yield Finding(
        severity=Severity.INFO,
        code="kubernetes-device-plugin-managed",
        path="scheduler.device_plugin",
        message=f"{managed.service} installs the NVIDIA driver and its own device plugin on the GPU nodes: "
        f"device_plugin={spec.device_plugin!r} installs no chart there{metrics}",
        fix="nothing to do: pods ask for nvidia.com/gpu as on any cluster",
    )


def system_shape_known(ctx: RuleContext) -> Iterator[Finding]:
    spec = _kubernetes(ctx)
    if spec is None:
        return
    path = "scheduler.system_pool.instance_type"
    finding = unknown_support_shape(
        ctx, "kubernetes-system-shape-unknown", path, "system", spec.system_pool.instance_type
    )
    if finding is not None:
        yield finding


def admins_are_principals(ctx: RuleContext) -> Iterator[Finding]:
    spec = _kubernetes(ctx)
    if spec is not None and spec.admins and ctx.cluster.provider.value == "gcp":
        yield error(
            "kubernetes-admins-unsupported",
            "scheduler.admins",
            f"{len(spec.admins)} admin(s) declared; on GKE, cluster access is Google Cloud IAM, which "
            "provisioner does not grant project-wide for you",
            "leave admins empty and grant roles/container.admin (or a narrower role) to your group in IAM",
        )
        return
    if spec is None or ctx.cluster.provider.value != "aws":
        return
    seen: set[str] = set()
    for i, arn in enumerate(spec.admins):
        problem = None
        if not AWS_PRINCIPAL.match(arn):
            problem = "is not an IAM role or user ARN (access entries take no assumed-role or STS ARN)"
        elif SERVICE_LINKED in arn:
            problem = "is a service-linked role, which access entries refuse"
        elif arn in seen:
            problem = "is listed twice (a principal has one access entry)"
        seen.add(arn)
        if problem:
            yield error(
                "kubernetes-admin-invalid",
                f"scheduler.admins[{i}]",
                f"{arn!r} {problem}",
                "give IAM role or user ARNs like 'arn:aws:iam::123456789012:role/platform-admins', once each "
                "(not the identity that runs `pulumi up`: it is admin already)",
            )


def existing_network_spans_two_zones(ctx: RuleContext) -> Iterator[Finding]:
    spec, managed = _kubernetes(ctx), _managed(ctx)
    network = ctx.cluster.network
    if spec is None or managed is None or network.vpc_id is None:
        return
    if ctx.cluster.provider.value == "gcp":
        yield error(
            "kubernetes-existing-network-unsupported",
            "network.vpc_id",
            f"GKE on an existing network ({network.vpc_id}) needs its pods and services ranges, which "
            "provisioner does not add to a network it does not own",
            "leave network.vpc_id unset: the cluster's own network carries the ranges",
        )
        return
    if len(network.subnet_ids) >= 2:
        return
    yield error(
        "kubernetes-subnets-one-zone",
        "network.subnet_ids",
        f"{managed.service} needs subnets in at least two availability zones for its control plane; "
        f"{len(network.subnet_ids)} given",
        "list the nodes' private subnet first, then a private subnet in another zone",
    )


def api_reachable(ctx: RuleContext) -> Iterator[Finding]:
    """`pulumi up` installs the GPU software through the API server: someone besides the nodes must reach
    it."""
    spec = _kubernetes(ctx)
    if spec is None or spec.api_public_cidrs:
        return
    if not spec.api_private_cidrs:
        yield error(
            "kubernetes-api-unreachable",
            "scheduler.api_private_cidrs",
            "the API server would have a private endpoint that only the cluster's own nodes may reach: "
            "`pulumi up` installs the GPU software through it and could not",
            "list the ranges `pulumi up` runs from: api_private_cidrs (a VPN, a peered network or a CI "
            "runner's subnet inside the network) or api_public_cidrs (over the internet)",
        )
        return
    yield Finding(
        severity=Severity.INFO,
        code="kubernetes-private-endpoint",
        path="scheduler.api_private_cidrs",
        message="the API server has a private endpoint only: run `pulumi up` from "
        f"{', '.join(str(c) for c in spec.api_private_cidrs)} (inside the network, or through a VPN or "
        "peering)",
        fix="or list the ranges `pulumi up` runs from in api_public_cidrs",
    )


def pool_names_free(ctx: RuleContext) -> Iterator[Finding]:
    if _kubernetes(ctx) is None:
        return
    for path, pool in ctx.pools():
        if pool.name in RESERVED_POOL_NAMES:
            yield error(
                "kubernetes-pool-name-reserved",
                f"{path}.name",
                f"{pool.name!r} is the name of the cluster's own system node group",
                "rename the pool (e.g. 'gpu')",
            )


def storage_reaches_pods(ctx: RuleContext) -> Iterator[Finding]:
    spec = _kubernetes(ctx)
    if spec is None:
        return
    for i, item in enumerate(ctx.cluster.storage):
        if item.kind in ("lustre", "nfs"):
            yield warning(
                "kubernetes-storage-not-mounted",
                f"storage[{i}]",
                f"{item.kind} filesystem {item.name!r} is created, but pods do not get it yet: provisioner "
                "installs no CSI driver or PersistentVolume for it",
                "mount it with the provider's CSI driver (FSx for Lustre: aws-fsx-csi-driver, a static "
                "PersistentVolume on its DNS and mount names), or drop it",
            )
        elif item.kind == "scratch":
            yield warning(
                "kubernetes-scratch-ephemeral",
                f"storage[{i}]",
                f"local scratch at {item.mount_point} is not made on Kubernetes nodes: their NVMe disks "
                "become a RAID0 for the kubelet and containerd, i.e. pods' ephemeral storage (emptyDir) and "
                "images",
                "drop LocalScratch and use emptyDir volumes",
            )


RULES = (
    storage_reaches_pods,
    provider_runs_kubernetes,
    version_offered,
    standard_support,
    api_not_open,
    labels_are_kubernetes_labels,
    software_the_image_ignores,
    vendor_has_image,
    device_plugin_managed,
    system_shape_known,
    admins_are_principals,
    existing_network_spans_two_zones,
    api_reachable,
    pool_names_free,
)
