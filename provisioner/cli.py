"""The `provisioner` command: catalog, validate, plan, render, verify.

Exit codes: 0 success, 2 a finding is an ERROR or the command line is wrong (the user's to fix), 1 anything
else (the program failed to run, or an internal error). A mistake of the user's never prints a traceback.

Start-up stays fast: Pulumi, the provider SDKs and the renderers are imported inside the commands that use
them, never at module level.
"""

import contextlib
import enum
import json
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from provisioner import __version__

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from provisioner.bootstrap import RenderedPool
    from provisioner.catalog import Catalog, GpuModel
    from provisioner.plan import ClusterPlan
    from provisioner.review.model import ClusterRun, RunResult
    from provisioner.spec import ProviderName

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2
PIPE_WIDTH = 160
"""Columns of tables written to a pipe or a file (a terminal uses its own width)."""


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"


class ReviewFormat(enum.StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


app = typer.Typer(
    name="provisioner",
    help="Declarative GPU clusters on any cloud, through Pulumi: browse the catalog, validate, plan offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack", "-s", metavar="NAME", help="Stack of a Pulumi project directory (default: its only stack)."
    ),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks of failures.")]
ReviewFormatOption = Annotated[
    ReviewFormat,
    typer.Option(
        "--format", "-f", help="table (terminal), json (versioned, stable) or markdown (a PR comment)."
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write to this file instead of stdout.")
]
PathArgument = Annotated[
    Path,
    typer.Argument(
        help="A Python file that declares clusters, or a Pulumi stack directory.",
        show_default=False,
        metavar="PATH",
    ),
]


def _console(stderr: bool = False) -> "Console":
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else PIPE_WIDTH, soft_wrap=False)


def _fail(message: str, code: int) -> NoReturn:
    _console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _guard(debug: bool) -> Iterator[None]:
    """Internal errors: one line and exit 1 (with --debug, the traceback too)."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        hint = "" if debug else " (rerun with --debug for the traceback)"
        _fail(f"internal error: {detail}{hint}", EXIT_INTERNAL)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"provisioner {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Declarative GPU clusters on any cloud, through Pulumi."""


def _resolve_gpu(catalog: "Catalog", name: str) -> "GpuModel":
    model = catalog.resolve_gpu(name)
    if model is None:
        close = catalog.close_gpu_names(name)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else f"known: {', '.join(g.name for g in catalog.gpus)}"
        )
        _fail(f"unknown GPU {name!r}; {hint}", EXIT_USER)
    return model


def _check_provider(name: str) -> None:
    from provisioner.spec import ProviderName

    known = [p.value for p in ProviderName]
    if name not in known:
        _fail(f"unknown provider {name!r}; providers: {', '.join(known)}", EXIT_USER)


