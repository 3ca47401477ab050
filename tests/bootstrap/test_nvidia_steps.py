"""The NVIDIA boot steps (driver, fabric manager, CUDA, container toolkit, DCGM) on a sandboxed node.

Plain OS images install everything from NVIDIA's repositories, pinned; the provider's GPU image keeps what it
has; a second boot installs nothing; a driver install takes exactly one reboot.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest
from harness import PACKAGED_PERSISTENCED, PLAIN_IMAGE, Node, make_plan, shellcheck

from provisioner.bootstrap import node_context, node_files, node_metadata

TOOLKIT = "1.20.0"
TOOLKIT_PACKAGES = ("nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
                    "libnvidia-container1")  # fmt: skip
NVIDIA_STEPS = ("nvidia-driver", "fabric-manager", "cuda", "container-toolkit", "dcgm")
PREPARE = {
    "debian": ("ca-certificates", "curl", "gnupg", "pciutils", "mdadm", "xfsprogs", "jq"),
    "rhel": ("ca-certificates", "curl", "gnupg2", "pciutils", "mdadm", "xfsprogs", "jq", "dnf-plugins-core"),
}
SHAPES = {"p5-efa": ("H100", "p5.48xlarge"), "g6-none": ("L4", "g6.xlarge")}
OSES = ("ubuntu-22.04", "ubuntu-24.04", "rocky-9")
RUNTIMES = ("containerd", "docker")


def efa_image(node: Node) -> None:
    """The EFA stack and aws-ofi-nccl are there (the efa step is not under test here)."""
    (node.root / "opt/amazon/efa").mkdir(parents=True, exist_ok=True)
    (node.root / "opt/amazon/ofi-nccl/lib").mkdir(parents=True, exist_ok=True)


def installs_of(node: Node) -> list[list[str]]:
    """Package-manager calls that install something (apt-get/dnf install, dnf module, dpkg -i)."""
    found = []
    for call in node.calls():
        words = [w for w in call[1:] if not w.startswith("-")]
        if call[0] in ("apt-get", "dnf") and words[:1] in (["install"], ["module"]):
            found.append(call)
        if call[0] == "dpkg" and "-i" in call:
            found.append(call)
    return found


def args_of(calls: list[list[str]]) -> list[str]:
    return [arg for call in calls for arg in call[1:]]


def boot_twice(node: Node) -> tuple[list[str], list[list[str]]]:
    """First boot (installs, reboots), then the boot after the reboot. Returns the first boot's installs and
    calls; asserts that the second boot installs nothing and ends ready."""
    first = node.run()
    assert first.returncode == 0, first.stderr + node.file("/var/lib/provisioner/status.json")
    installs, calls = node.installs(), node.calls()
    node.reset_calls()
    second = node.run()
    assert second.returncode == 0, second.stderr
    assert node.installs() == [], "the second boot installed packages"
    assert installs_of(node) == []
    assert node.calls("reboot") == []
    assert node.status()["state"] == "ready"
    return installs, calls


# --- plain OS images: install everything --------------------------------------------------------------------


@pytest.mark.parametrize(("os", "runtime", "shape"), list(itertools.product(OSES, RUNTIMES, SHAPES)))
def test_plain_image_installs_the_pinned_stack_once(
    tmp_path: Path, os: str, runtime: str, shape: str
) -> None:
    gpu, instance_type = SHAPES[shape]
    plan = make_plan(gpu, instance_type, os=os, image=PLAIN_IMAGE, container_runtime=runtime, cuda="12.8")
    node = Node(tmp_path, plan)
    efa_image(node)
    fabric = shape == "p5-efa"
    assert node.ctx.fabric_manager is fabric

    installs, calls = boot_twice(node)
    call_args = [arg for call in calls for arg in call]
    manager = [c for c in calls if c[0] in ("apt-get", "dnf")]
    assert [c for c in calls if c[0] == "reboot"] == [["reboot"]], "a driver install takes one reboot"

    if os.startswith("ubuntu"):
        repo = {"ubuntu-22.04": "ubuntu2204", "ubuntu-24.04": "ubuntu2404"}[os]
        keyring = f"https://developer.download.nvidia.com/compute/cuda/repos/{repo}/x86_64/cuda-keyring_1.1-1_all.deb"
        assert keyring in call_args
        assert installs.count("cuda-keyring") == 1
        assert "nvidia-driver-580-server-open" in installs
        assert "linux-headers-6.8.0-1021-aws" in installs
        assert ("nvidia-fabricmanager-580" in installs) is fabric
        assert "cuda-toolkit-12-8" in installs
        assert ("containerd" if runtime == "containerd" else "docker.io") in installs
        for package in TOOLKIT_PACKAGES:
            assert f"{package}={TOOLKIT}-1" in args_of(manager)
        assert (
            "https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list"
            in call_args
        )
        assert "datacenter-gpu-manager-4-cuda13" in installs
        assert not any(c[0] == "dnf" for c in calls)
    else:
        assert (
            "https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64/cuda-rhel9.repo"
            in call_args
        )
        assert ["dnf", "module", "enable", "-y", "-q", "nvidia-driver:580-open"] in calls
        assert "nvidia-open" in installs
        assert "kernel-devel-matched" in installs
        assert ("nvidia-fabric-manager" in installs) is fabric
        assert "cuda-toolkit-12-8" in installs
        expected_runtime = (
            ["containerd.io"] if runtime == "containerd" else ["docker-ce", "docker-ce-cli", "containerd.io"]
        )
        assert all(p in installs for p in expected_runtime)
        for package in TOOLKIT_PACKAGES:
            assert f"{package}-{TOOLKIT}-1" in args_of(manager)
        assert (
            "https://nvidia.github.io/libnvidia-container/stable/rpm/nvidia-container-toolkit.repo"
            in call_args
        )
        assert "datacenter-gpu-manager-4-cuda13" in installs
        assert not any(c[0] in ("apt-get", "dpkg") for c in calls)
    assert all(installs.count(p) == 1 for p in installs), "a package was installed twice"

    # the runtime is wired to the toolkit; the services run after the reboot
    config = "etc/containerd/config.toml" if runtime == "containerd" else "etc/docker/daemon.json"
    assert f"--runtime={runtime}" in call_args
    assert "nvidia" in node.file(config)
    assert {runtime, "nvidia-dcgm", "nvidia-persistenced"} <= node.active()
    assert ("nvidia-fabricmanager" in node.active()) is fabric
    assert "nvidia.com/gpu" in node.file("/etc/cdi/nvidia.yaml")
    assert "CUDA_HOME=/usr/local/cuda-12.8" in node.file("/etc/profile.d/cuda.sh")
    assert node.health()["healthy"] is True
    assert node.file(PERSISTENCED_DROPIN).endswith(PERSISTENCED_SERVICE)


def test_plain_image_loads_the_driver_only_after_the_reboot(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(image=PLAIN_IMAGE))
    efa_image(node)
    first = node.run()
    assert first.returncode == 0, first.stderr
    log = node.file("/var/log/provisioner/container-toolkit.log")
    assert "CDI spec is generated on the boot after the reboot" in log
    assert not node.exists("/etc/cdi/nvidia.yaml")
    # services that need the driver are enabled, not started, before the reboot
    assert ["systemctl", "enable", "nvidia-fabricmanager"] in node.calls("systemctl")
    assert ["systemctl", "enable", "nvidia-dcgm"] in node.calls("systemctl")
    assert not any(
        "start" in c or "--now" in c for c in node.calls("systemctl") if "nvidia-fabricmanager" in c
    )
    assert node.status()["state"] == "rebooting"


def test_rocky_takes_the_proprietary_stream_for_an_old_branch(tmp_path: Path) -> None:
    plan = make_plan(os="rocky-9", image=PLAIN_IMAGE, nvidia_driver="535")
    node = Node(tmp_path, plan)
    assert node.ctx.open_kernel_modules is False
    for step in ("prepare", "nvidia-driver", "fabric-manager", "dcgm"):
        assert node.run_step(step).returncode == 0
    assert ["dnf", "module", "enable", "-y", "-q", "nvidia-driver:535-dkms"] in node.calls("dnf")
    assert "cuda-drivers" in node.installs()
    assert "datacenter-gpu-manager-4-cuda12" in node.installs()


def test_ubuntu_takes_the_proprietary_modules_for_an_old_branch(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(os="ubuntu-24.04", image=PLAIN_IMAGE, nvidia_driver="535"))
    node.preinstall(*PREPARE["debian"])
    for step in ("nvidia-driver", "fabric-manager", "dcgm"):
        assert node.run_step(step).returncode == 0
    assert node.installs() == [
        "cuda-keyring",
        "nvidia-driver-535-server",
        "linux-headers-6.8.0-1021-aws",
        "nvidia-fabricmanager-535",
        "datacenter-gpu-manager-4-cuda12",
    ]


def test_exact_driver_version_is_pinned(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(os="ubuntu-22.04", image=PLAIN_IMAGE, nvidia_driver="580.105.08"))
    node.preinstall(*PREPARE["debian"])
    assert node.run_step("nvidia-driver").returncode == 0
    assert node.file("/etc/apt/preferences.d/provisioner-nvidia-driver") == (
        "Package: *nvidia*580*\nPin: version 580.105.08-*\nPin-Priority: 1001\n"
    )
    assert node.run_step("fabric-manager").returncode == 0
    assert "Pin: version 580.105.08-*" in node.file("/etc/apt/preferences.d/provisioner-nvidia-fabricmanager")
    assert node.installed()["nvidia-fabricmanager-580"].startswith("580.105.08")


def test_exact_driver_version_on_rocky_is_named(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(os="rocky-9", image=PLAIN_IMAGE, nvidia_driver="580.105.08"))
    node.preinstall(*PREPARE["rhel"])
    assert node.run_step("nvidia-driver").returncode == 0
    assert node.run_step("fabric-manager").returncode == 0
    dnf_args = args_of(node.calls("dnf"))
    assert "nvidia-open-580.105.08" in dnf_args
    assert "nvidia-fabric-manager-580.105.08" in dnf_args


def test_a_driver_step_run_again_before_the_reboot_installs_nothing(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(image=PLAIN_IMAGE))
    node.preinstall(*PREPARE["debian"])
    assert node.run_step("nvidia-driver").returncode == 0
    before = node.installs()
    again = node.run_step("nvidia-driver")
    assert again.returncode == 0
    assert node.installs() == before
    assert "installed but not loaded" in again.stdout
    assert node.exists("/var/lib/provisioner/reboot-required")


# --- persistence mode ---------------------------------------------------------------------------------------

PERSISTENCED_DROPIN = "/etc/systemd/system/nvidia-persistenced.service.d/provisioner.conf"
PERSISTENCED_SERVICE = "[Service]\nExecStart=\nExecStart=/usr/bin/nvidia-persistenced --verbose\n"


def persistence_modes(node: Node) -> list[str]:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=persistence_mode", "--format=csv,noheader"],
        env=node.env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.split()


def test_persistence_mode_is_on_after_the_reboot(tmp_path: Path) -> None:
    """Ubuntu's unit passes --no-persistence-mode: the drop-in clears it, systemd reloads once, and the
    daemon the reboot starts turns persistence mode on. A second boot rewrites and reloads nothing."""
    node = Node(tmp_path, make_plan("L4", "g6.xlarge", image=PLAIN_IMAGE))
    first = node.run()
    assert first.returncode == 0, first.stderr
    assert node.file(PERSISTENCED_DROPIN).endswith(PERSISTENCED_SERVICE)
    assert "--no-persistence-mode" in node.file(PERSISTENCED_DROPIN)  # named in its comment only
    assert node.calls("systemctl").count(["systemctl", "daemon-reload"]) == 1
    node.reset_calls()
    assert node.run().returncode == 0
    assert ["systemctl", "daemon-reload"] not in node.calls("systemctl")
    assert persistence_modes(node) == ["Enabled"]
    health = {check["name"]: check["status"] for check in node.health()["checks"]}
    assert health["persistence-mode"] == "ok"


def test_persistence_mode_of_a_running_image_daemon_is_turned_on(tmp_path: Path) -> None:
    """The GPU image runs nvidia-persistenced with the packaged --no-persistence-mode: after the drop-in it is
    restarted (a start would leave the running daemon as it is)."""
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    gpu_image(node, "containerd")
    node.activate("nvidia-persistenced")
    assert (node.state / "persistenced-exec").read_text().strip() == PACKAGED_PERSISTENCED
    assert persistence_modes(node) == ["Disabled"]
    assert node.run_step("nvidia-driver").returncode == 0
    systemctl = node.calls("systemctl")
    assert systemctl.index(["systemctl", "daemon-reload"]) < systemctl.index(
        ["systemctl", "restart", "nvidia-persistenced"]
    )
    assert persistence_modes(node) == ["Enabled"]
    assert node.calls("nvidia-smi").count(["nvidia-smi", "-pm", "1"]) == 0
    node.reset_calls()
    assert node.run_step("nvidia-driver").returncode == 0
    assert [c for c in node.calls("systemctl") if "restart" in c or "daemon-reload" in c] == []


def test_persistence_mode_without_the_unit_falls_back_to_nvidia_smi(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    node.provide("nvidia-smi")  # a driver without nvidia-persistenced
    assert node.run_step("nvidia-driver").returncode == 0
    assert ["nvidia-smi", "-pm", "1"] in node.calls("nvidia-smi")
    assert not node.exists(PERSISTENCED_DROPIN)
    assert persistence_modes(node) == ["Enabled"]


# --- the provider's GPU image: keep what it has -------------------------------------------------------------


def gpu_image(node: Node, runtime: str, driver: str = "570.133.20") -> None:
    """What the DLAMI carries: driver (loaded), fabric manager, toolkit, DCGM, docker and containerd."""
    node.preinstall(*PREPARE[node.ctx.os_family])
    node.preinstall(f"nvidia-driver-{driver.split('.')[0]}-server-open={driver}-0ubuntu1")
    node.set_driver_version(driver)
    for command in (
        "nvidia-smi",
        "nvidia-ctk",
        "dcgmi",
        "nv-fabricmanager",
        "containerd",
        "docker",
        "dockerd",
    ):
        node.provide(command)
    if node.ctx.fabric_manager:
        node.preinstall(f"nvidia-fabricmanager-{driver.split('.')[0]}={driver}-1")
    efa_image(node)


@pytest.mark.parametrize(
    ("os", "runtime", "shape"),
    list(itertools.product(("ubuntu-22.04", "ubuntu-24.04"), RUNTIMES, SHAPES)),
)
def test_gpu_image_installs_nothing_it_has(tmp_path: Path, os: str, runtime: str, shape: str) -> None:
    gpu, instance_type = SHAPES[shape]
    node = Node(tmp_path, make_plan(gpu, instance_type, os=os, container_runtime=runtime))
    assert node.ctx.gpu_ready_image and node.ctx.keep_image_driver
    gpu_image(node, runtime)
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert node.installs() == []
    assert installs_of(node) == []
    assert node.calls("reboot") == []
    assert not any("cuda-keyring" in arg for call in node.calls() for arg in call)
    assert "keeping the image's NVIDIA driver 570.133.20" in node.file(
        "/var/log/provisioner/nvidia-driver.log"
    )
    assert node.status()["state"] == "ready"
    # wired and running all the same: enabling is idempotent
    assert node.exists("/etc/cdi/nvidia.yaml")
    assert {runtime, "nvidia-dcgm"} <= node.active()
    assert ("nvidia-fabricmanager" in node.active()) is (shape == "p5-efa")
    # and a second boot changes nothing: no restart, no new CDI spec
    node.reset_calls()
    assert node.run().returncode == 0
    assert node.installs() == []
    assert not [c for c in node.calls("systemctl") if "restart" in c]
    assert "CDI spec" in node.file("/var/log/provisioner/container-toolkit.log")
    assert "up to date" in node.file("/var/log/provisioner/container-toolkit.log").splitlines()[-1]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_gpu_image_without_the_runtime_installs_only_the_runtime(tmp_path: Path, runtime: str) -> None:
    node = Node(tmp_path, make_plan(container_runtime=runtime))
    node.preinstall(*PREPARE["debian"])
    node.set_driver_version("570.133.20")
    for command in ("nvidia-smi", "nvidia-ctk", "dcgmi", "nv-fabricmanager"):
        node.provide(command)
    efa_image(node)
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert node.installs() == (["containerd"] if runtime == "containerd" else ["docker.io"])


def test_gpu_image_without_fabric_manager_gets_the_one_of_its_driver(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan())
    node.preinstall(*PREPARE["debian"], "nvidia-driver-570-server-open=570.133.20-0ubuntu1")
    node.set_driver_version("570.133.20")
    assert node.run_step("fabric-manager").returncode == 0
    assert node.installs() == ["cuda-keyring", "nvidia-fabricmanager-570"]
    assert node.file("/etc/apt/preferences.d/provisioner-nvidia-fabricmanager") == (
        "Package: nvidia-fabricmanager-570\nPin: version 570.133.20-*\nPin-Priority: 1001\n"
    )
    assert ["systemctl", "enable", "--now", "nvidia-fabricmanager"] in node.calls("systemctl")
    assert "nvidia-fabricmanager" in node.active()


def test_declared_driver_replaces_the_image_driver_and_its_fabric_manager(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(nvidia_driver="580.105.08"))
    assert node.ctx.gpu_ready_image and not node.ctx.keep_image_driver
    gpu_image(node, "containerd")
    installs, calls = boot_twice(node)
    assert installs == [
        "cuda-keyring",
        "nvidia-driver-580-server-open",
        "linux-headers-6.8.0-1021-aws",
        "nvidia-fabricmanager-580",
    ]
    assert [c for c in calls if c[0] == "reboot"] == [["reboot"]]
    # the old fabric manager does not start against the new driver before the reboot
    assert ["systemctl", "enable", "nvidia-fabricmanager"] in calls
    assert "nvidia-fabricmanager" in node.active()


def test_gpu_image_cuda_in_usr_local_is_kept(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(cuda="12.8"))
    node.preinstall(*PREPARE["debian"])
    nvcc = node.root / "usr/local/cuda-12.8/bin/nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("#!/bin/sh\n")
    nvcc.chmod(0o755)
    assert node.run_step("cuda").returncode == 0
    assert node.installs() == []
    profile = node.file("/etc/profile.d/cuda.sh")
    assert "export CUDA_HOME=/usr/local/cuda-12.8" in profile
    # the profile works in a login shell and is idempotent
    env = {"PATH": "/usr/bin:/bin"}
    profile = node.root / "etc/profile.d/cuda.sh"
    out = subprocess.run(
        ["/bin/bash", "-c", f". {profile}; . {profile}; echo $PATH"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "/usr/local/cuda-12.8/bin:/usr/bin:/bin"
    assert node.run_step("cuda").returncode == 0
    assert "already in place" in node.run_step("cuda").stdout


# --- change detection ---------------------------------------------------------------------------------


def test_cdi_spec_is_regenerated_only_when_the_gpus_change(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan())
    gpu_image(node, "containerd")
    assert node.run_step("container-toolkit").returncode == 0
    spec = node.file("/etc/cdi/nvidia.yaml")
    again = node.run_step("container-toolkit")
    assert "up to date" in again.stdout and "already configured" in again.stdout
    assert node.file("/etc/cdi/nvidia.yaml") == spec
    node.set_gpus(4)
    changed = node.run_step("container-toolkit")
    assert "wrote CDI spec" in changed.stdout
    assert node.file("/etc/cdi/nvidia.yaml") != spec
    assert not list((node.root / "etc/cdi").glob("nvidia.yaml.*")), "a temporary spec was left behind"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_cdi_is_enabled_in_the_runtime(tmp_path: Path, runtime: str) -> None:
    node = Node(tmp_path, make_plan(container_runtime=runtime))
    gpu_image(node, runtime)
    assert node.run_step("container-toolkit").returncode == 0
    (configure,) = [c for c in node.calls("nvidia-ctk") if c[1:3] == ["runtime", "configure"]]
    assert "--cdi.enabled" in configure and f"--runtime={runtime}" in configure
    if runtime == "containerd":
        assert "enable_cdi = true" in node.file("/etc/containerd/config.toml")
    else:
        assert '"features": {"cdi": true}' in node.file("/etc/docker/daemon.json")


CRI_DISABLED = 'disabled_plugins = ["cri"]\n'
"""The /etc/containerd/config.toml of containerd.io from Docker's repositories."""


