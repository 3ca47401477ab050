"""The fabric and extra-software steps on a sandboxed node (tests/bootstrap/harness.py): EFA, InfiniBand with
nvidia-peermem, ROCm, Apptainer and Enroot install what is missing, once, and nothing on a second run."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path
from typing import Any

import harness
import pytest
from harness import Node, lab_catalog

from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.spec import Cluster, LocalScratch, NodePool, Software

CUSTOM_IMAGE = "ami-0123456789abcdef0"
"""A plain OS image of the user's: nothing GPU- or fabric-related preinstalled."""


catalog = lab_catalog


def make_plan(
    gpu: str = "H100", instance_type: str = "p5.48xlarge", storage: Any = (), **software: Any
) -> ClusterPlan:
    if gpu == "MI300X":
        software.setdefault("rocm", "6.4")
    cluster = Cluster(
        name="fabric",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu=gpu, nodes=2, instance_type=instance_type)],
        storage=list(storage),
        software=Software(**software),
    )
    plan = plan_cluster(cluster, catalog())
    assert plan.pools, [f.render() for f in plan.findings]
    return plan


def ok(node: Node, step: str) -> str:
    result = node.run_step(step)
    assert result.returncode == 0, f"step {step} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def urls(node: Node) -> list[str]:
    return [arg for call in node.calls("curl") + node.calls("wget") for arg in call if arg.startswith("http")]


def reboot_requested(node: Node) -> bool:
    return node.exists("/var/lib/provisioner/reboot-required")


def fake_command(node: Node, name: str, body: str) -> None:
    """A command of this test's own (ahead of the harness's shims on PATH), recording its calls as they do."""
    script = node.bin / name
    if script.is_symlink():
        script.unlink()
    script.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        f"STATE={shlex.quote(str(node.state))}\n"
        'ROOT="${PROVISIONER_ROOT:?}"\n'
        'record=${0##*/}; for arg in "$@"; do record+=$\'\\t\'"$arg"; done\n'
        'printf \'%s\\n\' "$record" >>"$STATE/calls.log"\n' + textwrap.dedent(body)
    )
    script.chmod(0o755)


def fake_efa_tarball(node: Node) -> None:
    """`tar` unpacks an aws-efa-installer whose efa_installer.sh installs what the real one does (packages,
    /opt/amazon/efa, the aws-ofi-nccl plugin in /opt/amazon/ofi-nccl)."""
    installer = textwrap.dedent(
        f"""\
        #!/usr/bin/env bash
        set -euo pipefail
        printf 'efa_installer.sh\\t%s\\n' "$*" >>"{node.state}/calls.log"
        apt-get install -y -q rdma-core libfabric1-aws efa-config
        mkdir -p "$PROVISIONER_ROOT/opt/amazon/efa/bin" "$PROVISIONER_ROOT/opt/amazon/ofi-nccl/lib64"
        """
    )
    fake_command(
        node,
        "tar",
        f"""
        dest=.
        while [ $# -gt 0 ]; do
          if [ "$1" = -C ]; then shift; dest=$1; fi
          shift
        done
        mkdir -p "$dest/aws-efa-installer"
        cat >"$dest/aws-efa-installer/efa_installer.sh" <<'INSTALLER'
{installer}INSTALLER
        chmod +x "$dest/aws-efa-installer/efa_installer.sh"
        """,
    )


# --- EFA -------------------------------------------------------------------------------------------------


def test_efa_installs_on_a_plain_image_once(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(image=CUSTOM_IMAGE))
    node.set_fabric_devices(0)
    fake_efa_tarball(node)
    log = ok(node, "efa")
    assert "https://efa-installer.amazonaws.com/aws-efa-installer-1.50.0.tar.gz" in urls(node)
    assert node.calls("efa_installer.sh") == [["efa_installer.sh", "-y"]]
    assert {"rdma-core", "libfabric1-aws", "efa-config"} <= set(node.installs())
    # the installer ships aws-ofi-nccl: no source build, the plugin goes on the loader's path
    assert not any("aws-ofi-nccl" in url for url in urls(node))
    assert node.file("/etc/ld.so.conf.d/provisioner-ofi-nccl.conf") == "/opt/amazon/ofi-nccl/lib64\n"
    assert node.calls("ldconfig")
    # no device is visible in the sandbox: logged, not failed (the health gate owns failing)
    assert "0 of 32 devices" in log
    assert not reboot_requested(node)  # fi_info works after the install: the module is loaded

    node.reset_calls()
    ok(node, "efa")
    assert node.installs() == []
    assert urls(node) == [] and node.calls("efa_installer.sh") == [] and node.calls("ldconfig") == []