@app.command()
def catalog(
    gpu: Annotated[
        str | None,
        typer.Option("--gpu", metavar="GPU", help="Only this GPU model (aliases work: h100, a100-80gb)."),
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", metavar="PROVIDER", help="Only this provider, e.g. aws.")
    ] = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """List the catalog's shapes (offers): GPUs, fabric, list price ('unknown' when unknown)."""
    with _guard(debug=False):
        from provisioner.catalog import load_catalog
        from provisioner.review.catalog_view import offers_json, offers_table

        data = load_catalog()
        model = _resolve_gpu(data, gpu) if gpu else None
        if provider:
            _check_provider(provider)
        offers = data.find_offers(provider, model.name if model else None)
        if output is OutputFormat.json:
            sys.stdout.write(offers_json(offers))
            return
        if not offers:
            _console().print(_no_offers(data, model), highlight=False)
            return
        _console().print(offers_table(offers, f"Catalog offers ({len(offers)})"))


def _no_offers(data: "Catalog", model: "GpuModel | None") -> str:
    everywhere = sorted({o.provider for o in data.offers})
    if model is not None and data.providers_with_gpu(model.name):
        return (
            f"No offers match; {model.name} is offered on: {', '.join(data.providers_with_gpu(model.name))}."
        )
    return f"No offers match; the catalog has offers for: {', '.join(everywhere) or 'no provider yet'}."


def _target(provider: str | None, region: str | None) -> "tuple[ProviderName, str] | None":
    from provisioner.spec import ProviderName

    if provider is None and region is None:
        return None
    if provider is None or region is None:
        _fail(
            "--provider and --region go together: give both (e.g. --provider gcp --region us-central1)",
            EXIT_USER,
        )
    _check_provider(provider)
    return ProviderName(provider), region


def _run(
    path: Path, stack: str | None, debug: bool, on: "tuple[ProviderName, str] | None" = None
) -> "RunResult":
    from provisioner.program.loader import ProgramLoadError
    from provisioner.program.runner import run_program

    try:
        result = run_program(path, stack, display=str(path), on=on)
    except ProgramLoadError as exc:
        _fail(str(exc), EXIT_USER)
    if result.failure is not None and debug and result.failure.traceback:
        sys.stderr.write(result.failure.traceback)
    return result


def _emit(renderable: "RenderableType | str", out: Path | None, what: str) -> None:
    """Text as-is, rich renderables through a console; to stdout, or to `out` (without colours)."""
    if out is None:
        if isinstance(renderable, str):
            sys.stdout.write(renderable)
        else:
            _console().print(renderable)
        return
    try:
        handle = out.open("w", encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write {what} to {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    with handle:
        if isinstance(renderable, str):
            handle.write(renderable)
        else:
            from rich.console import Console

            Console(file=handle, width=PIPE_WIDTH, color_system=None, soft_wrap=False).print(renderable)
    typer.echo(f"wrote {what} to {out}", err=True)


@app.command()
def validate(
    path: PathArgument,
    stack: StackOption = None,
    output: FormatOption = OutputFormat.table,
    debug: DebugOption = False,
) -> None:
    """Check the clusters a program declares. Exit 0 when fine, 2 when a finding is an error."""
    with _guard(debug):
        result = _run(path, stack, debug)
        if output is OutputFormat.json:
            from provisioner.review.report import validation_json

            _emit(validation_json(result), None, "findings")
        else:
            from provisioner.review.table import validation_view

            _emit(validation_view(result), None, "findings")
    raise typer.Exit(result.exit_code)


@app.command()
def plan(
    path: PathArgument,
    output: ReviewFormatOption = ReviewFormat.table,
    stack: StackOption = None,
    out: OutOption = None,
    debug: DebugOption = False,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="NAME",
            help="Plan every cluster on this provider instead of its own (with --region): the same GPUs, "
            "storage and scheduler, the target's shapes, zones and images.",
        ),
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", metavar="REGION", help="The region to plan in, with --provider.")
    ] = None,
) -> None:
    """Run the program offline (Pulumi mocks, no credentials) and show what `pulumi up` would create."""
    with _guard(debug):
        result = _run(path, stack, debug, _target(provider, region))
        from provisioner.review.markdown import plan_markdown
        from provisioner.review.report import report_json
        from provisioner.review.table import run_view

        views = {ReviewFormat.json: report_json, ReviewFormat.markdown: plan_markdown}
        _emit(views.get(output, run_view)(result), out, "the plan")
    raise typer.Exit(result.exit_code)


def _plan_dict(source: str, stack: str | None, debug: bool) -> dict[str, Any]:
    """A JSON plan file as written by `plan --format json`, or a program or stack directory planned now."""
    from provisioner.review.diff import load_plan

    if source.endswith(".json"):
        return load_plan(source)
    from provisioner.review.report import report_dict

    plain: dict[str, Any] = json.loads(json.dumps(report_dict(_run(Path(source), stack, debug))))
    return plain  # as read back from a file: tuples as lists, so both sides compare alike


@app.command()
def diff(
    base: Annotated[str, typer.Argument(help="The plan before: a JSON plan file, a program or a stack dir.")],
    head: Annotated[str, typer.Argument(help="The plan after, the same way.")],
    output: ReviewFormatOption = ReviewFormat.table,
    stack: StackOption = None,
    out: OutOption = None,
    debug: DebugOption = False,
) -> None:
    """What changes from BASE to HEAD: resources added, removed, changed (the input keys) or replaced, a
    loud warning for stateful or GPU resources deleted or replaced, and the cost delta. Exit 0: no change;
    3: changes; 2: a plan could not be read, or did not plan cleanly (failed, or has errors)."""
    with _guard(debug):
        from provisioner.errors import ProvisionerError
        from provisioner.review.diff import diff_plans
        from provisioner.review.diff_render import diff_json, diff_markdown, diff_rich

        try:
            plans = _plan_dict(base, stack, debug), _plan_dict(head, stack, debug)
        except ProvisionerError as exc:  # not a plan, or a file that is not there: the user's to fix
            _fail(str(exc), EXIT_USER)
        changes = diff_plans(*plans)
        views = {ReviewFormat.json: diff_json, ReviewFormat.markdown: diff_markdown}
        _emit(views.get(output, diff_rich)(changes), out, "the diff")
    raise typer.Exit(changes.exit_code)


@app.command()
def quote(
    path: PathArgument,
    output: ReviewFormatOption = ReviewFormat.table,
    stack: StackOption = None,
    out: OutOption = None,
    debug: DebugOption = False,
) -> None:
    """The declared clusters priced on every provider that can host them (shape, nodes, $/h, price date),
    cheapest first, and why each other provider cannot. Offline. Exit 0 when some provider can host every
    cluster, 2 when one cannot be hosted anywhere (or the program fails)."""
    with _guard(debug):
        from provisioner.catalog import load_catalog
        from provisioner.review.quote import quote_program
        from provisioner.review.quote_view import quotes_json, quotes_markdown, quotes_view

        result = _run(path, stack, debug)
        declarations = [run.declaration for run in result.clusters if run.declaration is not None]
        if result.failure is not None and not declarations:
            _fail(result.failure.message, result.failure.exit_code)
        if result.failure is not None:  # it failed after declaring some: quote those, say so, exit 2
            typer.echo(f"warning: the program failed: {result.failure.message}", err=True)
        quotes = quote_program(declarations, load_catalog())
        if output is ReviewFormat.json:
            _emit(json.dumps(quotes_json(quotes), indent=2, ensure_ascii=False) + "\n", out, "the quote")
        else:
            views = {ReviewFormat.markdown: quotes_markdown}
            _emit(views.get(output, quotes_view)(quotes), out, "the quote")
    hostable = all(quote.hostable for quote in quotes) and bool(quotes) and result.failure is None
    raise typer.Exit(EXIT_OK if hostable else EXIT_USER)


@app.command()
def render(
    path: PathArgument,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", metavar="DIR", help="Folder for each pool's user data and files."),
    ],
    stack: StackOption = None,
    debug: DebugOption = False,
) -> None:
    """Write what each pool's nodes get at boot, for review. Offline, like plan.

    DIR/CLUSTER/POOL/user-data.yaml is the cloud-config (on Crusoe, startup-script.sh: the script it runs,
    which unpacks the files); DIR/CLUSTER/POOL/files/ holds every file it writes, at its path on the node.
    Lambda and Crusoe pools show their adapter's boot: volumes mounted and the node's own firewall. A
    Kubernetes cluster also gets DIR/CLUSTER/kubernetes/: values/RELEASE.yaml, the values of each Helm
    release, and manifests/NAME.yaml, the manifests provisioner owns (namespaces, NCCL settings: applied by
    Pulumi; GPU checks: for `kubectl apply`). Clusters with errors are not rendered (exit 2)."""
    with _guard(debug):
        result = _run(path, stack, debug)
        code = result.exit_code
        err = _console(stderr=True)
        for finding in result.findings:
            err.print(finding.render(), highlight=False, markup=False)
        if result.failure is not None:
            err.print(result.failure.message, highlight=False, markup=False)
        summary: list[str] = []
        written_kubernetes = 0
        for run in result.clusters:
            errors = [f for f in run.plan.findings if f.severity.value == "error"]
            if errors:
                for finding in errors:
                    err.print(f"{run.component}: {finding.render()}", highlight=False, markup=False)
                note = f"{run.component}: not rendered ({len(errors)} error(s))"
                err.print(note, highlight=False, markup=False)
                continue
            if run.plan.kubernetes is not None:
                for line in _write_kubernetes_nodes(run.component, run.plan, out):
                    summary.append(line)
                    typer.echo(line)
            for name, rendered, extra, sent in [] if run.plan.kubernetes else _rendered_nodes(run, result):
                line, fits = _write_node(run.component, run.plan, (name, extra), rendered, out, sent)
                summary.append(line)
                typer.echo(line)
                if not fits:
                    code = EXIT_USER
            kubernetes = _write_kubernetes(run.component, run.plan, out) if run.plan.kubernetes else []
            for line in kubernetes:
                typer.echo(line)
            summary += kubernetes
            written_kubernetes += len(kubernetes)
        if summary:
            _write_readme(out, path, summary)
            typer.echo(f"wrote {len(summary) - written_kubernetes} pool(s) to {out}")
        elif not result.clusters and code == EXIT_OK:
            typer.echo("nothing to render: the program declares no cluster")
    raise typer.Exit(code)


