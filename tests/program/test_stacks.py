"""Pulumi stack directories: Pulumi.yaml, the program, and Pulumi.<stack>.yaml config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.program.loader import SECRET_PLACEHOLDER, ProgramLoadError, config_text, load_target
from provisioner.program.runner import run_program

Write = Callable[[str, str], Path]

PROGRAM = """
import pulumi
from provisioner import Cluster, GpuCluster, NodePool

config = pulumi.Config()
cluster = Cluster(
    name=f"train-{pulumi.get_stack()}",
    provider="aws",
    region=pulumi.Config("aws").require("region"),
    pools=[NodePool(name="gpu", gpu="H100", nodes=config.require_int("nodes"))],
    tags={"owner": config.get("owner") or "nobody"},
)
gpu_cluster = GpuCluster(cluster.name, cluster)
pulumi.export("hourly", gpu_cluster.plan.cost.per_hour)
pulumi.export("token", config.require_secret("token"))
pulumi.export("settings", config.require_object("settings"))
"""


@pytest.fixture
def stack_dir(write: Write) -> Path:
    write(
        "stack/Pulumi.yaml",
        """
        name: training
        runtime:
          name: python
          options:
            virtualenv: venv
        config:
          owner:
            type: string
            default: ml-team
        """,
    )
    write("stack/__main__.py", PROGRAM)
    write(
        "stack/Pulumi.dev.yaml",
        """
        config:
          aws:region: us-west-2
          training:nodes: 4
          training:token:
            secure: AAABAJ0cHJvdmlzaW9uZXI=
          training:settings:
            retries: 3
            fast: true
        """,
    )
    return write("stack/.keep", "").parent


@pytest.mark.usefixtures("fake_emitter")
def test_a_stack_directory_runs_with_its_config(stack_dir: Path) -> None:
    result = run_program(stack_dir, display="stack")

    assert result.exit_code == 0, result.failure
    assert (result.source.kind, result.source.project, result.source.stack) == ("stack", "training", "dev")
    (run,) = result.clusters
    plan = run.plan
    assert (run.component, run.implicit, plan.region, plan.pools[0].nodes) == (
        "train-dev",
        False,
        "us-west-2",
        4,
    )
    assert plan.tags["owner"] == "ml-team"  # the project's default
    assert result.exports["token"] == "[secret]"
    assert result.exports["settings"] == {"fast": True, "retries": 3}
    assert any("training:token" in line.message for line in result.log)


@pytest.mark.usefixtures("fake_emitter")
def test_the_stack_is_chosen_with_stack(stack_dir: Path, write: Write) -> None:
    write(
        "stack/Pulumi.prod.yaml",
        "config:\n  aws:region: us-east-1\n  training:nodes: 1\n  training:token: x\n"
        "  training:settings: '{}'\n",
    )
    with pytest.raises(ProgramLoadError, match="several stacks"):
        run_program(stack_dir)
    result = run_program(stack_dir, stack="prod")
    assert (result.source.stack, result.clusters[0].plan.region) == ("prod", "us-east-1")
    with pytest.raises(ProgramLoadError, match="no stack 'qa'"):
        run_program(stack_dir, stack="qa")


def test_an_error_in_a_stack_names_the_program_file(stack_dir: Path, write: Write) -> None:
    write("stack/__main__.py", "import pulumi\n\nraise ValueError('bad value')\n")
    result = run_program(stack_dir, display="stack")
    assert result.failure is not None
    assert result.failure.message == "stack/__main__.py:3: ValueError: bad value"


def test_config_is_loaded_as_pulumi_passes_it(stack_dir: Path) -> None:
    target = load_target(stack_dir)
    assert target.config == {
        "aws:region": "us-west-2",
        "training:nodes": "4",
        "training:owner": "ml-team",
        "training:settings": '{"retries":3,"fast":true}',
        "training:token": SECRET_PLACEHOLDER,
    }
    assert target.secret_keys == ("training:token",)
    assert target.main == (stack_dir / "__main__.py").resolve()


def test_the_main_folder_of_a_project_is_honoured(write: Write) -> None:
    write("proj/Pulumi.yaml", "name: p\nruntime: python\nmain: src/\n")
    write("proj/src/__main__.py", "")
    target = load_target(write("proj/.keep", "").parent, display="proj")
    assert target.main.parent.name == "src" and target.display_root == "proj/src"
    assert target.stack == "dev"  # no stack file: the default, with a note
    assert target.notes


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("name: p\nruntime: nodejs\n", "Python programs only"),
        ("name: p\nruntime: python\n", "no program found"),
        ("- not a mapping\n", "mapping"),
    ],
)
def test_projects_that_cannot_be_planned(write: Write, yaml_text: str, message: str) -> None:
    directory = write("p/Pulumi.yaml", yaml_text).parent
    with pytest.raises(ProgramLoadError, match=message):
        load_target(directory)


def test_a_directory_without_pulumi_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProgramLoadError, match="Pulumi project"):
        load_target(tmp_path)


@pytest.mark.parametrize(
    ("value", "text"),
    [("a", "a"), (True, "true"), (3, "3"), (1.5, "1.5"), (None, ""), ({"b": [1]}, '{"b":[1]}')],
)
def test_config_text(value: object, text: str) -> None:
    assert config_text(value) == text