def test_efa_skips_on_the_gpu_image(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan())
    assert node.ctx.gpu_ready_image
    # the DLAMI: EFA (libfabric with fi_info) and aws-ofi-nccl in /opt/amazon
    node.preinstall("rdma-core", "libfabric1-aws")
    (node.root / "opt/amazon/efa/bin").mkdir(parents=True)
    (node.root / "opt/amazon/ofi-nccl/lib64").mkdir(parents=True)
    log = ok(node, "efa")
    assert "EFA stack already installed" in log and "aws-ofi-nccl present" in log
    assert node.installs() == [] and urls(node) == [] and node.calls("efa_installer.sh") == []
    assert ["fi_info", "-p", "efa", "-t", "FI_EP_RDM"] in node.calls("fi_info")
    assert "EFA: 32 of 32 devices" in log  # counted as the health gate counts them


def test_efa_installer_waits_for_the_dpkg_lock(tmp_path: Path) -> None:
    """efa_installer.sh runs apt with no lock timeout: it starts only once unattended-upgrades is done."""
    node = Node(tmp_path, make_plan(image=CUSTOM_IMAGE))
    fake_efa_tarball(node)
    node.hold_dpkg_lock(looks=2)
    ok(node, "efa")
    names = [call[0] for call in node.calls()]
    assert names.count("fuser") == 3  # held, held, free
    assert max(i for i, n in enumerate(names) if n == "fuser") < names.index("efa_installer.sh")


def test_efa_builds_the_plugin_when_the_installer_lacks_it(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan())
    node.preinstall("libfabric1-aws")
    (node.root / "opt/amazon/efa").mkdir(parents=True)
    (node.root / "usr/local/cuda").mkdir(parents=True)
    fake_command(node, "make", "")
    # the release tarball unpacks to a source tree whose configure records its arguments
    fake_command(
        node,
        "tar",
        f"""
        dest=.
        while [ $# -gt 0 ]; do
          if [ "$1" = -C ]; then shift; dest=$1; fi
          shift
        done
        mkdir -p "$dest/aws-ofi-nccl-1.21.1"
        printf '#!/usr/bin/env bash\\nprintf "configure\\\\t%%s\\\\n" "$*" >>"{node.state}/calls.log"\\n' \\
          >"$dest/aws-ofi-nccl-1.21.1/configure"
        chmod +x "$dest/aws-ofi-nccl-1.21.1/configure"
        """,
    )
    ok(node, "efa")
    assert any(url.endswith("/v1.21.1/aws-ofi-nccl-1.21.1.tar.gz") for url in urls(node))
    (configure,) = node.calls("configure")
    assert f"--with-cuda={node.root}/usr/local/cuda" in configure[1]
    assert "--enable-platform-aws" in configure[1]
    assert {"build-essential", "libhwloc-dev"} <= set(node.installs())
    assert node.calls("make")


# --- InfiniBand ------------------------------------------------------------------------------------------