def _write_kubernetes_nodes(component: str, plan: "ClusterPlan", out: Path) -> list[str]:
    """A managed Kubernetes pool's nodes boot the service's GPU image and join with its agent: what they get
    from us is the node agent's configuration (EKS: a nodeadm NodeConfig), in
    DIR/CLUSTER/POOL/user-data.mime."""
    import shutil

    from provisioner.k8s.nodeconfig import node_user_data

    lines = []
    for pool in plan.pools:
        folder = out / component / pool.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        text = node_user_data(plan, pool)
        if text is None:
            lines.append(f"{component}/{pool.name}: no user data (the node image and its agent need none)")
            continue
        (folder / "user-data.mime").write_text(text, encoding="utf-8")
        lines.append(
            f"{component}/{pool.name}/user-data.mime: node agent configuration, {len(text.encode())} B"
        )
    return lines


def _rest_owner(run: "ClusterRun", result: "RunResult") -> str:
    """The stack the offline run acted as: what the pool resources were given (the emitter's own value)."""
    for resource in run.resources:
        owner = resource.inputs.get("owner")
        if isinstance(owner, str) and owner:
            return owner
    return f"organization/{result.source.project}/{result.source.stack}"


def _rest_nodes(run: "ClusterRun", result: "RunResult") -> "list[tuple[str, RenderedPool, str | None, str]]":
    """A REST cloud's pools as its adapter boots them: its volumes, the node's own filter, and the text the
    pool resource sends (Crusoe: a startup script, not a cloud-config)."""
    from provisioner.providers.crusoe.plan import crusoe_plan
    from provisioner.providers.lambda_cloud.plan import lambda_plan
    from provisioner.providers.rest.spec import rest_boots

    adapter = {"lambda": lambda_plan, "crusoe": crusoe_plan}[run.plan.provider.value]
    spec = adapter(run.component, run.plan, _rest_owner(run, result))
    extras = {p.name: p.software.extra_user_data for p in run.plan.pools}
    return [(b.pool, b.rendered, extras[b.pool], b.sent) for b in rest_boots(run.plan, spec)]


