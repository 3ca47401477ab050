"""The bootstrap on Google Cloud, planned by the real planner from the shipped gcp offers: Secret Manager and
instance-metadata configuration for Slurm, the metadata guard, Google's GPUDirect fabrics (NCCL settings and
the gpudirect step), Filestore (NFS) and Managed Lustre mounts. Scripts run in the sandbox of harness.py."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import Node, shellcheck

from provisioner import Cluster, NodePool, load_catalog, plan_cluster
from provisioner.bootstrap import SecretRef, SlurmWiring, render_pool, render_support, steps_for
from provisioner.bootstrap.context import node_context
from provisioner.bootstrap.mounts import LustreMount, NfsMount
from provisioner.bootstrap.slurm import gcp_metadata_key
from provisioner.bootstrap.userdata import render_user_data
from provisioner.plan import ClusterPlan
from provisioner.spec import Lustre, Nfs, Slurm

SHAPES = {
    "a3-highgpu-8g": ("H100", "gpudirect-tcpx"),
    "a3-megagpu-8g": ("H100", "gpudirect-tcpxo"),
    "a3-ultragpu-8g": ("H200", "gpudirect-rdma"),
    "a4-highgpu-8g": ("B200", "gpudirect-rdma"),
}
KEY = bytes(range(128))
TOKEN = "ya29.sandbox-token-never-logged"
PROJECT = "my-project"
PREFIX = "c-slurm"
WIRING = SlurmWiring(
    "10.0.0.10",
    SecretRef("gcp-secretmanager", "c-munge-key", ""),
    db_password=SecretRef("gcp-secretmanager", "c-db-password", ""),
    config_store="gcp-metadata",
    config_path=PREFIX,
)
FILESTORE = NfsMount("10.1.0.2", "/home", "/home/shared")
MANAGED_LUSTRE = LustreMount("10.2.0.3", "lfs", "/lustre")


def gcp_plan(
    instance_type: str = "a3-megagpu-8g", slurm: Slurm | None = None, storage: Any = (), **pool: Any
) -> ClusterPlan:
    gpu, _ = SHAPES.get(instance_type, ("L4", "none"))
    cluster = Cluster(
        name="c",
        provider="gcp",
        region="us-central1",
        pools=[NodePool(name="gpu", gpu=gpu, nodes=2, instance_type=instance_type, **pool)],
        scheduler=slurm,
        storage=list(storage),
    )
    plan = plan_cluster(cluster, load_catalog())
    assert plan.pools, [f.render() for f in plan.findings]
    return plan


def fake_gce(node: Node, attributes: dict[str, str] | None = None) -> None:
    """curl against a fake metadata server and Secret Manager: the token and project id, the munge key as the
    secret's payload, the instance attributes of `attributes`; anything else is a 404 (curl -f: exit 22).
    Records each URL and the headers it read from standard input."""
    store = node.tmp / "gce"
    (store / "attributes").mkdir(parents=True, exist_ok=True)
    (store / "token").write_text(json.dumps({"access_token": TOKEN, "expires_in": 3599}))
    (store / "project-id").write_text(PROJECT)
    payload = base64.b64encode(base64.b64encode(KEY)).decode()  # the secret holds the key as base64
    (store / "secret").write_text(json.dumps({"name": "x", "payload": {"data": payload}}))
    for key, text in (attributes or {}).items():
        (store / "attributes" / key).write_text(text)
    script = node.bin / "curl"
    if script.is_symlink():
        script.unlink()
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/usr/bin/env bash
            store={shlex.quote(str(store))}
            out="" url="" stdin_headers=0
            while [ $# -gt 0 ]; do
              case $1 in
                -o) shift; out=$1 ;;
                -H) shift; [ "$1" = @- ] && stdin_headers=1 ;;
                http://*|https://*) url=$1 ;;
              esac
              shift
            done
            printf '%s\\n' "$url" >>"$store/urls"
            if [ "$stdin_headers" = 1 ]; then cat >>"$store/headers"; fi
            case $url in
              */instance/service-accounts/default/token) file=$store/token ;;
              */project/project-id) file=$store/project-id ;;
              https://secretmanager.googleapis.com/v1/projects/{PROJECT}/secrets/*/versions/latest:access)
                file=$store/secret ;;
              */instance/attributes/*) file=$store/attributes/${{url##*/}} ;;
              *) file=/nonexistent ;;
            esac
            [ -f "$file" ] || {{ echo "curl: (22) The requested URL returned error: 404" >&2; exit 22; }}
            if [ -n "$out" ]; then cat "$file" >"$out"; else cat "$file"; fi
            """
        )
    )
    script.chmod(0o755)


