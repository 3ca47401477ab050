"""Findings: what validation reports. Collected, never raised one at a time."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from provisioner.spec.enums import Severity


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    severity: Annotated[Severity, Field(description="error blocks plan and deploy; warning is reported.")]
    code: Annotated[str, Field(description="Stable kebab-case code; warnings can be suppressed by it.")]
    path: Annotated[str, Field(description="Field path in the declaration, e.g. 'pools[0].gpus'.")]
    message: Annotated[str, Field(description="What is wrong, with the bad value and what is allowed.")]
    fix: Annotated[str, Field(description="How to fix it.")] = ""

    def render(self) -> str:
        text = f"{self.severity.value.upper()} [{self.code}] {self.path}: {self.message}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def error(code: str, path: str, message: str, fix: str = "") -> Finding:
    return Finding(severity=Severity.ERROR, code=code, path=path, message=message, fix=fix)


def warning(code: str, path: str, message: str, fix: str = "") -> Finding:
    return Finding(severity=Severity.WARNING, code=code, path=path, message=message, fix=fix)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