def _rendered_nodes(
    run: "ClusterRun", result: "RunResult"
) -> "list[tuple[str, RenderedPool, str | None, str | None]]":
    """(folder name, rendering, the user's own part, what is sent when it is not the rendering's user data)
    of every kind of node: each pool, and a Slurm cluster's controller and login nodes. Addresses and secret
    ids known only after deploy are `<placeholders>`."""
    from provisioner.bootstrap import LustreMount, SecretRef, SlurmWiring, render_pool, render_support
    from provisioner.providers.base import provider_info

    plan = run.plan
    info = provider_info(plan.provider.value)
    if info is not None and info.host_firewall:  # a REST cloud: its adapter decides the boot
        return list(_rest_nodes(run, result))

    lustre = tuple(
        LustreMount(f"<fsx-dns-name of {item.name}>", "<mount-name>", item.mount_point)
        for item in plan.storage
        if item.kind == "lustre"
    )
    wiring = None
    if plan.slurm is not None:
        store = {"aws": "aws-secretsmanager"}.get(plan.provider.value, plan.provider.value)
        wiring = SlurmWiring(
            controller_addr="<controller private IP>",
            munge_key=SecretRef(store, "<munge key secret id>", plan.region),
            db_password=SecretRef(store, "<database password secret id>", plan.region),
        )
    nodes: list[tuple[str, RenderedPool, str | None, str | None]] = [
        (pool.name, render_pool(plan, pool, lustre, wiring), pool.software.extra_user_data, None)
        for pool in plan.pools
    ]
    if wiring is not None and plan.slurm is not None:
        roles = ["controller", *(["login"] if plan.slurm.login else [])]
        nodes += [(f"slurm-{role}", render_support(plan, role, lustre, wiring), None, None) for role in roles]
    return nodes


