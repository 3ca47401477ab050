"""Which changed resources hold data or GPUs, and the loud warnings for deleting or replacing them.

A reviewer skims a diff; a replaced file system or a terminated H100 group must not be one line among fifty.
Stateful is told from the type (`diff_rules.STATEFUL_KINDS`) or from `protect` (the program protects what it
cannot lose). A GPU group is a machine group (`GPU_GROUP_KINDS`) that belongs to a plan pool with GPUs: by
the pool's name in the resource's name (`llm-train-gpu-asg` is pool `gpu` of `llm-train`), or by the
pool's instance type among its inputs (an EC2 instance, a REST pool). The pool then says what is at stake.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from provisioner.review.diff_model import Action, DiffWarning, ResourceChange, Severity
from provisioner.review.diff_rules import (
    GPU_GROUP_KINDS,
    GPU_TEMPLATE_KINDS,
    ROLLING_KEYS,
    SIZE_KEYS,
    STATEFUL_KINDS,
    resource_kind,
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _has_gpus(pool: Mapping[str, Any]) -> bool:
    counts = (pool.get("total_gpus"), pool.get("gpus_per_node"))
    return any(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in counts)


def _contains(tokens: list[str], part: list[str]) -> bool:
    return any(tokens[i : i + len(part)] == part for i in range(len(tokens) - len(part) + 1))


def _rolls_on_template_change(cluster: Mapping[str, Any]) -> bool:
    """An EKS managed node group rolls every node onto a new launch template version; our ASGs (no instance
    refresh) and MIGs (an OPPORTUNISTIC update policy) do not."""
    scheduler = cluster.get("scheduler")
    return isinstance(scheduler, Mapping) and scheduler.get("service") == "EKS"


def gpu_pool(resource: Mapping[str, Any], cluster: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The plan pool with GPUs that this machine group runs, or None."""
    if cluster is None or resource.get("type") is None:
        return None
    kind = resource_kind(resource)
    if kind in GPU_TEMPLATE_KINDS and not _rolls_on_template_change(cluster):
        return None  # an ASG or a MIG here: running nodes keep their template until they are recreated
    if kind not in GPU_GROUP_KINDS | GPU_TEMPLATE_KINDS:
        return None
    pools = [p for p in cluster.get("pools") or [] if isinstance(p, Mapping) and _has_gpus(p)]
    name, prefix = str(resource.get("name", "")), f"{cluster.get('name')}-"
    tokens = name.removeprefix(prefix).split("-")
    for pool in pools:
        if _contains(tokens, str(pool.get("name", "")).split("-")):
            return pool
    strings = set(_strings(resource.get("inputs") or {}))
    return next((p for p in pools if p.get("instance_type") in strings), None)


def describe_pool(pool: Mapping[str, Any]) -> str:
    """'8 x p5.48xlarge, 64 x H100, $440.32/h' (or 'price unknown')."""
    price = pool.get("price_per_hour")
    cost = f"${price:,.2f}/h" if isinstance(price, int | float) else "price unknown"
    nodes, shape = pool.get("nodes", "?"), pool.get("instance_type", "?")
    return f"{nodes} x {shape}, {pool.get('total_gpus', '?')} x {pool.get('gpu', 'GPU')}, {cost}"


def classify(
    change: ResourceChange,
    resource: Mapping[str, Any],
    cluster: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None = None,
    old_cluster: Mapping[str, Any] | None = None,
) -> ResourceChange:
    """`change` with `stateful` and `gpu_group` filled in (from either side of an update)."""
    pool = gpu_pool(resource, cluster) or (gpu_pool(old, old_cluster) if old is not None else None)
    stateful = (
        change.kind in STATEFUL_KINDS or bool(resource.get("protect")) or bool((old or {}).get("protect"))
    )
    return dataclasses.replace(
        change, stateful=stateful, gpu_group=None if pool is None else describe_pool(pool)
    )


def _quoted(keys: Sequence[str]) -> str:
    return ", ".join(f"`{k}`" for k in keys)


