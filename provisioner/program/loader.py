"""Find the program behind a PATH: a Python file that declares clusters, or a Pulumi stack directory.

A stack directory holds Pulumi.yaml (the project), the program (`__main__.py`, or the `main:` folder) and
Pulumi.<stack>.yaml files whose `config:` is what `pulumi.Config()` reads. Reads YAML; imports no Pulumi.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FILE_PROJECT = "provisioner"
FILE_STACK = "plan"
DEFAULT_STACK = "dev"
SECRET_PLACEHOLDER = "[secret]"


class ProgramLoadError(Exception):
    """PATH is not a program we can run (a usage mistake: exit code 2)."""


@dataclass(frozen=True, slots=True)
class ProgramTarget:
    display: str
    """The path as the user gave it."""
    kind: str
    """'file' or 'stack'."""
    main: Path
    """The Python file to run."""
    root: Path
    """Directory put first on sys.path (and the working directory, for stacks)."""
    display_root: str
    """`root` as the user would write it (relative to the path they gave), for messages."""
    project: str
    stack: str
    project_dir: Path
    """Where Pulumi.yaml is (`pulumi.get_root_directory()`); the file's directory for a plain file."""
    config: dict[str, str] = field(default_factory=dict)
    """Full keys ('project:key', 'aws:region') -> values as Pulumi passes them (strings; objects as JSON)."""
    secret_keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Things the user should know (e.g. secrets planned with a placeholder)."""


def load_target(path: Path, stack: str | None = None, display: str | None = None) -> ProgramTarget:
    shown = display if display is not None else str(path)
    if not path.exists():
        raise ProgramLoadError(f"{shown}: no such file or directory")
    if path.is_dir():
        if not _project_file(path):
            raise ProgramLoadError(
                f"{shown}: a directory must be a Pulumi project (with Pulumi.yaml); or give a Python file"
            )
        return _stack_target(path, stack, shown)
    if path.name == "__main__.py" and _project_file(path.parent):
        return _stack_target(path.parent, stack, shown)
    if path.suffix != ".py":
        raise ProgramLoadError(f"{shown}: expected a Python file (.py) or a Pulumi stack directory")
    resolved = path.resolve()
    return ProgramTarget(
        display=shown,
        kind="file",
        main=resolved,
        root=resolved.parent,
        display_root=os.path.dirname(shown),
        project=FILE_PROJECT,
        stack=stack or FILE_STACK,
        project_dir=resolved.parent,
    )


def _project_file(directory: Path) -> Path | None:
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        if (directory / name).is_file():
            return directory / name
    return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProgramLoadError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProgramLoadError(f"{path}: expected a mapping at the top level")
    return data


def _runtime_name(project: dict[str, Any]) -> str:
    runtime = project.get("runtime", "python")
    return str(runtime.get("name", "") if isinstance(runtime, dict) else runtime)


def _stack_target(directory: Path, stack: str | None, shown: str) -> ProgramTarget:
    directory = directory.resolve()
    project_file = _project_file(directory)
    assert project_file is not None
    project = _read_yaml(project_file)
    name = str(project.get("name") or directory.name)
    if _runtime_name(project) != "python":
        raise ProgramLoadError(
            f"{shown}: runtime is {_runtime_name(project)!r}; plan runs Python programs only"
        )
    main_dir = directory / str(project.get("main") or ".")
    main = main_dir if main_dir.is_file() else main_dir / "__main__.py"
    if not main.is_file():
        raise ProgramLoadError(f"{shown}: no program found (expected {main.relative_to(directory)})")
    stack_name, stack_file = _pick_stack(directory, stack, shown)
    config: dict[str, str] = {}
    secrets: list[str] = []
    notes: list[str] = []
    _apply_config(config, secrets, notes, name, _project_config(project.get("config")))
    if stack_file is not None:
        _apply_config(config, secrets, notes, name, _read_yaml(stack_file).get("config") or {})
    else:
        notes.append(f"no Pulumi.{stack_name}.yaml: planned with the project's defaults only")
    return ProgramTarget(
        display=shown,
        kind="stack",
        main=main.resolve(),
        root=main.resolve().parent,
        display_root=os.path.normpath(os.path.join(shown, os.path.relpath(main.resolve().parent, directory))),
        project=name,
        stack=stack_name,
        project_dir=directory,
        config=config,
        secret_keys=tuple(sorted(secrets)),
        notes=tuple(notes),
    )


def _stack_files(directory: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pattern in ("Pulumi.*.yaml", "Pulumi.*.yml"):
        for path in sorted(directory.glob(pattern)):
            found.setdefault(path.name.split(".", 1)[1].rsplit(".", 1)[0], path)
    return found


def _pick_stack(directory: Path, stack: str | None, shown: str) -> tuple[str, Path | None]:
    files = _stack_files(directory)
    if stack is not None:
        short = stack.rsplit("/", 1)[-1]
        if short not in files and files:
            raise ProgramLoadError(
                f"{shown}: no stack {short!r} (no Pulumi.{short}.yaml); "
                f"stacks here: {', '.join(sorted(files))}"
            )
        return short, files.get(short)
    if len(files) == 1:
        return next(iter(files.items()))
    if not files:
        return DEFAULT_STACK, None
    raise ProgramLoadError(
        f"{shown}: several stacks ({', '.join(sorted(files))}); choose one with --stack NAME"
    )


def _project_config(raw: Any) -> dict[str, Any]:
    """Pulumi.yaml `config:` entries: `key: value`, or `key: {type: ..., default: value}` (or `value:`)."""
    values: dict[str, Any] = {}
    for key, entry in (raw or {}).items():
        if isinstance(entry, dict) and ("default" in entry or "value" in entry):
            values[key] = entry.get("value", entry.get("default"))
        elif not isinstance(entry, dict) or "secure" in entry:
            values[key] = entry
    return values


def _apply_config(
    config: dict[str, str], secrets: list[str], notes: list[str], project: str, raw: dict[str, Any]
) -> None:
    for key, value in raw.items():
        full = str(key) if ":" in str(key) else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = SECRET_PLACEHOLDER
            secrets.append(full)
            notes.append(
                f"config {full} is a secret; it was planned with the placeholder {SECRET_PLACEHOLDER!r}"
            )
        else:
            config[full] = config_text(value)


def config_text(value: Any) -> str:
    """How Pulumi hands a config value to a program: strings as-is, booleans lower-case, objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))