def shim(node: Node, name: str, body: str) -> None:
    path = node.bin / name
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_text(f"#!/bin/bash\nprintf '%s\\n' \"$*\" >>{node.tmp}/{name}.calls\n{body}\n")
    path.chmod(0o755)


def calls(node: Node, name: str) -> list[str]:
    path = node.tmp / f"{name}.calls"
    return path.read_text().splitlines() if path.exists() else []


def everything_logged(node: Node, *results: subprocess.CompletedProcess[str]) -> str:
    text = "".join(r.stdout + r.stderr for r in results)
    for folder in (node.root / "var/log", node.root / "var/lib/provisioner", node.state):
        for path in folder.rglob("*") if folder.exists() else ():
            if path.is_file():
                text += path.read_text(errors="replace")
    return text


# --- NCCL settings and the gpudirect step per fabric --------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("a3-highgpu-8g", {"NCCL_GPUDIRECTTCPX_SOCKET_IFNAME": "enp6s0,enp12s0,enp134s0,enp140s0",
                           "NCCL_GPUDIRECTTCPX_UNIX_CLIENT_PREFIX": "/run/tcpx", "NCCL_PROTO": "Simple"}),
        ("a3-megagpu-8g", {"NCCL_FASTRAK_CTRL_DEV": "enp0s12", "NCCL_FASTRAK_USE_LLCM": "1",
                           "NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY": "/dev/aperture_devices",
                           "NCCL_MIN_NCHANNELS": "4"}),
        ("a3-ultragpu-8g", {"NCCL_NET": "gIB", "NCCL_SOCKET_IFNAME": "enp0s19,enp192s20",
                            "NCCL_IB_TC": "52"}),
        ("a4-highgpu-8g", {"NCCL_NET": "gIB", "NCCL_IB_QPS_PER_CONNECTION": "4", "NCCL_IB_FIFO_TC": "84"}),
    ],
)  # fmt: skip
def test_each_gpudirect_fabric_gets_its_nccl_settings(
    tmp_path: Path, instance_type: str, expected: dict[str, str]
) -> None:
    node = Node(tmp_path, gcp_plan(instance_type))
    assert node.ctx.fabric == SHAPES[instance_type][1]
    assert node.run_step("nccl").returncode == 0
    conf = dict(
        line.split("=", 1) for line in node.file("/etc/nccl.conf").splitlines() if not line.startswith("#")
    )
    assert {k: conf.get(k) for k in expected} == expected
    assert conf.get("NCCL_NET") != "IB"  # not the InfiniBand transport (gIB or the TCPX/FasTrak plugins)


@pytest.mark.parametrize("instance_type", sorted(SHAPES))
def test_the_gpudirect_step_comes_with_its_fabric_only(instance_type: str) -> None:
    plan = gcp_plan(instance_type)
    ctx = node_context(plan, plan.pools[0])
    names = [s.name for s in steps_for(ctx)]
    assert "gpudirect" in names
    assert names.index("gpudirect") > names.index("container-toolkit")  # runs on the runtime it needs
    assert "infiniband" not in names  # no DOCA-OFED build on Google's images
    assert ctx.gpudirect is not None and ctx.gpudirect.fabric == SHAPES[instance_type][1]