def test_containerd_from_docker_gets_its_cri_plugin_back(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(container_runtime="containerd"))
    gpu_image(node, "containerd")
    (node.root / "etc/containerd").mkdir(parents=True)
    (node.root / "etc/containerd/config.toml").write_text(CRI_DISABLED)
    result = node.run_step("container-toolkit")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ["containerd", "config", "default"] in node.calls("containerd")
    config = node.file("/etc/containerd/config.toml")
    assert "disabled_plugins" not in config
    assert '[plugins."io.containerd.grpc.v1.cri"]' in config and "enable_cdi = true" in config
    assert node.file("/etc/containerd/config.toml.provisioner-orig") == CRI_DISABLED
    calls = node.calls()
    assert calls.index(["containerd", "config", "default"]) < next(
        i for i, c in enumerate(calls) if c[:3] == ["nvidia-ctk", "runtime", "configure"]
    )
    assert ["systemctl", "restart", "containerd"] in node.calls("systemctl")
    # the regenerated config is kept: no second regeneration, no restart
    node.reset_calls()
    assert node.run_step("container-toolkit").returncode == 0
    assert node.calls("containerd") == []
    assert ["systemctl", "restart", "containerd"] not in node.calls("systemctl")


def test_a_containerd_config_with_cri_is_kept(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(container_runtime="containerd"))
    gpu_image(node, "containerd")
    (node.root / "etc/containerd").mkdir(parents=True)
    (node.root / "etc/containerd/config.toml").write_text("version = 2\ndisabled_plugins = []\n")
    assert node.run_step("container-toolkit").returncode == 0
    assert node.calls("containerd") == []
    assert node.file("/etc/containerd/config.toml").startswith("version = 2\ndisabled_plugins = []\n")