def test_infiniband_installs_doca_ofed_and_loads_peermem(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(instance_type="test-h100-ib.48xlarge"))
    assert node.ctx.fabric == "infiniband"
    ok(node, "infiniband")
    assert "doca-ofed" in node.installs()
    assert "linux-headers-6.8.0-1021-aws" in node.installs()
    assert "https://linux.mellanox.com/public/repo/doca/GPG-KEY-Mellanox.pub" in urls(node)
    source = node.file("/etc/apt/sources.list.d/doca.list")
    assert "signed-by=/etc/apt/keyrings/mellanox-doca.asc" in source
    assert "/doca/2.9.2/ubuntu22.04/x86_64/ ./" in source
    assert ["modprobe", "nvidia-peermem"] in node.calls("modprobe")
    assert node.file("/etc/modules-load.d/nvidia-peermem.conf") == "nvidia-peermem\n"
    assert reboot_requested(node)  # the DOCA kernel modules load at the next boot

    (node.root / "var/lib/provisioner/reboot-required").unlink()
    (node.root / "sys/module/nvidia_peermem").mkdir(parents=True)  # loaded by modules-load.d at boot
    node.reset_calls()
    ok(node, "infiniband")
    assert node.installs() == [] and urls(node) == [] and node.calls("modprobe") == []
    assert not reboot_requested(node)


def test_infiniband_keeps_the_image_ofed(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(instance_type="test-h100-ib.48xlarge", os="rocky-9"))
    node.provide("ofed_info")
    ok(node, "infiniband")
    assert node.installs() == [] and urls(node) == []
    assert not node.exists("/etc/yum.repos.d/doca.repo")
    assert ["modprobe", "nvidia-peermem"] in node.calls("modprobe")


def test_infiniband_on_rocky_uses_the_doca_yum_repository(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(instance_type="test-h100-ib.48xlarge", os="rocky-9"))
    (node.root / "etc").mkdir(parents=True, exist_ok=True)
    (node.root / "etc/os-release").write_text('NAME="Rocky Linux"\nVERSION_ID="9.4"\n')
    ok(node, "infiniband")
    repo = node.file("/etc/yum.repos.d/doca.repo")
    assert "baseurl=https://linux.mellanox.com/public/repo/doca/2.9.2/rhel9.4/x86_64/" in repo
    assert "gpgcheck=1" in repo
    assert {"kernel-devel", "doca-ofed"} <= set(node.installs())
    assert "kernel-devel-5.14.0-503.14.1.el9_5.x86_64" in [arg for call in node.calls("dnf") for arg in call]


def test_infiniband_boot_loads_peermem_after_the_driver_reboot(tmp_path: Path) -> None:
    """A plain image: nvidia-peermem cannot load before the NVIDIA driver does; modules-load.d loads it at the
    reboot, and the health gate (an InfiniBand device and nvidia-peermem) passes on the boot after it."""
    node = Node(tmp_path, make_plan(instance_type="test-h100-ib.48xlarge", image=CUSTOM_IMAGE))
    first = node.run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "nvidia-peermem did not load now" in node.file("/var/log/provisioner/infiniband.log")
    assert node.calls("reboot") and node.status()["state"] == "rebooting"
    assert node.exists("/sys/module/nvidia_peermem")  # loaded by the reboot, from modules-load.d
    node.reset_calls()
    second = node.run()
    assert second.returncode == 0, second.stdout + second.stderr
    assert node.exists("/sys/module/nvidia_peermem")
    assert node.calls("modprobe") == [] and node.installs() == []
    checks = {check["name"]: check["status"] for check in node.health()["checks"]}
    assert checks["fabric"] == "ok" and checks["nvidia-peermem"] == "ok"


def test_infiniband_on_amd_has_no_peermem(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(gpu="MI300X", instance_type="test-mi300x-ib.48xlarge"))
    node.provide("ofed_info")
    ok(node, "infiniband")
    assert node.calls("modprobe") == []
    assert not node.exists("/etc/modules-load.d/nvidia-peermem.conf")
    assert "peermem" not in node.file("/opt/provisioner/steps/infiniband.sh").split("\nset -euo")[1]


# --- ROCm ------------------------------------------------------------------------------------------------


@pytest.fixture
def amd_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Node:
    # amdgpu-install is this test's fake (it installs the rocm usecase's packages), not a no-op shim
    monkeypatch.setitem(harness.PROVIDES, "amdgpu-install", ())
    node = Node(tmp_path, make_plan(gpu="MI300X", instance_type="test-mi300x.48xlarge", image=CUSTOM_IMAGE))
    fake_command(node, "amdgpu-install", "apt-get install -y -q amdgpu-dkms rocm\n")
    return node


