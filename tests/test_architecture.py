"""The layering of DESIGN.md: the pure layers never import Pulumi or a cloud SDK, and neither does
`import provisioner` (declaring and planning never pay for Pulumi)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLOUD_MODULES = ("pulumi", "pulumi_aws", "boto3", "botocore")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, check=False
    )


def _lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        pytest.skip("import-linter is not installed in this environment")
    return subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_import_linter_contract_holds() -> None:
    result = _lint_imports()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Pure layers never import Pulumi or cloud SDKs KEPT" in output


def test_import_linter_sees_external_imports(tmp_path: Path) -> None:
    """Negative control: the same kind of contract, broken on purpose (spec does import pydantic), fails."""
    config = tmp_path / "broken.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_package = "provisioner"
            include_external_packages = true

            [[tool.importlinter.contracts]]
            name = "spec without pydantic"
            type = "forbidden"
            source_modules = ["provisioner.spec"]
            forbidden_modules = ["pydantic"]
            """
        )
    )
    result = _lint_imports("--config", str(config))
    assert result.returncode != 0
    assert "spec without pydantic BROKEN" in result.stdout + result.stderr


def test_the_contract_covers_every_pure_layer() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "forbidden"]
    layers = {"spec", "catalog", "validate", "plan", "bootstrap", "review"}
    assert {f"provisioner.{layer}" for layer in layers} <= set(contract["source_modules"])
    assert set(CLOUD_MODULES) <= set(contract["forbidden_modules"])
    assert config.get("include_external_packages") is True  # without it, external modules are not seen


def test_declaring_planning_and_rendering_do_not_import_pulumi() -> None:
    result = _python(
        f"""
        import sys
        import provisioner
        from provisioner import Cluster, NodePool, LocalScratch, load_catalog, plan_cluster
        from provisioner.bootstrap import render_user_data

        cluster = Cluster(
            name="llm-train", provider="aws", region="us-east-1",
            pools=[NodePool(name="gpu", gpu="H100", gpus=64)], storage=[LocalScratch()],
        )
        plan = plan_cluster(cluster, load_catalog())
        assert plan.ok and plan.pools[0].nodes == 8, plan
        render_user_data(plan, plan.pools[0], [])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {CLOUD_MODULES!r})
        print("LOADED", loaded)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout


def test_the_component_is_imported_lazily() -> None:
    result = _python(
        """
        import sys
        import provisioner
        assert "provisioner.component" not in sys.modules
        assert "GpuCluster" in provisioner.__all__
        print("OK")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