def test_runtime_restarts_only_when_its_config_changed(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(container_runtime="docker"))
    gpu_image(node, "docker")
    assert node.run_step("container-toolkit").returncode == 0
    assert ["systemctl", "restart", "docker"] in node.calls("systemctl")
    node.reset_calls()
    assert node.run_step("container-toolkit").returncode == 0
    assert ["systemctl", "restart", "docker"] not in node.calls("systemctl")


def test_toolkit_repository_is_signed_by_its_keyring(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan(image=PLAIN_IMAGE))
    node.preinstall(*PREPARE["debian"], "containerd")
    node.serve(
        "nvidia-container-toolkit.list",
        "deb https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n",
    )
    assert node.run_step("container-toolkit").returncode == 0
    assert node.file("/etc/apt/sources.list.d/nvidia-container-toolkit.list") == (
        "deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] "
        "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n"
    )
    assert node.exists("/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg")


# --- package installs wait for dpkg's lock -----------------------------------------------------------------


def test_the_cuda_keyring_is_installed_by_apt_waiting_for_the_lock(tmp_path: Path) -> None:
    """dpkg -i fails at once when unattended-upgrades holds the lock; apt-get waits (DPkg::Lock::Timeout)."""
    node = Node(tmp_path, make_plan(image=PLAIN_IMAGE))
    node.preinstall(*PREPARE["debian"])
    assert node.run_step("nvidia-driver").returncode == 0
    assert [c for c in node.calls("dpkg") if "-i" in c or "--install" in c] == []
    keyring = str(node.root / "var/lib/provisioner/cuda-keyring_1.1-1_all.deb")
    apt_install = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", keyring]
    assert apt_install in node.calls("apt-get")
    assert "cuda-keyring" in node.installed()
    assert not node.exists("/var/lib/provisioner/cuda-keyring_1.1-1_all.deb")


