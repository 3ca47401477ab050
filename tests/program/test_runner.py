"""The offline runner: a program in, every registration and every cluster's plan out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.program.loader import ProgramLoadError
from provisioner.program.runner import run_program

Write = Callable[[str, str], Path]

pytestmark = pytest.mark.usefixtures("fake_emitter")


def _types(resources: tuple) -> list[str]:
    return sorted(r.type for r in resources)


def test_a_bare_declaration_gets_a_gpu_cluster(declaration: Callable[..., Path]) -> None:
    result = run_program(declaration(nodes=3))

    assert result.exit_code == 0 and result.failure is None
    (run,) = result.clusters
    assert (run.component, run.implicit, run.emitted) == ("demo", True, True)
    assert run.plan.pools[0].nodes == 3
    assert _types(run.resources) == [
        "aws:autoscaling/group:Group",
        "aws:ec2/vpc:Vpc",
        "provisioner:fake:Network",
        "provisioner:index:GpuCluster",
    ]
    assert result.other_resources == ()


def test_registrations_keep_parents_inputs_and_redact_secrets(declaration: Callable[..., Path]) -> None:
    (run,) = run_program(declaration()).clusters
    by_name = {r.name: r for r in run.resources}

    vpc, group, network = by_name["demo-vpc"], by_name["demo-gpu-asg"], by_name["demo-network"]
    assert vpc.parent == network.urn and network.parent == by_name["demo"].urn
    assert vpc.inputs == {"cidrBlock": "10.0.0.0/16", "password": "[secret]"}
    assert group.inputs["desiredCapacity"] == 2  # integral floats come back as ints
    assert group.inputs["imageId"].startswith("ami-")  # SSM getParameter answered by the mocks
    assert group.inputs["vpcId"].startswith("vpc-")
    assert (vpc.custom, network.custom) == (True, False)


def test_urns_are_the_engines(declaration: Callable[..., Path]) -> None:
    (run,) = run_program(declaration(), stack="prod").clusters
    vpc = next(r for r in run.resources if r.name == "demo-vpc")
    # the whole parent type chain, without the root stack's type
    assert vpc.urn == (
        "urn:pulumi:prod::provisioner::provisioner:index:GpuCluster$provisioner:fake:Network"
        "$aws:ec2/vpc:Vpc::demo-vpc"
    )


def test_a_cluster_passed_to_gpu_cluster_is_not_declared_twice(write: Write) -> None:
    path = write(
        "program.py",
        """
        from provisioner import Cluster, GpuCluster, NodePool
        cluster = Cluster(name="demo", provider="aws", region="us-east-1",
                          pools=[NodePool(name="gpu", gpu="H100", nodes=1)])
        GpuCluster("main", cluster)
        """,
    )
    result = run_program(path)
    assert [(c.component, c.implicit) for c in result.clusters] == [("main", False)]


def test_clusters_in_a_module_level_list_are_planned(write: Write) -> None:
    path = write(
        "many.py",
        """
        from provisioner import Cluster, NodePool
        clusters = [
            Cluster(name=f"c{i}", provider="aws", region="us-east-1",
                    pools=[NodePool(name="gpu", gpu="H100", nodes=1)])
            for i in range(2)
        ]
        """,
    )
    assert [c.component for c in run_program(path).clusters] == ["c0", "c1"]


def test_a_cluster_with_errors_gives_findings_and_no_resources(write: Write) -> None:
    path = write(
        "bad.py",
        """
        from provisioner import Cluster, NodePool
        cluster = Cluster(name="demo", provider="aws", region="us-east-1",
                          pools=[NodePool(name="gpu", gpu="H100", gpus=12)])
        """,
    )
    result = run_program(path)

    assert result.exit_code == 2 and result.failure is None
    (run,) = result.clusters
    assert not run.emitted
    assert _types(run.resources) == ["provisioner:index:GpuCluster"]
    assert any(f.path == "pools[0].gpus" and f.severity.value == "error" for f in run.plan.findings)


def test_an_invalid_declaration_becomes_findings(write: Write) -> None:
    path = write(
        "typo.py",
        """
        from provisioner import Cluster, NodePool

        pool = NodePool(name="gpu", gpu="H100", nodes=1, colour="red")
        """,
    )
    result = run_program(path, display="typo.py")

    assert result.exit_code == 2
    assert [(f.code, f.path) for f in result.findings] == [("spec-extra-forbidden", "NodePool.colour")]
    assert result.failure is not None and result.failure.location == "typo.py:3"
    assert "NodePool" in result.failure.message


def test_a_syntax_error_is_one_line_with_file_and_line(write: Write) -> None:
    path = write("broken.py", "x = (\n\ny = 1\n")
    result = run_program(path)

    assert result.exit_code == 2 and result.failure is not None  # the user's to fix, not ours
    message = result.failure.message
    assert "broken.py:1" in message and "SyntaxError" in message and "\n" not in message
    assert "Traceback" in result.failure.traceback  # kept for --debug only


def test_an_exception_points_at_the_users_line_even_in_a_helper(write: Write) -> None:
    write("helpers.py", "def nodes():\n    return {}['nodes']\n")
    path = write("uses_helper.py", "import helpers\n\nhelpers.nodes()\n")
    result = run_program(path)

    assert result.failure is not None
    assert "helpers.py:2: KeyError" in result.failure.message
    assert result.exit_code == 2  # raised in the user's code


def test_a_failure_inside_provisioner_is_internal(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    import provisioner.plan.build as build

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(build, "cost_of", broken)
    path = write(
        "fine.py",
        "from provisioner import Cluster, NodePool\n"
        "cluster = Cluster(name='demo', provider='aws', region='us-east-1',\n"
        "                  pools=[NodePool(name='gpu', gpu='H100', nodes=2)])\n",
    )
    result = run_program(path)
    assert result.failure is not None and result.exit_code == 1
    assert "RuntimeError: a bug of ours" in result.failure.message


def test_a_missing_import_is_a_clean_failure(write: Write) -> None:
    path = write("imports.py", "import not_a_module_anywhere\n")
    result = run_program(path)
    assert result.failure is not None and result.exit_code == 2
    assert (
        "imports.py:1: ModuleNotFoundError: No module named 'not_a_module_anywhere'" in result.failure.message
    )


def test_missing_required_config_is_the_users_mistake(write: Write) -> None:
    path = write("config.py", "import pulumi\n\npulumi.Config().require('nodes')\n")
    result = run_program(path)
    assert result.exit_code == 2
    assert [f.code for f in result.findings] == ["pulumi-error"]
    assert "nodes" in result.findings[0].message


def test_two_clusters_with_one_name_are_reported(write: Write) -> None:
    path = write(
        "dupe.py",
        """
        from provisioner import Cluster, NodePool
        pools = [NodePool(name="g", gpu="H100", nodes=1)]
        a = Cluster(name="same", provider="aws", region="us-east-1", pools=pools)
        b = Cluster(name="same", provider="aws", region="us-west-2", pools=pools)
        """,
    )
    result = run_program(path)
    assert result.exit_code == 2
    assert {f.code for f in result.findings} == {"duplicate-urn"}


def test_resources_outside_clusters_exports_and_logs(write: Write) -> None:
    path = write(
        "extra.py",
        """
        import pulumi
        bucket = pulumi.CustomResource("aws:s3/bucketV2:BucketV2", "logs", {"bucket": "logs"})
        pulumi.export("bucket", bucket.id)
        pulumi.export("password", pulumi.Output.secret("hunter2"))
        pulumi.log.warn("check the bucket policy")
        """,
    )
    result = run_program(path)

    assert result.clusters == () and result.exit_code == 0
    assert [r.name for r in result.other_resources] == ["logs"]
    assert result.exports["password"] == "[secret]"
    assert isinstance(result.exports["bucket"], str)
    assert [(line.severity, line.message) for line in result.log] == [("warning", "check the bucket policy")]


def test_runs_are_isolated_and_repeatable(declaration: Callable[..., Path], write: Write) -> None:
    from provisioner.review.report import report_json

    first = report_json(run_program(declaration(nodes=2)))
    write("other.py", "import pulumi\npulumi.CustomResource('aws:s3/bucketV2:BucketV2', 'x', {})\n")
    run_program(declaration().parent / "other.py")
    assert report_json(run_program(declaration(nodes=2))) == first


def test_helpers_of_different_programs_do_not_leak(write: Write) -> None:
    write("a/shape.py", "NODES = 1\n")
    write("b/shape.py", "NODES = 3\n")
    source = """
    from provisioner import Cluster, NodePool
    from shape import NODES
    cluster = Cluster(name="demo", provider="aws", region="us-east-1",
                      pools=[NodePool(name="gpu", gpu="H100", nodes=NODES)])
    """
    first = run_program(write("a/main.py", source))
    second = run_program(write("b/main.py", source))
    assert (first.clusters[0].plan.pools[0].nodes, second.clusters[0].plan.pools[0].nodes) == (1, 3)


def test_a_path_that_is_no_program_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ProgramLoadError, match="no such file"):
        run_program(tmp_path / "missing.py")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ProgramLoadError, match="Python file"):
        run_program(tmp_path / "notes.txt")


def test_the_program_sees_a_plausible_pulumi_context(write: Write) -> None:
    path = write(
        "context.py",
        """
        import pulumi
        pulumi.export("where", [pulumi.get_project(), pulumi.get_stack(), pulumi.get_organization()])
        pulumi.export("root", pulumi.get_root_directory())
        """,
    )
    result = run_program(path, stack="qa")
    assert result.exports["where"] == ["provisioner", "qa", "organization"]
    assert result.exports["root"] == str(path.parent.resolve())


def test_it_runs_from_async_code(declaration: Callable[..., Path]) -> None:
    import asyncio

    async def plan() -> int:
        return len(run_program(declaration()).clusters)

    assert asyncio.run(plan()) == 1


def test_the_callers_event_loop_is_left_in_place(declaration: Callable[..., Path]) -> None:
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        run_program(declaration())
        assert asyncio.get_event_loop() is loop and not loop.is_closed()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