def _write_node(
    component: str,
    plan: "ClusterPlan",
    node: tuple[str, str | None],
    rendered: "RenderedPool",
    out: Path,
    sent: str | None = None,
) -> tuple[str, bool]:
    """Write one kind of node's cloud-config and files; return the summary line and whether the user data
    fits the provider's limit (in the compact form if need be). `sent`: a startup script the provider runs
    instead of a cloud-config (Crusoe), written as startup-script.sh and measured against the limit."""
    import gzip
    import shutil

    from provisioner.bootstrap import UserDataTooLargeError, user_data_payload
    from provisioner.bootstrap.userdata import compact
    from provisioner.providers.base import provider_info

    name, extra = node
    files, cloud_config, text = rendered.files, rendered.cloud_config, rendered.user_data
    script = sent if sent is not None and sent.startswith("#!") else None

    folder = out / component / name
    if (folder / "files").is_dir():
        shutil.rmtree(folder / "files")  # an earlier render: drop files that a step no longer writes
    folder.mkdir(parents=True, exist_ok=True)
    config, mime, startup = folder / "user-data.yaml", folder / "user-data.mime", folder / "startup-script.sh"
    for stale in (config, mime, startup):
        stale.unlink(missing_ok=True)
    if script is not None:  # the provider runs a script, which unpacks these files: no cloud-config is sent
        startup.write_text(script, encoding="utf-8")
        startup.chmod(0o755)
    else:
        config.write_text(cloud_config, encoding="utf-8")
        if text != cloud_config:  # with the user's own part, what the provider receives is multipart MIME
            mime.write_text(text, encoding="utf-8")
    for item in files:
        if ".." in Path(item.path).parts:
            raise ValueError(f"node file path {item.path!r} leaves its folder")
        target = folder / "files" / item.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item.content, encoding="utf-8")
        target.chmod(int(item.mode, 8))

    info = provider_info(plan.provider.value)
    limit = info.user_data_limit if info is not None else None
    where = f"{component}/{name}: {len(files)} files, "
    if script is not None:
        size = f"startup script {len(script.encode()):,} bytes"
        if limit is None:
            return f"{where}{size}; {plan.provider.value} has no known limit", True
        # the adapter refused to plan a script over the limit: this one fits
        return f"{where}{size}; {plan.provider.value} limit {limit:,}: fits, sent as is", True
    raw = text.encode()
    packed = gzip.compress(raw, compresslevel=9, mtime=0)
    size = f"user data {len(raw):,} bytes ({len(packed):,} gzipped)"
    if limit is None:
        return f"{where}{size}; {plan.provider.value} has no known limit", True
    how = "sent as is"
    try:
        payload = user_data_payload(text, limit)
        how = "sent as is" if payload == raw else "sent gzipped"
    except UserDataTooLargeError as exc:
        try:
            user_data_payload(compact(rendered, extra, plan.name, name), limit)
            how = "sent gzipped without the scripts' comments"
        except UserDataTooLargeError:
            _console(stderr=True).print(
                f"[bold red]error:[/] {component}/{name}: {exc}", highlight=False, markup=True
            )
            return f"{where}{size}; TOO LARGE for the {plan.provider.value} limit of {limit:,}", False
    return f"{where}{size}; {plan.provider.value} limit {limit:,}: fits, {how}", True


def _write_kubernetes(component: str, plan: "ClusterPlan", out: Path) -> list[str]:
    """Write a Kubernetes cluster's Helm values and our manifests under CLUSTER/kubernetes/ (replacing an
    earlier render's, so a removed pool leaves no file behind); one summary line per file."""
    import shutil

    from provisioner.k8s.render import manifests, values_yaml

    assert plan.kubernetes is not None
    folder = out / component / "kubernetes"
    for sub in ("values", "manifests"):
        if (folder / sub).is_dir():
            shutil.rmtree(folder / sub)
        (folder / sub).mkdir(parents=True)
    lines = []
    for release in plan.kubernetes.releases:
        (folder / "values" / f"{release.name}.yaml").write_text(values_yaml(plan, release), encoding="utf-8")
        chart = f"{release.chart} {release.version}"
        lines.append(f"{component}/kubernetes/values/{release.name}.yaml: Helm values of {chart}")
    for item in manifests(plan):
        (folder / "manifests" / f"{item.name}.yaml").write_text(item.text, encoding="utf-8")
        how = "applied by Pulumi" if item.applied else "for kubectl apply"
        kinds = ", ".join(dict.fromkeys(str(doc.get("kind")) for doc in item.documents))
        lines.append(f"{component}/kubernetes/manifests/{item.name}.yaml: {kinds}, {how}")
    return lines


