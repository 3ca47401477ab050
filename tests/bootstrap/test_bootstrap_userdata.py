"""User data: valid cloud-config, node metadata, scripts only where they apply, the provider's size limit."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import (
    Bucket,
    Cluster,
    ClusterPlan,
    LocalScratch,
    Lustre,
    NodePool,
    load_catalog,
    plan_cluster,
)
from provisioner.bootstrap import LustreMount, UserDataTooLargeError, node_metadata, render_user_data
from provisioner.catalog import Catalog
from provisioner.errors import ProvisionerError

CATALOG = load_catalog()
FSX = LustreMount(dns_name="fs-0123.fsx.us-east-1.amazonaws.com", mount_name="abcdefgh", mount_point="/fsx")


def plan(storage: list[Any], catalog: Catalog = CATALOG, **pool: Any) -> ClusterPlan:
    fields = {"name": "gpu", "gpu": "H100", "gpus": 16, **pool}
    cluster = Cluster(
        name="llm-train", provider="aws", region="us-east-1", pools=[NodePool(**fields)], storage=storage
    )
    result = plan_cluster(cluster, catalog)
    assert result.pools, result.findings
    return result


def parsed(text: str) -> dict[str, Any]:
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def files(document: dict[str, Any]) -> dict[str, str]:
    return {item["path"]: item["content"] for item in document["write_files"]}


def test_user_data_is_a_valid_cloud_config_with_node_metadata() -> None:
    result = plan([])
    pool = result.pools[0]
    document = parsed(render_user_data(result, pool, []))
    written = files(document)
    metadata = json.loads(written["/etc/provisioner/node.json"])
    assert metadata == node_metadata(result, pool)
    assert metadata["cluster"] == "llm-train"
    assert metadata["instance_type"] == "p5.48xlarge"
    assert metadata["gpus_per_node"] == 8
    assert metadata["interconnect"] == "efa"
    assert metadata["fabric_interfaces"] == 32
    assert metadata["fabric_manager"] is True
    assert list(written) == ["/etc/provisioner/node.json"]
    assert document["runcmd"] == [["mkdir", "-p", "/var/log/provisioner"]]


def test_scratch_and_lustre_scripts_when_declared() -> None:
    result = plan([Lustre(), Bucket(), LocalScratch(mount_point="/nvme")])
    document = parsed(render_user_data(result, result.pools[0], [FSX]))
    written = files(document)
    scratch = written["/usr/local/sbin/provisioner-scratch"]
    lustre = written["/usr/local/sbin/provisioner-lustre"]
    assert scratch.startswith("#!/usr/bin/env bash\n")
    assert 'mount_point="/nvme"' in scratch
    assert "set -euo pipefail" in scratch and "set -euo pipefail" in lustre
    assert f"{FSX.dns_name}@tcp:/{FSX.mount_name} /fsx lustre" in lustre
    commands = [" ".join(c) for c in document["runcmd"]]
    assert any("provisioner-scratch >>/var/log/provisioner/scratch.log" in c for c in commands)
    assert any("provisioner-lustre >>/var/log/provisioner/lustre.log" in c for c in commands)


def test_no_scratch_script_without_scratch_declared() -> None:
    result = plan([Lustre()])
    assert "provisioner-scratch" not in render_user_data(result, result.pools[0], [FSX])


def test_no_scratch_script_when_the_shape_has_no_nvme() -> None:
    base = CATALOG.offer("aws", "p5.48xlarge")
    assert base is not None
    no_disks = dataclasses.replace(base, instance_type="p5x.48xlarge", local_nvme_gb=0)
    catalog = Catalog(
        gpus=CATALOG.gpus, offers=[*CATALOG.offers, no_disks], cuda_min_driver=CATALOG.cuda_min_driver
    )
    result = plan([LocalScratch()], catalog, instance_type="p5x.48xlarge")
    assert [f.code for f in result.findings] == ["scratch-without-nvme"]
    assert result.pools[0].local_scratch is None
    text = render_user_data(result, result.pools[0], [])
    assert "provisioner-scratch" not in text
    parsed(text)


def test_size_limit() -> None:
    result = plan([LocalScratch()])
    pool = result.pools[0]
    text = render_user_data(result, pool, [FSX])
    size = len(text.encode())
    assert render_user_data(result, pool, [FSX], limit=size) == text
    with pytest.raises(UserDataTooLargeError) as info:
        render_user_data(result, pool, [FSX], limit=size - 1)
    assert isinstance(info.value, ProvisionerError)
    assert f"{size} bytes" in str(info.value)
    assert f"at most {size - 1}" in str(info.value)
    assert "'gpu'" in str(info.value)


def test_rendering_is_deterministic() -> None:
    result = plan([LocalScratch()])
    assert render_user_data(result, result.pools[0], [FSX]) == render_user_data(
        result, result.pools[0], [FSX]
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_scripts_parse_as_bash(tmp_path: Path) -> None:
    result = plan([LocalScratch()])
    for path, body in files(parsed(render_user_data(result, result.pools[0], [FSX]))).items():
        if not path.startswith("/usr/local/sbin/"):
            continue
        script = tmp_path / Path(path).name
        script.write_text(body)
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