def test_no_gpudirect_step_without_a_gpudirect_fabric() -> None:
    for plan in (gcp_plan("g2-standard-4"), _aws_plan()):
        ctx = node_context(plan, plan.pools[0])
        assert ctx.gpudirect is None
        assert "gpudirect" not in [s.name for s in steps_for(ctx)]


def _aws_plan() -> ClusterPlan:
    cluster = Cluster(name="c", provider="aws", region="us-east-1", pools=[NodePool(name="gpu", gpu="H100")])
    return plan_cluster(cluster, load_catalog())


def fake_docker(node: Node) -> None:
    """docker that records its calls; `docker run ... install --install-nccl` writes the plugin's lib64 folder
    where the image's installer would (the mounted host folder)."""
    shim(
        node,
        "docker",
        textwrap.dedent(
            """\
            if [ "$1" = run ] && [[ " $* " == *" install --install-nccl "* ]]; then
              for a in "$@"; do
                case $a in
                  /var/lib:/var/lib)
                    mkdir -p "$PROVISIONER_ROOT/var/lib/tcpxo/lib64" "$PROVISIONER_ROOT/var/lib/tcpx/lib64" ;;
                  /usr/local/gib:/var/lib/gib) mkdir -p "$PROVISIONER_ROOT/usr/local/gib/lib64" ;;
                esac
              done
            fi
            exit 0"""
        ),
    )


@pytest.mark.parametrize(
    ("instance_type", "image", "plugin_dir"),
    [
        ("a3-megagpu-8g", "gpudirect-tcpxo/nccl-plugin-gpudirecttcpx-dev:v1.0.15", "/var/lib/tcpxo"),
        ("a3-highgpu-8g", "gpudirect-tcpx/nccl-plugin-gpudirecttcpx-dev:v3.1.9", "/var/lib/tcpx"),
        ("a3-ultragpu-8g", "gpudirect-gib/nccl-plugin-gib:v1.1.1", "/usr/local/gib"),
    ],
)
def test_the_gpudirect_step_installs_the_plugin_once(
    tmp_path: Path, instance_type: str, image: str, plugin_dir: str
) -> None:
    node = Node(tmp_path, gcp_plan(instance_type))
    fake_docker(node)
    shim(node, "nvidia-ctk", "exit 0")
    first = node.run_step("gpudirect")
    assert first.returncode == 0, first.stdout + first.stderr
    installs = [c for c in calls(node, "docker") if "install --install-nccl" in c]
    assert len(installs) == 1 and f"us-docker.pkg.dev/gce-ai-infra/{image}" in installs[0]
    assert node.file("/etc/ld.so.conf.d/provisioner-gpudirect.conf") == f"{plugin_dir}/lib64\n"
    assert ["systemctl", "enable", "--now", "docker"] in node.calls("systemctl")
    rxdm = node.root / "etc/systemd/system/provisioner-rxdm.service"
    if instance_type == "a3-ultragpu-8g":
        assert not rxdm.exists()  # GPUDirect-RDMA: no RxDM
    else:
        unit = rxdm.read_text()
        assert "--network=host" in unit and "--gpus all" in unit and "tcpgpudmarxd-dev" in unit
        assert "provisioner-rxdm" in node.active()
    (node.tmp / "docker.calls").unlink()
    again = node.run_step("gpudirect")
    assert again.returncode == 0, again.stderr
    assert not [c for c in calls(node, "docker") if "install --install-nccl" in c]


def test_tcpxo_prepares_the_aperture_devices_and_the_import_helper(tmp_path: Path) -> None:
    node = Node(tmp_path, gcp_plan("a3-megagpu-8g"))
    fake_docker(node)
    shim(node, "nvidia-ctk", "exit 0")
    assert node.run_step("gpudirect").returncode == 0
    prepare = node.file("/usr/local/sbin/provisioner-gpudirect-prepare")
    assert "modprobe import-helper" in prepare and "/dev/aperture_devices" in prepare
    assert "--num_hops=2" in node.file("/etc/systemd/system/provisioner-rxdm.service")


