"""What provisioner puts into a Kubernetes cluster, rendered from `templates/kubernetes/`. Pure: no Pulumi.

- `helm_values(plan, release)`: the values of one Helm release (`values/<release>.yaml.j2`), every node
  selector, toleration and switch taken from the plan.
- `manifests(plan)`: the manifests we own (`manifests/*.yaml.j2`): the releases' namespaces with their Pod
  Security Admission level (applied by Pulumi), an NCCL ConfigMap per node group (applied), and a GPU check
  Job per node group that a user applies to prove the GPUs are schedulable (not applied).

The node selectors use the labels the plan gives the node groups (`provisioner.dev/...`), so the charts, the
check jobs and `provisioner verify` agree on which nodes are which."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2
import yaml

from provisioner.bootstrap.context import NcclSetting, nccl_settings
from provisioner.bootstrap.templates import templates_dir
from provisioner.plan import (
    POOL_LABEL,
    ClusterPlan,
    HelmReleasePlan,
    KubeNodeGroupPlan,
    KubernetesPlan,
    PoolPlan,
)
from provisioner.plan.kubernetes import LABEL_PREFIX
from provisioner.spec import GpuVendor

ROLE_LABEL = f"{LABEL_PREFIX}/role"
"""Label of the system node group's nodes (value: the plan's `system.role`), set by the provider."""
VENDOR_LABEL = f"{LABEL_PREFIX}/gpu-vendor"
FABRIC_LABEL = f"{LABEL_PREFIX}/fabric"
CLUSTER_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})
"""Namespaces every cluster has: never ours to create."""
WORKLOAD_NAMESPACE = "default"
"""Where users' pods run unless they say otherwise: the NCCL ConfigMaps (namespaced) and the checks go
there."""

PRIVILEGED_REASONS = {
    "gpu-operator": "the GPU operator's operands (device plugin, GPU feature discovery, DCGM exporter, "
    "validator, and the driver and toolkit where it installs them) run privileged and mount host paths "
    "(/run/nvidia, /var/lib/kubelet/device-plugins, /sys, the host root)",
    "nvidia-device-plugin": "NVIDIA's device plugin mounts host paths (/var/lib/kubelet/device-plugins, "
    "/run/nvidia/mps, /var/run/cdi) to register with the kubelet and hand devices to containers",
    "amd-gpu": "AMD's device plugin mounts host paths (/var/lib/kubelet/device-plugins, /sys) to find the "
    "GPUs and register them with the kubelet",
}
"""Why a chart's namespace must admit privileged pods. A namespace of a chart not listed here enforces the
restricted Pod Security Standard."""
CAPABILITY_REASONS: dict[str, str] = {}
"""Why a check container adds a Linux capability (all others are dropped). None is added: the check runs as
a non-root user, whom the runtime gives no added capability (Kubernetes sets no ambient ones), and counting
GPUs and fabric devices needs none; RDMA jobs that pin memory add IPC_LOCK themselves."""
EXCEPTIONS = {
    "CKV_K8S_21": "the NCCL settings are for users' pods, which run in the default namespace unless they "
    "choose another, and a pod can read a ConfigMap only in its own namespace; the check runs where such "
    "pods run",
    "CKV_K8S_43": "the check image is pinned by tag, not digest: a digest cannot be resolved offline, and "
    "the same tag is pulled on every architecture",
}
"""checkov checks a manifest of ours fails on purpose, and why. `tests/k8s/test_manifests.py` proves each is
still needed."""

CHECK_IMAGES = {
    GpuVendor.NVIDIA: "nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04",
    GpuVendor.AMD: "docker.io/rocm/rocm-terminal:6.4.1",
}
"""Images of the GPU check: NVIDIA's CUDA base image (nvidia-smi comes from the host's driver through the
container toolkit) and AMD's ROCm terminal image (rocm-smi)."""
CHECK_USER = 65534
"""The check runs as nobody: a high UID that no host user has."""
AMD_DEVICE_GROUPS = (44, 110)
"""Supplementary groups of the AMD check: video and render on Ubuntu hosts, the owners of /dev/dri and
/dev/kfd (AMD's own GPU check example uses the same)."""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the check's script) as literal blocks, so the files read like the templates."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(document: dict[str, Any]) -> str:
    """One document as YAML, keys in the template's order."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100)


@dataclass(frozen=True)
class Manifest:
    """One file of Kubernetes documents."""

    name: str
    """File stem: `<name>.yaml`."""
    documents: tuple[dict[str, Any], ...]
    applied: bool
    """True: Pulumi applies it; False: written for users to `kubectl apply -f`."""
    exceptions: tuple[str, ...] = ()
    """checkov check ids it fails on purpose (reasons in EXCEPTIONS)."""

    @property
    def text(self) -> str:
        how = "applied by Pulumi" if self.applied else f"apply it yourself: kubectl apply -f {self.name}.yaml"
        header = [f"# {self.name}: rendered by provisioner; {how}."]
        header += [f"# checkov {check} skipped: {EXCEPTIONS[check]}." for check in self.exceptions]
        body = "---\n".join(dump(doc) for doc in self.documents)
        return "\n".join(header) + "\n---\n" + body


@dataclass(frozen=True)
class Toleration:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class ValuesContext:
    """Everything a values template needs, resolved from the plan."""

    cluster: str
    release: HelmReleasePlan
    node_selector: dict[str, str]
    """Labels of the nodes the chart's daemonsets serve (its GPU vendor's or its fabric's)."""
    tolerations: list[dict[str, str]]
    """Tolerations of the taints of those nodes."""
    system_selector: dict[str, str]
    """Labels of the system nodes, for controllers (the GPU operator, NFD's master and garbage collector)."""
    instance_types: list[str]
    """Shapes of the nodes the chart serves."""
    operator_driver: bool
    """The GPU operator installs the driver (False: the node image carries it)."""
    operator_toolkit: bool
    """The GPU operator installs the container toolkit (False: the node image carries it)."""
    cdi: bool
    """The GPU operator injects GPUs through CDI, with the toolkit it deploys (it generates the CDI specs)."""
    dcgm_exporter: bool
    mig_manager: bool
    """The GPU operator's MIG manager: only where MIG partitions are declared (the spec has none yet)."""


