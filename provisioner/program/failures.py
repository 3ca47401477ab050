"""Turn an exception raised by a user's program into findings or a one-line message (never a traceback)."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
from pydantic import ValidationError

from provisioner.errors import DeclarationError, ProvisionerError
from provisioner.program.loader import ProgramTarget
from provisioner.providers.base import MissingSdkError, ProviderNotImplementedError
from provisioner.review.model import EXIT_INTERNAL, EXIT_USER_ERROR, Failure
from provisioner.validate import Finding, error, findings_from_validation_error


@dataclass(frozen=True, slots=True)
class Outcome:
    failure: Failure
    findings: list[Finding] = field(default_factory=list)


def shown_path(filename: str, target: ProgramTarget) -> str:
    """A file of the program as the user would write it: relative to the path they gave."""
    path = Path(filename)
    if path.is_absolute() and path.is_relative_to(target.root):
        if path == target.main and target.kind == "file":
            return target.display
        return os.path.normpath(os.path.join(target.display_root, path.relative_to(target.root)))
    return filename


def _user_frame(exc: BaseException, root: Path) -> tuple[str, int] | None:
    """The deepest frame of the user's own code (under `root`, outside any site-packages)."""
    found: tuple[str, int] | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if path.is_absolute() and path.is_relative_to(root) and "site-packages" not in path.parts:
            found = (frame.filename, frame.lineno or 0)
    return found


def location_of(exc: BaseException, target: ProgramTarget) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{shown_path(exc.filename, target)}:{exc.lineno or 0}"
    frame = _user_frame(exc, target.root)
    if frame is None:
        return shown_path(str(target.main), target)
    return f"{shown_path(frame[0], target)}:{frame[1]}"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def classify(exc: BaseException, target: ProgramTarget) -> Outcome:
    """Findings (exit 2) for mistakes in a declaration; a one-line failure otherwise: exit 2 when the
    user's program is at fault (syntax, its own exceptions), exit 1 when provisioner itself failed."""
    where = location_of(exc, target)
    trace = "".join(traceback.format_exception(exc))
    if isinstance(exc, ValidationError):
        findings = findings_from_validation_error(exc, prefix=exc.title)
        message = f"{where}: invalid {exc.title} declaration (see the findings)"
        return Outcome(Failure(message, EXIT_USER_ERROR, where, trace), findings)
    if isinstance(exc, DeclarationError):
        message = f"{where}: cluster {exc.cluster!r} has errors (see the findings)"
        return Outcome(Failure(message, EXIT_USER_ERROR, where, trace), list(exc.findings))
    if isinstance(exc, ProvisionerError | pulumi.RunError):
        code = "program-error" if isinstance(exc, ProvisionerError) else "pulumi-error"
        text = " ".join(str(exc).split()) or type(exc).__name__
        finding = error(code, where, text, "fix the program at this line")
        return Outcome(Failure(f"{where}: {text}", EXIT_USER_ERROR, where, trace), [finding])
    if isinstance(exc, MissingSdkError | ProviderNotImplementedError):
        return Outcome(Failure(f"{where}: {exc}", EXIT_INTERNAL, where, trace))
    if isinstance(exc, SyntaxError):
        detail = f"{exc.msg}" + (f": {exc.text.strip()}" if exc.text and exc.text.strip() else "")
        return Outcome(Failure(f"{where}: SyntaxError: {detail}", EXIT_USER_ERROR, where, trace))
    if isinstance(exc, SystemExit):
        message = f"{where}: the program called sys.exit({exc.code!r})"
        return Outcome(Failure(message, EXIT_USER_ERROR, where, trace))
    text = _first_line(str(exc))
    message = f"{where}: {type(exc).__name__}" + (f": {text}" if text else "")
    # Raised in the user's own code (a NameError, an ImportError of their module, ...): theirs to fix.
    # Raised inside provisioner or a library it calls: ours, exit 1 (the traceback is there with --debug).
    theirs = _raised_in_user_code(exc, target.root)
    return Outcome(Failure(message, EXIT_USER_ERROR if theirs else EXIT_INTERNAL, where, trace))


def _raised_in_user_code(exc: BaseException, root: Path) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    last = Path(frames[-1].filename)
    return last.is_absolute() and last.is_relative_to(root) and "site-packages" not in last.parts
