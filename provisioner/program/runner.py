"""Run a user's Pulumi program offline, under the SDK's mock runtime, and record what `pulumi up` would do.

`run_program(PATH)` runs a Python file that declares clusters, or a Pulumi stack directory with its config,
and returns a `RunResult` (pure data, rendered by `provisioner.review`). No credentials, no network.

Each run is isolated: it runs in a copy of the current `contextvars` context (Pulumi keeps its settings,
config and root stack in context variables) on a fresh event loop, so runs can follow each other in one
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import runpy
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from provisioner.component import COMPONENT_TYPE
from provisioner.program.failures import classify
from provisioner.program.loader import ProgramTarget, load_target
from provisioner.program.mocks import FakeCloud, LogCapture, Recorder, RecordingMonitor
from provisioner.program.sanitize import REDACTED, json_safe
from provisioner.program.session import PlanSession, set_session
from provisioner.review.model import ClusterRun, LogLine, ProgramSource, RecordedResource, RunResult
from provisioner.spec import Cluster, ProviderName
from provisioner.validate import Finding, error

_KEEP_LOADED = frozenset({"provisioner", "pulumi", "pulumi_aws", "pulumi_gcp"})
"""Packages never unloaded after a run, even when the program lives next to them."""


def run_program(
    path: Path,
    stack: str | None = None,
    display: str | None = None,
    on: tuple[ProviderName, str] | None = None,
) -> RunResult:
    """Plan the program at `path` (every cluster moved to `on` = (provider, region), if given). Raises
    `ProgramLoadError` when `path` is not a program (usage mistake)."""
    return run_target(load_target(path, stack, display), on)


def run_target(target: ProgramTarget, on: tuple[ProviderName, str] | None = None) -> RunResult:
    context = contextvars.copy_context()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return context.run(_run_isolated, target, on)
    # called from async code (a notebook, a server): the run needs an event loop of its own
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, _run_isolated, target, on).result()


@dataclass
class _Run:
    target: ProgramTarget
    recorder: Recorder
    session: PlanSession = field(default_factory=PlanSession)
    log: LogCapture = field(default_factory=LogCapture)
    implicit: set[str] = field(default_factory=set)
    exports: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


def _run_isolated(target: ProgramTarget, on: tuple[ProviderName, str] | None = None) -> RunResult:
    region = on[1] if on else target.config.get("aws:region") or target.config.get("gcp:region")
    state = _Run(target, Recorder(region))
    state.session.target = on
    set_session(state.session)
    previous = _current_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with _program_environment(target):
            _configure_runtime(state)
            _execute(state)
    finally:
        _close_loop(loop)
        asyncio.set_event_loop(previous)
    return _collect(state)


def _current_loop() -> asyncio.AbstractEventLoop | None:
    """This thread's event loop, if one is set, without creating one (as `get_event_loop()` would)."""
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    loop = getattr(local, "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


@contextlib.contextmanager
def _program_environment(target: ProgramTarget) -> Iterator[None]:
    """The program's directory first on sys.path (and as working directory for stacks), then undone."""
    saved_path, saved_argv, saved_cwd = list(sys.path), list(sys.argv), os.getcwd()
    before = set(sys.modules)
    sys.path.insert(0, str(target.root))
    sys.argv = [str(target.main)]
    if target.kind == "stack":
        os.chdir(target.root)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path[:], sys.argv = saved_path, saved_argv
        _forget_program_modules(before, target.root)


def _forget_program_modules(before: set[str], root: Path) -> None:
    """Drop the program's own modules, so that the next run imports its (maybe different) helpers afresh."""
    for name in set(sys.modules) - before:
        filename = getattr(sys.modules[name], "__file__", None)
        if name.partition(".")[0] in _KEEP_LOADED or not filename or "site-packages" in filename:
            continue
        if Path(filename).resolve().is_relative_to(root):
            del sys.modules[name]


def _configure_runtime(state: _Run) -> None:
    target = state.target
    pulumi_settings.ROOT.set(None)
    pulumi_settings.SETTINGS.outputs = set()
    pulumi_settings.SETTINGS.lock = threading.Lock()
    pulumi.runtime.set_all_config(dict(target.config), list(target.secret_keys))
    monitor = RecordingMonitor(FakeCloud(state.recorder))
    pulumi.runtime.set_mocks(
        monitor.mocks,
        project=target.project,
        stack=target.stack,
        preview=False,
        logger=state.log.logger,
        monitor=monitor,
        organization="organization",  # what Pulumi reports for stacks outside Pulumi Cloud
    )
    pulumi_settings.SETTINGS.root_directory = str(target.project_dir)


def _execute(state: _Run) -> None:
    async def finish() -> None:
        state.exports = await _resolve_exports()

    def program() -> Any:
        namespace = runpy.run_path(str(state.target.main), run_name="__main__")
        if state.target.kind == "file":
            _declare_bare_clusters(namespace, state)
        return finish()

    try:
        _sync_await(run_pulumi_func(program))
    except (Exception, SystemExit) as exc:
        state.error = exc


def _module_clusters(namespace: Mapping[str, Any]) -> list[Cluster]:
    """Clusters bound at module level, directly or in a list, tuple or dict, in definition order."""
    found: dict[int, Cluster] = {}
    for value in list(namespace.values()):
        items = (
            value.values()
            if isinstance(value, dict)
            else value
            if isinstance(value, list | tuple)
            else [value]
        )
        for item in items:
            if isinstance(item, Cluster):
                found.setdefault(id(item), item)
    return list(found.values())


def _declare_bare_clusters(namespace: Mapping[str, Any], state: _Run) -> None:
    from provisioner.component import GpuCluster

    for cluster in _module_clusters(namespace):
        if not state.session.declared(cluster):
            state.implicit.add(cluster.name)
            GpuCluster(cluster.name, cluster)


async def _resolve_exports() -> dict[str, Any]:
    root = pulumi_settings.get_root_resource()
    outputs: dict[str, Any] = dict(getattr(root, "outputs", None) or {})
    resolved: dict[str, Any] = {}
    for name in sorted(outputs):
        output = pulumi.Output.from_input(outputs[name])
        value = await output.future()
        resolved[name] = REDACTED if await output.is_secret() else json_safe(value)
    return resolved


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


def _owners(resources: Mapping[str, RecordedResource]) -> dict[str, str | None]:
    """URN -> name of the GpuCluster it belongs to (walking up the parents), or None."""
    owners: dict[str, str | None] = {}
    for urn in resources:
        chain: list[str] = []
        current: RecordedResource | None = resources[urn]
        owner: str | None = None
        while current is not None:
            if current.urn in owners:
                owner = owners[current.urn]
                break
            chain.append(current.urn)
            if current.type == COMPONENT_TYPE:
                owner = current.name
                break
            current = resources.get(current.parent) if current.parent else None
        owners.update(dict.fromkeys(chain, owner))
    return owners


def _duplicate_findings(duplicates: list[str]) -> list[Finding]:
    return [
        error(
            "duplicate-urn",
            urn.rsplit("::", 1)[-1],
            f"two resources have the URN {urn}; `pulumi up` would stop with 'Duplicate resource URN'",
            "give each GpuCluster (and each resource) a unique name",
        )
        for urn in sorted(set(duplicates))
    ]


def _collect(state: _Run) -> RunResult:
    target, resources = state.target, state.recorder.resources
    owners = _owners(resources)
    names = {entry.component_name for entry in state.session.clusters}
    clusters = tuple(
        ClusterRun(
            component=entry.component_name,
            plan=entry.plan,
            emitted=entry.emitted,
            implicit=entry.component_name in state.implicit,
            declaration=entry.declared_as or entry.cluster,
            resources=tuple(
                sorted(
                    (r for r in resources.values() if owners[r.urn] == entry.component_name),
                    key=RecordedResource.sort_key,
                )
            ),
        )
        for entry in state.session.clusters
    )
    other = tuple(
        sorted((r for r in resources.values() if owners[r.urn] not in names), key=RecordedResource.sort_key)
    )
    outcome = classify(state.error, target) if state.error is not None else None
    findings = (outcome.findings if outcome else []) + _duplicate_findings(state.recorder.duplicates)
    if outcome is None and not clusters and not other:
        findings.append(
            error(
                "no-clusters",
                target.display,
                "the program declares no Cluster and creates no GpuCluster, so there is nothing to plan",
                "declare `cluster = Cluster(...)` at module level, or create `GpuCluster(name, cluster)`",
            )
        )
    notes = [LogLine("info", note) for note in target.notes]
    return RunResult(
        source=ProgramSource(
            path=target.display, kind=target.kind, project=target.project, stack=target.stack
        ),
        clusters=clusters,
        other_resources=other,
        findings=tuple(findings),
        failure=outcome.failure if outcome else None,
        exports=state.exports,
        log=tuple(notes + state.log.lines),
    )