# --- failures ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("os", "command", "step"),
    [
        ("ubuntu-22.04", "apt-get", "nvidia-driver"),
        ("ubuntu-24.04", "curl", "nvidia-driver"),
        ("rocky-9", "dnf", "nvidia-driver"),
        ("ubuntu-22.04", "nvidia-ctk", "container-toolkit"),
    ],
)
def test_a_failing_step_stops_the_boot_and_is_named(tmp_path: Path, os: str, command: str, step: str) -> None:
    node = Node(tmp_path, make_plan(os=os, image=PLAIN_IMAGE))
    node.preinstall(*PREPARE[node.ctx.os_family])
    efa_image(node)
    node.fail(command)
    result = node.run()
    assert result.returncode != 0
    assert f"step '{step}' failed" in result.stderr
    assert node.status() | {"time": ""} == {"state": "failed", "step": step, "time": ""}
    assert node.calls("reboot") == []
    # the steps after it did not run
    assert not node.exists("/var/log/provisioner/dcgm.log")


# --- the rendered scripts pass shellcheck -------------------------------------------------------------------


def _rendered_nvidia_scripts() -> dict[str, str]:
    scripts: dict[str, str] = {}
    variants = [
        {"os": os, "container_runtime": runtime, "cuda": "12.8", **extra}
        for os in OSES
        for runtime in RUNTIMES
        for extra in ({}, {"image": PLAIN_IMAGE}, {"nvidia_driver": "580.105.08"}, {"nvidia_driver": "535"})
    ]
    for software in variants:
        plan = make_plan(**software)
        pool = plan.pools[0]
        ctx = node_context(plan, pool)
        for f in node_files(ctx, node_metadata(plan, pool)):
            name = f.path.rsplit("/", 1)[-1].removesuffix(".sh")
            if name in NVIDIA_STEPS:
                scripts.setdefault(f.content, f"{name} ({software})")
    return {label: content for content, label in scripts.items()}


def test_rendered_steps_pass_shellcheck(tmp_path: Path) -> None:
    scripts = _rendered_nvidia_scripts()
    assert {label.split(" ")[0] for label in scripts} == set(NVIDIA_STEPS)
    paths = []
    for i, (label, content) in enumerate(sorted(scripts.items())):
        path = tmp_path / f"{i:03d}-{label.split(' ')[0]}.sh"
        path.write_text(content)
        paths.append(path)
    result = subprocess.run(
        [shellcheck(), "-s", "bash", "-S", "style", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_step_sources_lib_and_is_strict() -> None:
    for content in _rendered_nvidia_scripts().values():
        assert content.startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail\n" in content
        assert '. "${PROVISIONER_ROOT:-}/opt/provisioner/lib.sh"' in content
