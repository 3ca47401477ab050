"""The jinja2 environment over the packaged `templates/` folder.

StrictUndefined: a missing value is a bug, never an empty string in a script.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    packaged = resources.files("provisioner") / "_templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # bash uses `${#array[@]}`; keep jinja comments out of its way
        comment_start_string="<#",
        comment_end_string="#>",
        autoescape=False,  # shell and YAML, not HTML
    )