def _stateful_message(change: ResourceChange) -> str:
    if change.action is Action.DELETE:
        text = f"deletes `{change.name}` ({change.type}): everything stored on it is lost."
        guard = " It is protected, so `pulumi up` stops before deleting it; unprotecting it lets the data go."
    else:
        text = (
            f"replaces `{change.name}` ({change.type}): {_quoted(change.replace_keys)} cannot change in "
            "place, so a new one is created and the old one is deleted with its data."
        )
        guard = " It is protected, so `pulumi up` refuses to replace it until it is unprotected."
    return text + (guard if change.protect else "")


def _gpu_message(change: ResourceChange) -> str:
    verb = "deletes" if change.action is Action.DELETE else "replaces"
    why = (
        "" if change.action is Action.DELETE else f" ({_quoted(change.replace_keys)} cannot change in place)"
    )
    return (
        f"{verb} the GPU group `{change.name}` ({change.gpu_group}){why}: its nodes are terminated and their "
        "jobs killed, and the capacity may not be there to launch again."
    )


def _resource_warnings(change: ResourceChange) -> Iterator[DiffWarning]:
    if change.action in (Action.DELETE, Action.REPLACE):
        if change.stateful:
            yield DiffWarning(Severity.CAUTION, change.name, _stateful_message(change), change.urn)
        if change.gpu_group and change.kind in GPU_GROUP_KINDS:  # a template goes with its group
            yield DiffWarning(Severity.CAUTION, change.name, _gpu_message(change), change.urn)
        return
    if change.action is Action.UPDATE and change.gpu_group:
        yield from _gpu_update_warnings(change)
    unprotected = any(k.path == "options.protect" and k.after is False for k in change.keys)
    if unprotected and change.stateful:
        yield DiffWarning(
            Severity.WARNING,
            change.name,
            f"unprotects `{change.name}` ({change.type}): a later change can delete it and its data.",
            change.urn,
        )
    if change.action is Action.UPDATE and not change.replace_known and (change.stateful or change.gpu_group):
        yield DiffWarning(
            Severity.WARNING,
            change.name,
            f"changes `{change.name}` ({change.type}), a type without a replacement rule: "
            "check `pulumi preview` for a replacement before applying.",
            change.urn,
        )


def _head(path: str) -> str:
    return path.split("[", 1)[0].split(".", 1)[0]


def _gpu_update_warnings(change: ResourceChange) -> Iterator[DiffWarning]:
    """An update that still terminates GPU nodes: a template change that rolls the group, a smaller group."""
    if change.kind in GPU_TEMPLATE_KINDS:
        rolled = sorted({_head(k.path) for k in change.keys if _head(k.path) in ROLLING_KEYS})
        if rolled:
            yield DiffWarning(
                Severity.CAUTION,
                change.name,
                f"changes {_quoted(rolled)} of `{change.name}`, the template of a GPU group "
                f"({change.gpu_group}): every node of the group is replaced as it rolls out, its jobs "
                "killed, and the capacity may not be there to launch again.",
                change.urn,
            )
        return
    for key in change.keys:
        smaller = isinstance(key.before, int | float) and isinstance(key.after, int | float)
        if key.path in SIZE_KEYS and smaller and key.after < key.before:
            yield DiffWarning(
                Severity.WARNING,
                change.name,
                f"shrinks the GPU group `{change.name}` ({change.gpu_group}): `{key.path}` {key.before} -> "
                f"{key.after} terminates running nodes and their jobs.",
                change.urn,
            )
            return


def warnings_for(
    changes: Sequence[ResourceChange], failures: Sequence[tuple[str, str]] = ()
) -> tuple[DiffWarning, ...]:
    """Plan failures first (the diff is then incomplete), then cautions, then warnings."""
    found = [
        DiffWarning(
            Severity.CAUTION,
            f"{side} plan",
            f"the {side} plan did not finish ({message}): what it never reached shows as missing below.",
        )
        for side, message in failures
    ]
    found += [w for change in changes for w in _resource_warnings(change)]
    return tuple(sorted(found, key=lambda w: w.severity is not Severity.CAUTION))
