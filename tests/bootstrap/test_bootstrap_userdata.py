"""User data: valid cloud-config, node metadata, scripts only where they apply, the provider's size limit."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
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
from provisioner.bootstrap import (
    LustreMount,
    UserDataTooLargeError,
    node_metadata,
    render_user_data,
    user_data_payload,
)
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


STEPS_DIR = "/opt/provisioner/steps/"


def step_names(written: dict[str, str]) -> list[str]:
    return [Path(p).stem for p in written if p.startswith(STEPS_DIR)]


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
    for path in (
        "/opt/provisioner/lib.sh",
        "/opt/provisioner/bootstrap.sh",
        "/opt/provisioner/health-check.sh",
    ):
        assert path in written
    assert "/etc/systemd/system/provisioner-bootstrap.service" in written
    # the work runs as a service after cloud-init, never inside it (no apt race with cloud-init)
    assert ["systemctl", "start", "--no-block", "provisioner-bootstrap.service"] in document["runcmd"]
    assert (
        "After=network-online.target cloud-final.service"
        in written["/etc/systemd/system/provisioner-bootstrap.service"]
    )


def test_steps_follow_the_node() -> None:
    h100 = plan([])
    assert step_names(files(parsed(render_user_data(h100, h100.pools[0], [])))) == [
        "prepare",
        "nvidia-driver",
        "fabric-manager",
        "efa",
        "nccl",
        "container-toolkit",
        "dcgm",
    ]
    l4 = plan([], gpu="L4", gpus=1, instance_type="g6.xlarge")
    assert step_names(files(parsed(render_user_data(l4, l4.pools[0], [])))) == [
        "prepare",
        "nvidia-driver",
        "nccl",
        "container-toolkit",
        "dcgm",
    ]


def test_the_runner_runs_the_steps_in_order() -> None:
    result = plan([LocalScratch()])
    written = files(parsed(render_user_data(result, result.pools[0], [FSX])))
    runner = written["/opt/provisioner/bootstrap.sh"]
    assert (
        "STEPS=(prepare nvidia-driver fabric-manager efa nccl scratch lustre container-toolkit dcgm)"
        in runner
    )
    assert "set -euo pipefail" in runner


def test_scratch_and_lustre_steps_when_declared() -> None:
    result = plan([Lustre(), Bucket(), LocalScratch(mount_point="/nvme")])
    written = files(parsed(render_user_data(result, result.pools[0], [FSX])))
    scratch = written[f"{STEPS_DIR}scratch.sh"]
    lustre = written[f"{STEPS_DIR}lustre.sh"]
    assert scratch.startswith("#!/usr/bin/env bash\n")
    assert 'mount_point="/nvme"' in scratch
    assert "set -euo pipefail" in scratch and "set -euo pipefail" in lustre
    assert f"{FSX.dns_name}@tcp:/{FSX.mount_name} $mount_point lustre" in lustre
    assert 'mount_point="/fsx"' in lustre


def test_no_scratch_step_without_scratch_declared() -> None:
    result = plan([Lustre()])
    assert "scratch" not in step_names(files(parsed(render_user_data(result, result.pools[0], [FSX]))))


def test_no_scratch_step_when_the_shape_has_no_nvme() -> None:
    base = CATALOG.offer("aws", "p5.48xlarge")
    assert base is not None
    no_disks = dataclasses.replace(base, instance_type="p5x.48xlarge", local_nvme_gb=0)
    catalog = Catalog(
        gpus=CATALOG.gpus,
        offers=[*CATALOG.offers, no_disks],
        cuda_min_driver=CATALOG.cuda_min_driver,
        images=[i for i in (CATALOG.image("aws", "ubuntu-22.04"),) if i is not None],
    )
    result = plan([LocalScratch()], catalog, instance_type="p5x.48xlarge")
    assert [f.code for f in result.findings] == ["scratch-without-nvme"]
    assert result.pools[0].local_scratch is None
    text = render_user_data(result, result.pools[0], [])
    assert "scratch" not in step_names(files(parsed(text)))


def test_size_limit_gzips_then_refuses() -> None:
    result = plan([LocalScratch()])
    pool = result.pools[0]
    text = render_user_data(result, pool, [FSX])
    size = len(text.encode())
    assert user_data_payload(text, size) == text.encode()  # fits: sent as is
    packed = user_data_payload(text, size - 1)  # over: gzipped, which cloud-init reads
    assert gzip.decompress(packed).decode() == text and len(packed) < size
    # just over, gzipped: the same files less the scripts' comments are sent instead
    smaller = render_user_data(result, pool, [FSX], limit=len(packed) - 1)
    assert len(smaller) < size and len(user_data_payload(smaller, len(packed) - 1)) < len(packed)
    assert parsed(smaller)["write_files"][0]["path"] == parsed(text)["write_files"][0]["path"]
    for item in parsed(smaller)["write_files"]:
        if item["path"].endswith(".sh"):  # the scripts still parse without their comments
            check = subprocess.run(["bash", "-n"], input=item["content"], text=True, capture_output=True)
            assert check.returncode == 0, (item["path"], check.stderr)
    compact_packed = len(gzip.compress(smaller.encode(), compresslevel=9, mtime=0))
    with pytest.raises(UserDataTooLargeError) as info:
        render_user_data(result, pool, [FSX], limit=compact_packed - 1)
    assert isinstance(info.value, ProvisionerError)
    assert f"{len(smaller.encode())} bytes" in str(info.value)
    assert f"at most {compact_packed - 1}" in str(info.value)
    assert "'gpu'" in str(info.value)


def test_rendering_is_deterministic() -> None:
    result = plan([LocalScratch()])
    assert render_user_data(result, result.pools[0], [FSX]) == render_user_data(
        result, result.pools[0], [FSX]
    )
    assert user_data_payload("x" * 100, 50) == user_data_payload("x" * 100, 50)  # gzip without a timestamp


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_scripts_parse_as_bash(tmp_path: Path) -> None:
    result = plan([LocalScratch()])
    for path, body in files(parsed(render_user_data(result, result.pools[0], [FSX]))).items():
        if not path.endswith(".sh"):
            continue
        script = tmp_path / Path(path).name
        script.write_text(body)
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, (path, checked.stderr)


def test_the_users_own_part_makes_a_multipart_document(tmp_path: Path) -> None:
    import email

    from provisioner import Software

    extra = "#cloud-config\npackages: [htop]\n"
    cluster = Cluster(
        name="llm-train",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", gpus=8)],
        software=Software(extra_user_data=extra),
    )
    result = plan_cluster(cluster, CATALOG)
    text = render_user_data(result, result.pools[0], [])
    assert text == render_user_data(result, result.pools[0], [])  # deterministic boundary
    message = email.message_from_string(text)
    assert message.is_multipart()
    ours, theirs = message.get_payload()
    assert ours.get_content_type() == "text/cloud-config"
    assert parsed(ours.get_payload(decode=True).decode())["write_files"]
    assert theirs.get_content_type() == "text/cloud-config"
    assert theirs["Merge-Type"] == "list(append)+dict(no_replace,recurse_list)+str()"
    assert theirs.get_payload(decode=True).decode() == extra
    script = "#!/bin/bash\necho hello\n"
    scripted = plan_cluster(
        cluster.model_copy(update={"software": Software(extra_user_data=script)}), CATALOG
    )
    parts = email.message_from_string(render_user_data(scripted, scripted.pools[0], [])).get_payload()
    assert parts[1].get_content_type() == "text/x-shellscript"


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ("echo no header\n", "extra-user-data-kind"),
        ("#!/bin/bash\nexport PASSWORD=hunter2\n", "secret-in-user-data"),
        (
            "#cloud-config\nwrite_files: [{path: /k, content: 'AKIAABCDEFGHIJKLMNOP'}]\n",
            "secret-in-user-data",
        ),
    ],
)
def test_the_users_own_part_is_checked(extra: str, code: str) -> None:
    from provisioner import Software

    cluster = Cluster(
        name="llm-train",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", gpus=8)],
        software=Software(extra_user_data=extra),
    )
    assert code in [f.code for f in plan_cluster(cluster, CATALOG).findings]


def _unit_values(text: str, key: str) -> list[str]:
    return [
        v for line in text.splitlines() if line.startswith(f"{key}=") for v in line.split("=", 1)[1].split()
    ]


def test_the_boot_service_has_no_ordering_cycle_with_cloud_init() -> None:
    """We run after cloud-final; a target that wants us is ordered after us; so no target that cloud-final
    itself runs after may want us (multi-user.target did: systemd then drops the unit at every later boot)."""
    result = plan([])
    unit = files(parsed(render_user_data(result, result.pools[0], [])))[
        "/etc/systemd/system/provisioner-bootstrap.service"
    ]
    assert "cloud-final.service" in _unit_values(unit, "After")
    installed = Path("/lib/systemd/system/cloud-final.service")
    if not installed.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's cloud-init (its cloud-final.service) is required under CI")
        pytest.skip("cloud-init is not installed")
    cloud_final_after = set(_unit_values(installed.read_text(), "After"))
    assert "multi-user.target" in cloud_final_after  # the fact that made WantedBy=multi-user.target a cycle
    for target in _unit_values(unit, "WantedBy"):
        assert target not in cloud_final_after, f"{target} is ordered before cloud-final: ordering cycle"


def test_every_cloud_config_part_of_a_multipart_document_passes_cloud_init_schema(tmp_path: Path) -> None:
    import email

    from provisioner import Software

    schema = shutil.which("cloud-init")
    if schema is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's cloud-init is required under CI")
        pytest.skip("cloud-init is not installed")
    cluster = Cluster(
        name="llm-train",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", gpus=8)],
        software=Software(extra_user_data="#cloud-config\npackages: [htop]\nruncmd:\n  - [echo, hello]\n"),
    )
    result = plan_cluster(cluster, CATALOG)
    parts = email.message_from_string(render_user_data(result, result.pools[0], [])).get_payload()
    configs = [p for p in parts if p.get_content_type() == "text/cloud-config"]
    assert len(configs) == 2
    for index, part in enumerate(configs):
        path = tmp_path / f"part{index}.yaml"
        path.write_text(part.get_payload(decode=True).decode())
        checked = subprocess.run(
            [schema, "schema", "-c", str(path)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_compact_form_keeps_here_documents_whole() -> None:
    from provisioner.bootstrap.userdata import _without_comments

    script = (
        "#!/usr/bin/env bash\n# a comment\nset -euo pipefail\n"
        "cat >x <<'EOF'\n#!/bin/sh\n# inside\nEOF\n  # indented comment\n"
        "wanted=$(cat <<UNIT\n# unit comment\n[Unit]\nUNIT\n)\necho done # trailing\n"
    )
    assert _without_comments(script) == (
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        "cat >x <<'EOF'\n#!/bin/sh\n# inside\nEOF\n"
        "wanted=$(cat <<UNIT\n# unit comment\n[Unit]\nUNIT\n)\necho done # trailing\n"
    )