@dataclass(frozen=True)
class NamespaceContext:
    name: str
    level: str
    """Pod Security Standard enforced: 'privileged' or 'restricted'."""
    reason: str
    components: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GroupContext:
    """One node group, for the NCCL ConfigMap and the GPU check."""

    cluster: str
    pool: str
    vendor: str
    nodes: int
    gpu_resource: str
    gpus_per_node: int
    fabric: str
    fabric_resource: str | None
    fabric_devices_per_node: int
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]
    nccl: tuple[NcclSetting, ...]
    config_map: str
    namespace: str
    image: str
    user: int
    groups: list[int]
    capabilities: dict[str, str]
    """Capabilities the check adds, with why."""


def _yaml_block(value: object, indent: int) -> str:
    """A mapping or list as a YAML block under a key (`key:{{ x | yaml_block(4) }}`); empty ones inline."""
    plain = json.loads(json.dumps(value))  # tuples to lists, and only JSON types
    if not plain:
        return " " + json.dumps(plain)
    text = yaml.safe_dump(plain, default_flow_style=False, sort_keys=False, width=100).rstrip("\n")
    pad = " " * indent
    return "\n" + "\n".join(pad + line for line in text.splitlines())


@cache
def _environment() -> jinja2.Environment:
    """Like the bootstrap's environment (same templates folder, StrictUndefined), plus `yaml_block`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # YAML, not HTML
    )
    env.filters["yaml_block"] = _yaml_block
    return env


def _template(path: str) -> jinja2.Template:
    try:
        return _environment().get_template(path)
    except jinja2.TemplateNotFound:
        raise ValueError(f"no template {path!r} under {templates_dir()}") from None


def _kubernetes(plan: ClusterPlan) -> KubernetesPlan:
    if plan.kubernetes is None:
        raise ValueError(f"cluster {plan.name!r} has no Kubernetes scheduler")
    return plan.kubernetes


def _pool(plan: ClusterPlan, name: str) -> PoolPlan:
    found = plan.pool_named(name)
    if found is None:
        raise ValueError(f"node group {name!r} has no pool in the plan of {plan.name!r}")
    return found


def _tolerations(groups: Iterable[KubeNodeGroupPlan]) -> list[dict[str, str]]:
    """Tolerations of every taint of the groups, each once, in the plan's order."""
    seen = dict.fromkeys(Toleration(t.key, t.value, t.effect) for g in groups for t in g.taints)
    return [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect} for t in seen]


def served_groups(k8s: KubernetesPlan, release: HelmReleasePlan) -> list[KubeNodeGroupPlan]:
    """The node groups whose GPUs or fabric devices the release's device plugin advertises."""
    if release.resource is None:
        return list(k8s.node_groups)
    return [g for g in k8s.node_groups if release.resource in (g.gpu_resource, g.fabric_resource)]


def _shared_label(groups: list[KubeNodeGroupPlan], key: str) -> dict[str, str]:
    values = {g.labels.get(key) for g in groups}
    (value,) = values if len(values) == 1 else (None,)
    if value is None:
        pools = [g.pool for g in groups]
        raise ValueError(f"the node groups {pools} do not share one {key!r} label: {values}")
    return {key: value}


def _release_selector(k8s: KubernetesPlan, release: HelmReleasePlan) -> dict[str, str]:
    groups = served_groups(k8s, release)
    if not groups:
        return {}
    fabric = release.resource is not None and all(release.resource == g.fabric_resource for g in groups)
    return _shared_label(groups, FABRIC_LABEL if fabric else VENDOR_LABEL)


