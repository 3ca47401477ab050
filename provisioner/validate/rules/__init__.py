"""One module per concern; each rule is a function RuleContext -> Iterable[Finding]."""

from collections.abc import Callable, Iterable

from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding
from provisioner.validate.rules import (
    access,
    aws,
    gcp,
    gpus,
    kubernetes,
    names,
    provider,
    rest,
    slurm,
    software,
    storage,
)

Rule = Callable[[RuleContext], Iterable[Finding]]

ALL_RULES: tuple[Rule, ...] = (
    *names.RULES,
    *provider.RULES,
    *gpus.RULES,
    *software.RULES,
    *storage.RULES,
    *access.RULES,
    *aws.RULES,
    *gcp.RULES,
    *rest.RULES,
    *slurm.RULES,
    *kubernetes.RULES,
)

__all__ = ["ALL_RULES", "Rule"]