def test_rocm_installs_amdgpu_install_and_rocm_once(amd_node: Node) -> None:
    node = amd_node
    ok(node, "rocm")
    assert urls(node) == [
        "https://repo.radeon.com/amdgpu-install/6.4/ubuntu/jammy/amdgpu-install_6.4.60400-1_all.deb"
    ]
    assert node.installs() == [
        "linux-headers-6.8.0-1021-aws",
        "linux-modules-extra-6.8.0-1021-aws",
        "amdgpu-install",
        "amdgpu-dkms",
        "rocm",
    ]
    assert node.calls("amdgpu-install") == [["amdgpu-install", "-y", "--usecase=rocm", "--no-32"]]
    assert reboot_requested(node)  # a fresh amdgpu-dkms

    (node.root / "var/lib/provisioner/reboot-required").unlink()
    node.reset_calls()
    ok(node, "rocm")
    assert node.installs() == [] and urls(node) == [] and node.calls("amdgpu-install") == []
    assert not reboot_requested(node)


def test_rocm_boot_reboots_once_then_is_healthy(amd_node: Node) -> None:
    node = amd_node
    fake_efa_tarball(node)
    first = node.run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert node.calls("reboot") and node.status()["state"] == "rebooting"
    node.reset_calls()
    second = node.run()
    assert second.returncode == 0, second.stdout + second.stderr
    assert node.installs() == [] and node.calls("reboot") == []
    assert node.status()["state"] == "ready"
    assert node.health()["healthy"] is True


def test_rocm_waits_for_the_dpkg_lock_before_amdgpu_install(amd_node: Node) -> None:
    node = amd_node
    node.hold_dpkg_lock(looks=3)
    log = ok(node, "rocm")
    names = [call[0] for call in node.calls()]
    assert names.count("fuser") == 4
    assert max(i for i, n in enumerate(names) if n == "fuser") < names.index("amdgpu-install")
    assert "waiting for another package manager" in log
    # the installer .deb went through apt, which waits for the lock itself
    assert not [c for c in node.calls("dpkg") if "-i" in c]
    deb = str(node.root / "var/cache/provisioner/rocm/amdgpu-install_6.4.60400-1_all.deb")
    assert ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", deb] in node.calls("apt-get")


def test_rocm_gives_up_on_a_lock_that_is_never_released(amd_node: Node) -> None:
    node = amd_node
    node.hold_dpkg_lock()
    result = node.run_step("rocm")
    assert result.returncode != 0
    assert "dpkg is still locked" in result.stdout and "gave up after 3 attempts" in result.stdout
    assert node.calls("amdgpu-install") == []
    assert len(node.calls("fuser")) == 3 * 121  # 120 looks and the last one, on each attempt


def test_rocm_keeps_an_image_that_has_it(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(gpu="MI300X", instance_type="test-mi300x.48xlarge", image=CUSTOM_IMAGE))
    node.preinstall("rocm")
    ok(node, "rocm")
    assert node.installs() == [] and urls(node) == [] and node.calls("amdgpu-install") == []


def test_rocm_url_follows_the_declared_release(tmp_path: Path) -> None:
    plan = make_plan(gpu="MI300X", instance_type="test-mi300x.48xlarge", os="ubuntu-24.04", rocm="6.3.3")
    script = Node(tmp_path, plan).file("/opt/provisioner/steps/rocm.sh")
    assert (
        "https://repo.radeon.com/amdgpu-install/6.3.3/ubuntu/noble/amdgpu-install_6.3.60303-1_all.deb"
        in script
    )


# --- Apptainer and Enroot --------------------------------------------------------------------------------


@pytest.mark.parametrize("os_name", ["ubuntu-22.04", "rocky-9"])
def test_apptainer_installs_once(tmp_path: Path, os_name: str) -> None:
    node = Node(tmp_path, make_plan(apptainer=True, os=os_name))
    ok(node, "apptainer")
    if os_name == "rocky-9":
        assert node.installs() == ["epel-release", "apptainer"]
        assert urls(node) == []
    else:
        assert node.installs() == ["apptainer"]
        assert urls(node) == [
            "https://github.com/apptainer/apptainer/releases/download/v1.4.5/apptainer_1.4.5_amd64.deb"
        ]
    node.reset_calls()
    assert "already installed" in ok(node, "apptainer")
    assert node.installs() == [] and urls(node) == []