# --- Slurm: Secret Manager, instance metadata, the metadata guard -------------------------------------------


def slurm_plan(**slurm: Any) -> ClusterPlan:
    return gcp_plan("a3-megagpu-8g", slurm=Slurm(**slurm), storage=[Nfs()])


@pytest.fixture
def munge_node(tmp_path: Path) -> Node:
    node = Node(tmp_path, slurm_plan(), slurm=WIRING)
    fake_gce(node)
    shim(node, "chown", "exit 0")
    shim(node, "iptables", '[ "$1" != -C ]')
    shim(node, "ip6tables", '[ "$1" != -C ]')
    return node


def test_the_munge_key_comes_from_secret_manager_with_the_service_account(munge_node: Node) -> None:
    done = munge_node.run_step("munge")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (munge_node.root / "etc/munge/munge.key").read_bytes() == KEY
    urls = (munge_node.tmp / "gce/urls").read_text().splitlines()
    assert (
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token" in urls
    )
    assert (
        f"https://secretmanager.googleapis.com/v1/projects/{PROJECT}/secrets/c-munge-key/versions/latest:access"
    ) in urls
    # the token reached Secret Manager as a header read from standard input, never as an argument
    assert (munge_node.tmp / "gce/headers").read_text() == f"Authorization: Bearer {TOKEN}\n"
    assert calls(munge_node, "aws") == []
    assert not [c for c in munge_node.calls() if c[0] in ("unzip",)]  # no AWS CLI install


def test_neither_the_token_nor_the_key_is_ever_logged(munge_node: Node) -> None:
    done = munge_node.run_step("munge")
    assert done.returncode == 0, done.stderr
    logged = everything_logged(munge_node, done)
    for path in munge_node.bin.glob("*.calls"):
        logged += path.read_text()
    logged += (munge_node.tmp / "gce/urls").read_text()
    encoded = base64.b64encode(KEY).decode()
    assert TOKEN not in logged and encoded[:24] not in logged


def test_a_secret_manager_failure_stops_the_boot_after_retries(munge_node: Node) -> None:
    (munge_node.tmp / "gce/secret").unlink()
    done = munge_node.run_step("munge")
    assert done.returncode != 0
    assert "gave up after 5 attempts" in done.stdout + done.stderr
    assert not (munge_node.root / "etc/munge/munge.key").exists()


def test_only_root_reaches_the_gce_metadata_server_over_ipv4(munge_node: Node) -> None:
    assert munge_node.run_step("munge").returncode == 0
    assert "-I OUTPUT 1 -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT" in calls(
        munge_node, "iptables"
    )
    assert calls(munge_node, "ip6tables") == []  # no IPv6 metadata address on Compute Engine
    guard = munge_node.file("/usr/local/sbin/provisioner-metadata-root-only")
    assert "fd00:ec2::254" not in guard
    assert "cache_oslogin" in munge_node.file("/opt/provisioner/steps/munge.sh")  # the caveat, documented


def test_the_aws_guard_keeps_its_ipv6_rule(tmp_path: Path) -> None:
    cluster = Cluster(
        name="c",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100")],
        scheduler=Slurm(),
    )
    wiring = SlurmWiring("10.0.0.10", SecretRef("aws-secretsmanager", "arn:x", "us-east-1"))
    node = Node(tmp_path, plan_cluster(cluster, load_catalog()), slurm=wiring)
    munge = node.file("/opt/provisioner/steps/munge.sh")
    assert "fd00:ec2::254/128" in munge and "ensure_aws_cli" in munge
    assert "gcp_secret" not in node.file("/opt/provisioner/lib.sh")