def values_context(plan: ClusterPlan, release: HelmReleasePlan) -> ValuesContext:
    k8s = _kubernetes(plan)
    groups = served_groups(k8s, release)
    operator_installs = not k8s.image_ships_driver
    return ValuesContext(
        cluster=plan.name,
        release=release,
        node_selector=_release_selector(k8s, release),
        tolerations=_tolerations(groups),
        system_selector={ROLE_LABEL: k8s.system.role},
        instance_types=list(dict.fromkeys(_pool(plan, g.pool).instance_type for g in groups)),
        operator_driver=operator_installs,
        operator_toolkit=operator_installs,
        cdi=operator_installs,
        dcgm_exporter=k8s.dcgm_exporter,
        mig_manager=False,
    )


def values_yaml(plan: ClusterPlan, release: HelmReleasePlan) -> str:
    """The values of a release as YAML, with the template's comments (what `provisioner render` writes).

    Keys set to null delete a chart default (Helm's rule); pass this text as a values file where an SDK drops
    null map entries (Pulumi's Python SDK does)."""
    return _template(f"kubernetes/values/{release.name}.yaml.j2").render(ctx=values_context(plan, release))


def helm_values(plan: ClusterPlan, release: HelmReleasePlan) -> dict[str, Any]:
    """The values of a Helm release of the plan, parsed."""
    values = yaml.safe_load(values_yaml(plan, release))
    if not isinstance(values, dict):
        raise ValueError(f"values of {release.name!r} are not a mapping")
    return values


def _documents(path: str, **context: object) -> tuple[dict[str, Any], ...]:
    text = _template(path).render(**context)
    return tuple(doc for doc in yaml.safe_load_all(text) if doc)


def namespace_contexts(k8s: KubernetesPlan) -> list[NamespaceContext]:
    """The releases' own namespaces, each once, privileged only where a component in it needs it."""
    by_namespace: dict[str, list[str]] = {}
    for release in k8s.releases:
        if release.namespace not in CLUSTER_NAMESPACES:
            by_namespace.setdefault(release.namespace, []).append(release.name)
    contexts = []
    for name, components in by_namespace.items():
        reasons = [f"{c}: {PRIVILEGED_REASONS[c]}" for c in components if c in PRIVILEGED_REASONS]
        level = "privileged" if reasons else "restricted"
        reason = "; ".join(reasons) or "no component in it needs more than the restricted standard"
        contexts.append(NamespaceContext(name, level, reason, components))
    return contexts


def group_context(plan: ClusterPlan, group: KubeNodeGroupPlan) -> GroupContext:
    pool = _pool(plan, group.pool)
    vendor = pool.gpu_vendor
    fabric = group.fabric_resource is not None and group.fabric_devices_per_node > 0
    return GroupContext(
        cluster=plan.name,
        pool=group.pool,
        vendor=vendor.value,
        nodes=group.nodes,
        gpu_resource=group.gpu_resource,
        gpus_per_node=group.gpus_per_node,
        fabric=pool.interconnect.value,
        fabric_resource=group.fabric_resource if fabric else None,
        fabric_devices_per_node=group.fabric_devices_per_node if fabric else 0,
        node_selector={POOL_LABEL: group.labels[POOL_LABEL]},
        tolerations=_tolerations([group]),
        nccl=nccl_settings(pool.interconnect),
        config_map=f"nccl-{group.pool}",
        namespace=WORKLOAD_NAMESPACE,
        image=CHECK_IMAGES[vendor],
        user=CHECK_USER,
        groups=list(AMD_DEVICE_GROUPS) if vendor is GpuVendor.AMD else [],
        capabilities=dict(CAPABILITY_REASONS),
    )


def _labels(plan: ClusterPlan) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "provisioner", f"{LABEL_PREFIX}/cluster": plan.name}


def manifests(plan: ClusterPlan) -> list[Manifest]:
    """Our manifests, in a stable order: namespaces, then per node group its NCCL ConfigMap and GPU check."""
    k8s = _kubernetes(plan)
    labels = _labels(plan)
    result: list[Manifest] = []
    namespaces = namespace_contexts(k8s)
    if namespaces:
        docs = _documents(
            "kubernetes/manifests/namespaces.yaml.j2",
            namespaces=namespaces,
            labels=labels,
            version=k8s.version,
        )
        result.append(Manifest("namespaces", docs, applied=True))
    for group in k8s.node_groups:
        ctx = group_context(plan, group)
        nccl = _documents("kubernetes/manifests/nccl.yaml.j2", group=ctx, labels=labels)
        result.append(Manifest(ctx.config_map, nccl, applied=True, exceptions=("CKV_K8S_21",)))
        check = _documents("kubernetes/manifests/gpu-check.yaml.j2", group=ctx, labels=labels)
        skipped = ("CKV_K8S_21", "CKV_K8S_43", *(("CKV_K8S_25",) if ctx.capabilities else ()))
        result.append(Manifest(f"gpu-check-{group.pool}", check, applied=False, exceptions=skipped))
    return result
