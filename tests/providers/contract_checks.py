"""The provider contract, as checker functions over a `Recording` (tests/providers/contract_harness.py).

Each `check_*` returns the violations it finds, one line each, naming the resource: an empty list means the
recording keeps that part of the contract. What differs between clouds (which types are groups, how a
firewall rule or a disk is written) comes from the provider's `ProviderContract` entry, a table of small
predicates kept in test_contract.py; the checkers themselves know no cloud.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import importlib
import inspect
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from contract_harness import Recording, Resource

from provisioner.catalog import Catalog
from provisioner.component import COMPONENT_TYPE
from provisioner.plan import ClusterPlan
from provisioner.program.mocks import fake_outputs
from provisioner.spec import Cluster
from provisioner.spec.options import ProviderOptions

Problems = list[str]
WORLD = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fe80::/10")
)
"""Ranges nobody reaches from the internet: a rule from them is node-to-node or private-service traffic."""
SSH_PORT = 22


@dataclass(frozen=True)
class Ingress:
    """One inbound rule, whatever the cloud calls it: from these CIDRs, this protocol, these ports."""

    resource: str
    cidrs: tuple[str, ...]
    protocol: str
    """'tcp', 'udp', 'icmp', ... or 'all'."""
    ports: tuple[tuple[int, int], ...] | None = None
    """Inclusive port ranges; None = every port."""

    def covers(self, port: int) -> bool:
        if self.protocol not in ("tcp", "all", "-1", "6"):
            return False
        return self.ports is None or any(low <= port <= high for low, high in self.ports)


@dataclass(frozen=True)
class ProviderContract:
    """What the contract needs to know of one provider: a few facts and predicates over recorded resources.

    Predicates take one `Resource` (its type, name and inputs, by their wire names) and the `Context`, and
    return the problems they find (empty = fine)."""

    package: str
    """Pulumi package of its cloud resources ('aws' of 'aws:ec2/vpc:Vpc'); its explicit provider is
    'pulumi:providers:<package>'."""
    region: str
    """Region of the reference declaration (the catalog's regions of the H100 shape win when they omit it)."""
    options: Callable[[str | None], ProviderOptions | None]
    """The declaration's options, given the KMS key of the encryption variant (None = no key)."""
    kms_key: str
    """A customer key, as the declaration names it."""
    tag_field: str
    """Per-resource field of the cluster's tags ('tags', 'labels')."""
    default_tags: Callable[[Mapping[str, Any]], Mapping[str, str]]
    """The tags an explicit provider puts on every taggable resource, from the provider's inputs."""
    provider_settings: Callable[[Cluster], Mapping[str, Any]]
    """Inputs the explicit provider must have so that the declared region/project win."""
    ingress: Callable[[Resource], list[Ingress]]
    """The inbound rules a resource opens (empty for anything else)."""
    machine_types: frozenset[str]
    """Types that launch machines from an image and user data (templates, instances)."""
    hardening: Callable[[Resource, Context], Problems]
    encryption: Callable[[Resource, Recording, Context], Problems]
    filesystem_types: frozenset[str]
    bucket_types: frozenset[str]
    deletion_protected: Callable[[Resource], bool]
    """Protection the cloud enforces besides Pulumi's `protect` (deletion protection, a PREVENT policy)."""
    secret_types: frozenset[str]
    """Secret-store entries; nodes must name them by id or ARN."""
    secret_holders: frozenset[str]
    """The only types whose inputs may hold a secret value (the secret store's versions)."""
    privilege: Callable[[Resource, Context], Problems]
    group_types: frozenset[str]
    """What creates nodes as a group (auto scaling group, managed instance group, fleet)."""
    instance_types: frozenset[str]
    """What creates one billed machine (allowed for support nodes only, never for a GPU pool)."""
    shape: Callable[[Resource], str | None]
    """Machine shape of an `instance_types` resource."""
    defaults_skip: frozenset[str] = frozenset()
    """Taggable types the provider's default tags do not reach (AWS: auto scaling groups)."""
    declared_ssh: Callable[[Cluster], Sequence[str]] = lambda c: [str(n) for n in c.network.ssh_cidrs]
    """Ranges the declaration allows SSH from."""
    storage_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Arguments of the reference filesystems by kind ('lustre'), where the provider's minimums differ."""
    explicit_provider: bool = True
    """Its resources go through one explicit Pulumi provider (False: Pulumi dynamic resources, which carry
    their cloud settings in their own inputs; then `placement` checks each of them)."""
    placement: Callable[[Resource, Context], Problems] = lambda r, ctx: []
    """Without an explicit provider: the problems with where one cloud resource goes (region, cloud)."""
    taggable: Callable[[Resource], bool] | None = None
    """Which cloud resources take tags; None = those whose SDK class has the `tag_field` parameter."""


@dataclass(frozen=True)
class Context:
    cluster: Cluster
    plan: ClusterPlan
    contract: ProviderContract
    catalog: Catalog
    kms_key: str | None = None


# --- reading recorded values --------------------------------------------------------------------------------


def unsecret(value: Any) -> Any:
    """The value inside a Pulumi secret envelope ({'4dabf18193072939515e22adb298388d': ..., 'value': v})."""
    if isinstance(value, dict) and "4dabf18193072939515e22adb298388d" in value:
        return value.get("value")
    return value


def as_mapping(value: Any) -> dict[str, Any]:
    """A provider's object input arrives as JSON text; a resource's as a mapping."""
    value = unsecret(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    value = unsecret(value)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def truthy(value: Any) -> bool:
    """pulumi_aws launch template booleans are strings ('true')."""
    value = unsecret(value)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def tag_dict(value: Any) -> dict[str, str]:
    """Tags as a mapping, or as a list of {key, value} (auto scaling groups)."""
    value = unsecret(value)
    if isinstance(value, Mapping):
        return {str(k): str(unsecret(v)) for k, v in value.items()}
    if isinstance(value, list):
        return {str(t.get("key")): str(t.get("value")) for t in value if isinstance(t, Mapping)}
    return {}


_B64 = re.compile(r"[A-Za-z0-9+/\r\n]+={0,2}")


def _decoded(text: str) -> str | None:
    """The text behind base64 (gzipped or not), when `text` is that."""
    if len(text) < 16 or not _B64.fullmatch(text):
        return None
    try:
        payload = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return None
    if payload[:2] == b"\x1f\x8b":
        try:
            payload = gzip.decompress(payload)
        except (OSError, EOFError):
            return None
    try:
        return payload.decode()
    except UnicodeDecodeError:
        return None


def texts(value: Any) -> Iterator[str]:
    """Every string in a value, and what base64 (and gzip) hides (user data travels encoded)."""
    if isinstance(value, str):
        yield value
        decoded = _decoded(value)
        if decoded is not None:
            yield decoded
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts(item)


def policy_documents(value: Any) -> Iterator[dict[str, Any]]:
    """IAM policy documents in an input (JSON text or a mapping)."""
    doc = as_mapping(value)
    if "Statement" in doc:
        yield doc


@cache
def sdk_parameters(type_token: str) -> frozenset[str]:
    """The Python parameters of a resource's SDK class ('aws:ec2/vpc:Vpc' -> pulumi_aws.ec2.Vpc), or none
    when the class cannot be found (then the resource is not treated as taggable)."""
    package, _, rest = type_token.partition(":")
    module, _, kind = rest.partition(":")
    module = module.split("/")[0]
    try:
        sdk = importlib.import_module(f"pulumi_{package}" + ("" if module == "index" else f".{module}"))
        cls = getattr(sdk, kind)
        return frozenset(inspect.signature(cls._internal_init).parameters)
    except (ImportError, AttributeError, TypeError, ValueError):
        return frozenset()


def cloud_resources(rec: Recording, ctx: Context) -> list[Resource]:
    """The provider's custom resources: what `pulumi up` would create in the cloud."""
    return [r for r in rec if r.custom and r.package == ctx.contract.package]


def machines(rec: Recording, ctx: Context) -> list[Resource]:
    return [r for r in rec if r.kind in ctx.contract.machine_types]


def fake_refs(resource: Resource, region: str) -> set[str]:
    """What a program may use to name `resource`: the fake cloud's id, ARN and name, its own id inputs."""
    id_, state = fake_outputs(resource.type, resource.name, resource.inputs, region)
    refs = {id_, *(str(state.get(k)) for k in ("arn", "name", "secretId", "id") if state.get(k))}
    refs |= {str(resource.inputs[k]) for k in ("secretId", "name") if isinstance(resource.inputs.get(k), str)}
    return {ref for ref in refs if len(ref) >= 6}


# --- 1. names and URNs --------------------------------------------------------------------------------------


def check_names(rec: Recording, ctx: Context) -> Problems:
    """Names start with the cluster's, and everything is parented under its GpuCluster (stable URNs)."""
    name = ctx.cluster.name
    problems = [
        f"{r.type} {r.name!r}: its name does not start with the cluster name {name!r} ({name}-...)"
        for r in rec
        if r.name != name and not r.name.startswith(f"{name}-")
    ]
    problems += [
        f"{r.type} {r.name!r}: not parented under the GpuCluster {name!r} (its URN would not follow it)"
        for r in rec
        if r.type != COMPONENT_TYPE and not any(a.type == COMPONENT_TYPE for a in rec.ancestors(r))
    ]
    return problems


def check_urns_kept(before: Recording, after: Recording, why: str) -> Problems:
    """Every URN of `before` is still in `after` (a changed URN replaces a running resource)."""
    return [f"{urn}: its URN is gone {why}" for urn in sorted(before.urns - after.urns)]


def check_same_urns(first: Recording, second: Recording) -> Problems:
    return check_urns_kept(first, second, "on a second emit of the same declaration") + check_urns_kept(
        second, first, "(it appeared only on the second emit of the same declaration)"
    )


# --- 2. tags and the explicit provider ----------------------------------------------------------------------


def cluster_providers(rec: Recording, ctx: Context) -> list[Resource]:
    """The explicit providers of the cluster's package, created under its GpuCluster."""
    kind = f"pulumi:providers:{ctx.contract.package}"
    return [
        r
        for r in rec
        if r.type == kind
        and r.name.startswith(ctx.cluster.name)
        and any(a.type == COMPONENT_TYPE for a in rec.ancestors(r))
    ]


def check_provider(rec: Recording, ctx: Context) -> Problems:
    """One explicit provider with the declared settings, and every cloud resource on it (or, for dynamic
    resources, the declared settings in each resource's own inputs)."""
    if not ctx.contract.explicit_provider:
        found = cloud_resources(rec, ctx)
        if not found:
            return [f"no {ctx.contract.package} resource was emitted: nothing to check"]
        return [p for r in found for p in ctx.contract.placement(r, ctx)]
    providers = cluster_providers(rec, ctx)
    if len(providers) != 1:
        found = [p.name for p in providers]
        return [
            f"expected one explicit pulumi:providers:{ctx.contract.package} under the cluster, got {found}"
        ]
    provider = providers[0]
    problems = [
        f"provider {provider.name!r}: {key} is {provider.inputs.get(key)!r}, the declaration says {want!r}"
        for key, want in ctx.contract.provider_settings(ctx.cluster).items()
        if provider.inputs.get(key) != want
    ]
    for r in cloud_resources(rec, ctx):
        if r.provider_urn != provider.urn:
            used = r.provider_urn.rsplit("::", 1)[-1] if r.provider_urn else "the default provider"
            problems.append(
                f"{r.type} {r.name!r}: created with {used}, not the cluster's provider {provider.name!r} "
                "(the stack's region/project would win over the declaration's)"
            )
    return problems


def check_tags(rec: Recording, ctx: Context) -> Problems:
    """Every taggable cloud resource carries the declared tags: its own, or its provider's defaults."""
    want = dict(ctx.cluster.tags)
    if not want:
        return ["the reference declaration has no tags: nothing to check"]
    providers = {p.urn: p for p in rec if p.is_provider}
    field_name = ctx.contract.tag_field
    problems = []
    for r in cloud_resources(rec, ctx):
        taggable = ctx.contract.taggable
        if not (taggable(r) if taggable is not None else field_name in sdk_parameters(r.type)):
            continue  # the cloud cannot tag it
        have = tag_dict(r.inputs.get(field_name))
        provider = providers.get(r.provider_urn or "")
        if provider is not None and r.kind not in ctx.contract.defaults_skip:
            have = {**ctx.contract.default_tags(provider.inputs), **have}
        missing = {k: v for k, v in want.items() if have.get(k) != v}
        if missing:
            problems.append(
                f"{r.type} {r.name!r}: lacks the cluster's tags {missing} (neither its `{field_name}` nor "
                "its provider's defaults carry them)"
            )
    return problems


# --- 3. no SSH or anything else open to the world -----------------------------------------------------------


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def _within(net: ipaddress.IPv4Network | ipaddress.IPv6Network, ranges: Sequence[str]) -> bool:
    for text in ranges:
        other = _network(text)
        if other is not None and other.version == net.version and net.subnet_of(other):  # type: ignore[arg-type]
            return True
    return False


def check_ingress(rec: Recording, ctx: Context) -> Problems:
    """No inbound rule from 0.0.0.0/0 or ::/0 unless declared; SSH only from the declared ranges (or from
    private ranges: node-to-node traffic)."""
    declared = list(ctx.contract.declared_ssh(ctx.cluster))
    problems = []
    for r in rec:
        for rule in ctx.contract.ingress(r):
            for cidr in rule.cidrs:
                net = _network(cidr)
                if net is None:
                    problems.append(f"{r.type} {r.name!r}: ingress from {cidr!r}, not a network")
                    continue
                if net.prefixlen == 0 and not _within(net, declared):
                    ports = "every port" if rule.ports is None else f"ports {list(rule.ports)}"
                    problems.append(
                        f"{r.type} {r.name!r}: ingress from the whole internet ({cidr}, {rule.protocol} "
                        f"{ports}) that the declaration did not ask for"
                    )
                elif (
                    rule.covers(SSH_PORT)
                    and not _within(net, declared)
                    and not _within(net, [str(n) for n in INTERNAL])
                    and not _within(net, [str(ctx.cluster.network.cidr)])
                ):
                    problems.append(
                        f"{r.type} {r.name!r}: SSH (port 22) from {cidr}, which is not among the declared "
                        f"ssh ranges {declared}"
                    )
    return problems


# --- 4. encryption ------------------------------------------------------------------------------------------


def check_encryption(rec: Recording, ctx: Context) -> Problems:
    return [p for r in rec for p in ctx.contract.encryption(r, rec, ctx)]


# --- 5. metadata hardening ----------------------------------------------------------------------------------


def check_hardening(rec: Recording, ctx: Context) -> Problems:
    found = machines(rec, ctx)
    if not found:
        return [f"no machine resource ({sorted(ctx.contract.machine_types)}) was emitted: nothing to check"]
    return [p for r in found for p in ctx.contract.hardening(r, ctx)]


# --- 6. no secret in user data ------------------------------------------------------------------------------


def check_no_secret_values(rec: Recording, ctx: Context) -> Problems:
    """No generated secret value in any input, except the secret store's own versions."""
    problems = []
    for r in rec:
        if r.kind in ctx.contract.secret_holders or r.package == "random":
            continue
        for text in texts(r.inputs):
            for label, secret in rec.secrets.items():
                if secret in text:
                    problems.append(f"{r.type} {r.name!r}: its inputs hold the value of the secret {label}")
    return sorted(set(problems))


def check_secret_references(rec: Recording, ctx: Context) -> Problems:
    """Each secret-store entry is named (by id, ARN or name) in some machine's inputs: nodes fetch it."""
    machine_text = "\n".join(t for m in machines(rec, ctx) for t in texts(m.inputs))
    problems = []
    for secret in (r for r in rec if r.kind in ctx.contract.secret_types):
        refs = fake_refs(secret, ctx.cluster.region)
        if not any(ref in machine_text for ref in refs):
            problems.append(
                f"{secret.type} {secret.name!r}: no node's user data names it by id/ARN ({sorted(refs)}), "
                "so no node can fetch it"
            )
    return problems


# --- 7. stateful storage protected --------------------------------------------------------------------------


def stateful(rec: Recording, ctx: Context) -> list[Resource]:
    kinds = ctx.contract.filesystem_types | ctx.contract.bucket_types
    return [r for r in rec if r.kind in kinds]


def check_protected(rec: Recording, ctx: Context) -> Problems:
    return [
        f"{r.type} {r.name!r}: stateful storage without protect=True or deletion protection"
        for r in stateful(rec, ctx)
        if not r.protect and not ctx.contract.deletion_protected(r)
    ]


# --- 8. least privilege -------------------------------------------------------------------------------------


def check_privilege(rec: Recording, ctx: Context) -> Problems:
    return [p for r in rec for p in ctx.contract.privilege(r, ctx)]


def wildcard_statements(doc: Mapping[str, Any]) -> list[str]:
    """Allow statements of an IAM policy that grant every action, or every action of a service."""
    found = []
    for statement in as_list(doc.get("Statement")):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            found.append(f"Allow with NotAction {statement['NotAction']!r}")
        for action in as_list(statement.get("Action")):
            if action == "*" or str(action).endswith(":*"):
                found.append(f"Allow of {action!r}")
        if statement.get("Principal") in ("*", {"AWS": "*"}) and "Condition" not in statement:
            found.append("Allow to Principal '*'")
    return found


# --- 9. groups, not nodes -----------------------------------------------------------------------------------


def check_groups(rec: Recording, ctx: Context) -> Problems:
    """Every GPU pool is a group; single machines are support nodes (no GPU shape)."""
    groups = [r for r in rec if r.kind in ctx.contract.group_types]
    problems = []
    if len(groups) < len(ctx.plan.pools):
        problems.append(
            f"{len(ctx.plan.pools)} pools but {len(groups)} group resources "
            f"({sorted(ctx.contract.group_types)}): {[g.name for g in groups]}"
        )
    pool_shapes = {p.instance_type for p in ctx.plan.pools}
    for r in rec:
        if r.kind not in ctx.contract.instance_types:
            continue
        shape = ctx.contract.shape(r)
        offer = ctx.catalog.offer(ctx.contract.package, shape) if shape else None
        if shape is None or shape in pool_shapes or (offer is not None and offer.is_gpu):
            problems.append(
                f"{r.type} {r.name!r}: a single billed instance of shape {shape!r}; GPU nodes must be "
                f"created as a group ({sorted(ctx.contract.group_types)})"
            )
    return problems


CHECKS: dict[str, Callable[[Recording, Context], Problems]] = {
    "names": check_names,
    "provider": check_provider,
    "tags": check_tags,
    "ingress": check_ingress,
    "encryption": check_encryption,
    "hardening": check_hardening,
    "secret-values": check_no_secret_values,
    "secret-references": check_secret_references,
    "protected": check_protected,
    "privilege": check_privilege,
    "groups": check_groups,
}
"""Checks of one recording, by name (the URN checks compare two recordings)."""


def report(problems: Problems, what: str) -> str:
    return f"{what}: {len(problems)} contract violation(s):\n  - " + "\n  - ".join(problems)
