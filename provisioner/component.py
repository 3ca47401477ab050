"""GpuCluster: the Pulumi component that turns one declaration into a provider's resources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pulumi
from pydantic import ValidationError

from provisioner.catalog import Catalog, shipped_catalog
from provisioner.errors import DeclarationError, ProvisionerError
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.plan.retarget import retarget
from provisioner.program.session import current_session
from provisioner.providers.base import MissingSdkError, provider_info
from provisioner.spec import Cluster, Severity
from provisioner.validate import Finding, component_name_findings, findings_from_validation_error

COMPONENT_TYPE = "provisioner:index:GpuCluster"


class GpuCluster(pulumi.ComponentResource):
    """A GPU cluster. Children are named `{name}-...` and parented to this component, so URNs stay stable.

    Raises a Pulumi error that lists every finding when the declaration has errors; nothing is created then.
    """

    plan: ClusterPlan
    outputs: dict[str, Any]

    def __init__(
        self,
        name: str,
        cluster: Cluster,
        opts: pulumi.ResourceOptions | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        session = current_session()
        declared_as = cluster
        moved: tuple[str, ...] | None = None
        if session is not None and session.target is not None:
            retargeted = retarget(cluster, *session.target)
            cluster, moved = retargeted.cluster, retargeted.dropped
        plan = plan_cluster(cluster, catalog if catalog is not None else shipped_catalog())
        if moved is not None:
            plan = plan.model_copy(update={"findings": [*plan.findings, _moved_finding(cluster, moved)]})
        if name != cluster.name:
            own = component_name_findings(name)
            if own:
                plan = plan.model_copy(update={"findings": [*own, *plan.findings]})
        if not plan.ok:
            if session is None:
                errors = [f for f in plan.findings if f.severity is Severity.ERROR]
                raise pulumi.RunError(str(DeclarationError(cluster.name, errors)))
            session.record(name, cluster, plan, emitted=False, declared_as=declared_as)
            super().__init__(COMPONENT_TYPE, name, None, opts)
            self.plan, self.outputs = plan, {}
            self.register_outputs({})
            return
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.plan = plan
        if session is None:
            for finding in plan.findings:
                pulumi.log.warn(finding.render(), resource=self)
        info = provider_info(plan.provider.value)
        if info is None:  # unreachable: validation reports an unknown provider
            raise pulumi.RunError(f"no provider adapter named {plan.provider.value!r}")
        try:
            self.outputs = info.load_emitter().emit(name, plan, self)
        except (
            ProvisionerError,
            MissingSdkError,
        ) as exc:  # the user's to fix: a Pulumi error, not a traceback
            raise pulumi.RunError(f"cluster {cluster.name!r}: {exc}") from exc
        if session is not None:
            session.record(name, cluster, plan, emitted=True, declared_as=declared_as)
        self.register_outputs(self.outputs)


def _moved_finding(cluster: Cluster, dropped: tuple[str, ...]) -> Finding:
    return Finding(
        severity=Severity.INFO,
        code="retargeted",
        path="(declaration)",
        message=f"planned on {cluster.provider.value} in {cluster.region} (--provider/--region); "
        f"not carried over: {', '.join(dropped) or 'nothing'}",
        fix="",
    )


@contextmanager
def declaration_errors() -> Iterator[None]:
    """In a Pulumi program, turn a mistake in a declaration into a Pulumi error listing the fields to fix.

        with declaration_errors():
            cluster = Cluster(...)

    Without it, `pulumi up` shows pydantic's Python traceback."""
    try:
        yield
    except ValidationError as exc:
        if current_session() is not None:  # `provisioner plan` reports the findings itself, field by field
            raise
        findings = findings_from_validation_error(exc, prefix=exc.title)
        lines = "\n".join(f"  - {f.render()}" for f in findings)
        raise pulumi.RunError(f"the {exc.title} declaration is invalid; fix these first:\n{lines}") from None