def _controller(tmp_path: Path, files: dict[str, str]) -> Node:
    node = Node(tmp_path, slurm_plan(accounting=True), slurm=WIRING, role="controller")
    fake_gce(node, {gcp_metadata_key(PREFIX, name): text for name, text in files.items()})
    shim(node, "chown", "exit 0")
    shim(node, "scontrol", "exit 0")
    return node


def _sync(node: Node) -> subprocess.CompletedProcess[str]:
    return node._bash(node.root / "opt/provisioner/slurm/sync-config.sh")


CONFIGS = {"slurm.conf": "ClusterName=c\n", "gres.conf": "AutoDetect=nvml\n", "cgroup.conf": "X=1\n"}


def test_the_controller_reads_its_configuration_from_its_own_metadata(tmp_path: Path) -> None:
    node = _controller(tmp_path, {**CONFIGS, "slurmdbd.conf": "DbdPort=6819\n"})
    assert "/opt/provisioner/slurm/etc/slurm.conf" not in node.files
    done = _sync(node)
    assert done.returncode == 0, done.stdout + done.stderr
    for name, text in CONFIGS.items():
        assert (node.root / "etc/slurm" / name).read_text() == text
    urls = (node.tmp / "gce/urls").read_text()
    assert f"computeMetadata/v1/instance/attributes/{PREFIX}-slurm-conf" in urls
    sync = node.file("/opt/provisioner/slurm/sync-config.sh")
    assert "instance's own metadata" in sync and "parameter store" not in sync


def test_a_missing_metadata_attribute_changes_nothing_and_fails(tmp_path: Path) -> None:
    node = _controller(tmp_path, CONFIGS)  # no slurmdbd.conf, which sorts last
    done = _sync(node)
    assert done.returncode != 0
    assert not (node.root / "etc/slurm/cgroup.conf").exists()


def test_the_database_password_comes_from_secret_manager(tmp_path: Path) -> None:
    node = _controller(tmp_path, {**CONFIGS, "slurmdbd.conf": "DbdPort=6819\n"})
    lib = node.file("/opt/provisioner/lib.sh")
    assert "fetch_attribute" in lib and "gcp_secret_latest" in lib
    assert 'password=$(fetch_secret "c-db-password")' in node.file(
        "/opt/provisioner/steps/slurm-controller.sh"
    )


# --- storage: Filestore (NFS) and Managed Lustre ------------------------------------------------------------


NFS_LINE = (
    "10.1.0.2:/home /home/shared nfs "
    "_netdev,nofail,hard,timeo=600,retrans=3,rsize=1048576,wsize=1048576,vers=3,tcp 0 0"
)


def test_nfs_is_mounted_from_fstab_once(tmp_path: Path) -> None:
    node = Node(tmp_path, gcp_plan(storage=[Nfs()]), nfs=(FILESTORE,))
    first = node.run_step("nfs")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "nfs-common" in node.installs()
    assert node.file("/etc/fstab").splitlines() == [NFS_LINE]
    assert ["mount", "/home/shared"] in node.calls("mount")
    node.reset_calls()
    assert node.run_step("nfs").returncode == 0
    assert node.file("/etc/fstab").splitlines() == [NFS_LINE] and node.installs() == []
    (node.root / "etc/fstab").write_text(
        "LABEL=root / ext4 defaults 0 1\n10.9.9.9:/home /home/shared nfs defaults 0 0\n"
    )
    assert node.run_step("nfs").returncode == 0  # the share moved: its old line goes
    assert node.file("/etc/fstab").splitlines() == ["LABEL=root / ext4 defaults 0 1", NFS_LINE]


def test_nfs_that_never_mounts_fails_naming_it(tmp_path: Path) -> None:
    node = Node(tmp_path, gcp_plan(storage=[Nfs()]), nfs=(FILESTORE,))
    node.fail("mount")
    done = node.run_step("nfs")
    assert done.returncode != 0
    assert "could not mount NFS at /home/shared (10.1.0.2:/home)" in done.stdout + done.stderr