def _write_readme(out: Path, source: Path, summary: list[str]) -> None:
    lines = [
        "# Rendered by `provisioner render`",
        "",
        f"Source: `{source}`. One folder per cluster and pool: `user-data.yaml` is the cloud-config the",
        "nodes boot with; `files/` holds every file it writes, at its path on the node. Filesystem",
        "addresses known only after deploy appear as `<placeholders>`. A Kubernetes cluster's `kubernetes/`",
        "holds the values of its Helm releases and the manifests provisioner owns.",
        "",
        *[f"- {line}" for line in summary],
        "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


@app.command()
def verify(
    path: PathArgument,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig", metavar="FILE", help="Kubeconfig of the running cluster (default: $KUBECONFIG)."
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context", metavar="NAME", help="Context of the kubeconfig (default: its current one)."
        ),
    ] = None,
    component: Annotated[
        str | None,
        typer.Option(
            "--component", metavar="NAME", help="The cluster to check, when the program has several."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", min=0.1, help="Limit of each API request.")
    ] = 10.0,
    stack: StackOption = None,
    debug: DebugOption = False,
) -> None:
    """Check a running Kubernetes cluster against the plan: nodes, GPUs, fabric devices, device plugins.

    Networked: read-only list calls to the cluster's API, each bounded by --timeout, never retried.

    Exit 0 when every check passes, 1 when one fails or the API cannot be reached, 2 for a usage error."""
    with _guard(debug):
        config_file = _kubeconfig(kubeconfig)
        run = _kubernetes_cluster(_run(path, stack, debug), component, path)
        from provisioner.k8s.verify import KubeconfigError, verify_cluster, verify_lines, verify_table

        assert run.plan.kubernetes is not None
        try:
            outcome = verify_cluster(run.plan.kubernetes, config_file, context=context, timeout=timeout)
        except KubeconfigError as exc:
            _fail(str(exc), EXIT_USER)
        console = _console()
        console.print(verify_table(outcome.checks, f"{run.component}: {outcome.endpoint}"))
        for line in verify_lines(outcome, run.component):
            console.print(line, soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_OK if outcome.ok else 1)  # 1: the cluster falls short of its plan


def _kubeconfig(option: str | None) -> str:
    """The kubeconfig to use: --kubeconfig FILE, else $KUBECONFIG (files joined by the path separator)."""
    import os

    if option is not None:
        file = Path(option).expanduser()
        if not file.is_file():
            _fail(f"kubeconfig {option} {'is not a file' if file.exists() else 'not found'}", EXIT_USER)
        return str(file)
    value = os.environ.get("KUBECONFIG", "")
    files = [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    if not files:
        _fail("no kubeconfig: pass --kubeconfig FILE or set $KUBECONFIG", EXIT_USER)
    if not any(f.is_file() for f in files):
        _fail(f"no kubeconfig file found at $KUBECONFIG={value}", EXIT_USER)
    return os.pathsep.join(str(f) for f in files)


def _kubernetes_cluster(result: "RunResult", component: str | None, path: Path) -> "ClusterRun":
    """The one Kubernetes cluster of the program (or the one named by --component); else exit 2 (or the
    program's own exit code when it failed or has errors)."""
    err = _console(stderr=True)
    if result.failure is not None or result.has_errors:
        for finding in result.all_findings():
            if finding.severity.value == "error":
                err.print(finding.render(), highlight=False, markup=False)
        if result.failure is not None:
            err.print(result.failure.message, highlight=False, markup=False)
        raise typer.Exit(result.exit_code)
    names = [run.component for run in result.clusters]
    if component is not None:
        chosen = [run for run in result.clusters if run.component == component]
        if not chosen:
            _fail(
                f"{path} declares no cluster {component!r}; it declares: {', '.join(names) or 'none'}",
                EXIT_USER,
            )
        if chosen[0].plan.kubernetes is None:
            _fail(f"cluster {component!r} has no Kubernetes scheduler (scheduler=Kubernetes(...))", EXIT_USER)
        return chosen[0]
    kube = [run for run in result.clusters if run.plan.kubernetes is not None]
    if not kube:
        declared = f"it declares {', '.join(names)}" if names else "it declares no cluster"
        _fail(
            f"{path}: no cluster with a Kubernetes scheduler (scheduler=Kubernetes(...)); {declared}",
            EXIT_USER,
        )
    if len(kube) > 1:
        found = ", ".join(run.component for run in kube)
        _fail(
            f"{path} declares {len(kube)} Kubernetes clusters ({found}); choose one with --component",
            EXIT_USER,
        )
    return kube[0]


def main() -> None:
    """Entry point of the `provisioner` script."""
    app()


if __name__ == "__main__":
    main()