def test_apptainer_ppa_leaves_the_package_refresh_to_apt(tmp_path: Path) -> None:
    """Off amd64, the PPA: add-apt-repository -n runs no apt update of its own (it would not wait for the
    lock); pkg_install refreshes with DPkg::Lock::Timeout."""
    node = Node(tmp_path, make_plan(apptainer=True))
    node.set_arch("arm64")
    ok(node, "apptainer")
    assert ["add-apt-repository", "-y", "-n", "ppa:apptainer/ppa"] in node.calls("add-apt-repository")
    assert urls(node) == []
    calls = node.calls()
    added = calls.index(["add-apt-repository", "-y", "-n", "ppa:apptainer/ppa"])
    assert ["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-q"] in calls[added:]
    assert "apptainer" in node.installs()


def test_apptainer_skips_when_present(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(apptainer=True))
    node.provide("apptainer")
    ok(node, "apptainer")
    assert node.installs() == [] and urls(node) == []


ENROOT_SETTINGS = {
    "ENROOT_RUNTIME_PATH": "/run/enroot/user-$(id -u)",
    "ENROOT_CACHE_PATH": "/scratch/enroot/cache/group-$(id -g)",
    "ENROOT_DATA_PATH": "/scratch/enroot/data/user-$(id -u)",
    "ENROOT_TEMP_PATH": "/scratch/enroot/tmp",
}


def enroot_conf(node: Node) -> dict[str, str]:
    lines = [line.split(None, 1) for line in node.file("/etc/enroot/enroot.conf").splitlines()]
    return {fields[0]: fields[1] for fields in lines if fields and not fields[0].startswith("#")}


def test_enroot_installs_once_and_configures_its_paths(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(enroot=True, storage=[LocalScratch()]))
    ok(node, "enroot")
    assert node.installs() == ["enroot", "enroot+caps"]
    release = "https://github.com/NVIDIA/enroot/releases/download/v4.1.1"
    assert urls(node) == [f"{release}/enroot_4.1.1-1_amd64.deb", f"{release}/enroot+caps_4.1.1-1_amd64.deb"]
    assert not [c for c in node.calls("dpkg") if "-i" in c]  # apt, which waits for the lock
    assert enroot_conf(node) == ENROOT_SETTINGS
    assert "d /run/enroot 1777 root root -" in node.file("/etc/tmpfiles.d/provisioner-enroot.conf")
    assert (node.root / "scratch/enroot/tmp").stat().st_mode & 0o7777 == 0o1777

    conf = node.file("/etc/enroot/enroot.conf")
    node.reset_calls()
    ok(node, "enroot")
    assert node.installs() == [] and urls(node) == []
    assert node.file("/etc/enroot/enroot.conf") == conf


def test_enroot_keeps_settings_already_made(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(enroot=True, os="rocky-9"))
    (node.root / "etc/enroot").mkdir(parents=True)
    (node.root / "etc/enroot/enroot.conf").write_text(
        "#ENROOT_DATA_PATH ${XDG_DATA_HOME}/enroot\nENROOT_DATA_PATH /data/enroot\n"
    )
    ok(node, "enroot")
    release = "https://github.com/NVIDIA/enroot/releases/download/v4.1.1"
    rpms = [f"{release}/enroot-4.1.1-1.el8.x86_64.rpm", f"{release}/enroot+caps-4.1.1-1.el8.x86_64.rpm"]
    assert node.installs() == ["epel-release", *rpms]  # dnf installs straight from the URLs
    assert {"enroot", "enroot+caps"} <= set(node.installed())
    settings = enroot_conf(node)
    assert settings["ENROOT_DATA_PATH"] == "/data/enroot"
    assert settings["ENROOT_TEMP_PATH"] == "/var/lib/enroot/tmp"  # no scratch disk: the root disk