def test_nfs_step_and_shared_home_on_filestore() -> None:
    plan = slurm_plan()
    pool = render_pool(plan, plan.pools[0], [], WIRING, [FILESTORE])
    names = [Path(f.path).stem for f in pool.files if f.path.startswith("/opt/provisioner/steps/")]
    assert names.index("nfs") < names.index("shared-home")
    without = render_pool(plan, plan.pools[0], [], WIRING)
    assert "nfs" not in [Path(f.path).stem for f in without.files]


def test_managed_lustre_comes_from_googles_client_repository(tmp_path: Path) -> None:
    node = Node(tmp_path, gcp_plan(storage=[Lustre(mount_point="/lustre")]), lustre=(MANAGED_LUSTRE,))
    done = node.run_step("lustre")
    assert done.returncode == 0, done.stdout + done.stderr
    listing = node.file("/etc/apt/sources.list.d/lustre-client.list")
    assert "https://us-apt.pkg.dev/projects/lustre-client-binaries lustre-client-ubuntu-jammy main" in listing
    installed = node.installs()
    assert (
        any(p.startswith("lustre-client-modules-") for p in installed) and "lustre-client-utils" in installed
    )
    assert "10.2.0.3@tcp:/lfs /lustre lustre" in node.file("/etc/fstab")
    assert "fsx" not in node.file("/opt/provisioner/steps/lustre.sh")


# --- the whole node: shellcheck, cloud-init schema, no secret in user data ----------------------------------


def _all_rendered() -> list[tuple[str, str, str]]:
    """(node, path, content) of every file of every gcp node kind: a pool per shape, controller and login."""
    pools = [
        NodePool(name=f"p{i}", gpu=g, nodes=1, instance_type=t)
        for i, (t, (g, _)) in enumerate(SHAPES.items())
    ]
    cluster = Cluster(
        name="c",
        provider="gcp",
        region="us-central1",
        pools=pools,
        scheduler=Slurm(accounting=True),
        storage=[Nfs(), Lustre(mount_point="/lustre")],
    )
    plan = plan_cluster(cluster, load_catalog())
    out = []
    for pool in plan.pools:
        for f in render_pool(plan, pool, [MANAGED_LUSTRE], WIRING, [FILESTORE]).files:
            out.append((pool.name, f.path, f.content))
    for role in ("controller", "login"):
        for f in render_support(plan, role, [MANAGED_LUSTRE], WIRING, [FILESTORE]).files:
            out.append((role, f.path, f.content))
    return out


def test_every_gcp_script_passes_shellcheck(tmp_path: Path) -> None:
    paths = []
    for node, path, content in _all_rendered():
        if path.endswith(".sh"):
            target = tmp_path / node / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            paths.append(str(target))
    assert any(p.endswith("steps/gpudirect.sh") for p in paths) and any(
        p.endswith("steps/nfs.sh") for p in paths
    )
    result = subprocess.run([shellcheck(), "-s", "bash", *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_gcp_user_data_is_a_cloud_config_without_secrets(tmp_path: Path) -> None:
    plan = slurm_plan()
    text = render_user_data(plan, plan.pools[0], [MANAGED_LUSTRE], slurm=WIRING, nfs=[FILESTORE])
    document = yaml.safe_load(text)
    assert isinstance(document, dict) and text.startswith("#cloud-config\n")
    assert TOKEN not in text and base64.b64encode(KEY).decode()[:24] not in text
    assert "Bearer " not in text.replace("Authorization: Bearer %s", "")
    schema = shutil.which("cloud-init")
    if schema is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's cloud-init is required under CI")
        pytest.skip("cloud-init is not installed")
    path = tmp_path / "gcp.yaml"
    path.write_text(text)
    checked = subprocess.run([schema, "schema", "-c", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
