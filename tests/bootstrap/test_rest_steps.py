"""The steps the REST clouds' nodes add, run under bash in the shim harness: the node's own inbound filter
(host-firewall, its ruleset checked by the real `nft -c`), cloud volumes (a Lambda filesystem bind-mounted,
a Crusoe shared disk over virtiofs), and Crusoe's startup script unpacking the same files."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from harness import Node, shellcheck

from provisioner import (
    Cluster,
    CrusoeOptions,
    LambdaOptions,
    Network,
    Nfs,
    NodePool,
    load_catalog,
    plan_cluster,
)
from provisioner.bootstrap import HostFirewall, UserDataTooLargeError, VolumeMount, render_pool
from provisioner.bootstrap.script import CloudConfigInScriptError, archive, startup_script
from provisioner.plan import ClusterPlan
from provisioner.providers.crusoe.plan import crusoe_plan
from provisioner.providers.lambda_cloud.plan import lambda_plan
from provisioner.providers.rest.spec import host_firewall, owned_name

LAMBDA_FS = VolumeMount("/lambda/nfs/c-shared", "bind", "/shared", "Lambda filesystem c-shared")
CRUSOE_DISK = VolumeMount("c-data", "virtiofs", "/data", "Crusoe shared disk c-data")
CRUSOE = CrusoeOptions(
    project_id="198e7c51-9ed2-41db-b3c8-baeee40d7592",
    ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIstep steps@test",
)


def lambda_cluster(ssh: list[str] | None = None) -> ClusterPlan:
    cluster = Cluster(
        name="c",
        provider="lambda",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=1)],
        storage=[Nfs(name="shared", mount_point="/shared")],
        network=Network(ssh_cidrs=ssh or []),
        options=LambdaOptions(ssh_key_name="k"),
    )
    return plan_cluster(cluster, load_catalog())


def crusoe_cluster() -> ClusterPlan:
    cluster = Cluster(
        name="c",
        provider="crusoe",
        region="us-east1-a",
        pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
        storage=[Nfs(name="data", mount_point="/data")],
        network=Network(ssh_cidrs=["203.0.113.0/24"]),
        options=CRUSOE,
    )
    return plan_cluster(cluster, load_catalog())


def firewall_node(tmp_path: Path, ssh: tuple[str, ...]) -> Node:
    return Node(tmp_path, lambda_cluster(list(ssh)), host_firewall=HostFirewall(ssh))


def ruleset(node: Node) -> str:
    return node.file("/etc/provisioner/firewall.nft")


def test_the_firewall_admits_ssh_only_from_the_declared_ranges_and_loads_at_boot(tmp_path: Path) -> None:
    node = firewall_node(tmp_path, ("203.0.113.0/24", "2001:db8::/32"))
    done = node.run_step("host-firewall")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nftables" in node.installs()
    rules = ruleset(node)
    assert "policy drop;" in rules
    assert "elements = { 203.0.113.0/24 }" in rules and "elements = { 2001:db8::/32 }" in rules
    assert (
        "tcp dport 22 ip saddr @ssh_v4 accept" in rules and "tcp dport 22 ip6 saddr @ssh_v6 accept" in rules
    )
    assert "0.0.0.0/0" not in rules
    assert ["nft", "-f", str(node.root / "etc/provisioner/firewall.nft")] in node.calls("nft")
    assert node.exists("/etc/systemd/system/provisioner-firewall.service")
    assert ["systemctl", "enable", "provisioner-firewall.service"] in node.calls("systemctl")
    assert [
        "systemctl",
        "enable",
        "provisioner-firewall-peers.service",
        "provisioner-firewall-peers.timer",
    ] in node.calls("systemctl")
    assert "OnUnitActiveSec=60" in node.file("/etc/systemd/system/provisioner-firewall-peers.timer")
    peers = node.root / "etc/provisioner/firewall-peers.sh"
    assert peers.stat().st_mode & 0o111, "the peers script is executable"
    checked = subprocess.run([shellcheck(), str(peers)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout
    node.reset_calls()
    again = node.run_step("host-firewall")
    assert again.returncode == 0 and "already active" in again.stdout + again.stderr
    assert not node.calls("nft") and node.installs() == []


def test_overlapping_ranges_are_merged() -> None:
    merged = HostFirewall(("203.0.113.7/32", "203.0.113.0/24", "2001:db8:1::/48", "2001:db8::/32"))
    assert merged.ssh_ipv4 == ("203.0.113.0/24",) and merged.ssh_ipv6 == ("2001:db8::/32",)


def test_without_a_declared_range_ssh_is_open_to_private_ranges_only(tmp_path: Path) -> None:
    node = firewall_node(tmp_path, ())
    assert node.run_step("host-firewall").returncode == 0
    rules = ruleset(node)
    assert "ssh_v4" not in rules and "ssh_v6" not in rules and "dport 22" not in rules
    assert "ip saddr @private_v4 accept" in rules


def nft_binary() -> str | None:
    found = shutil.which("nft") or ("/usr/sbin/nft" if Path("/usr/sbin/nft").exists() else None)
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("nft is missing and CI=true: .ci/run installs Debian's nftables")
    return found


@pytest.mark.parametrize(
    "ssh",
    [
        ("203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"),
        ("203.0.113.0/24", "203.0.113.7/32", "2001:db8::/32", "2001:db8:1::/48"),  # overlaps: merged
        (),
    ],
)
def test_the_real_nft_accepts_the_ruleset(tmp_path: Path, ssh: tuple[str, ...]) -> None:
    nft = nft_binary()
    if nft is None:
        pytest.skip("nft is not installed (Debian's nftables); required when CI=true")
    node = firewall_node(tmp_path, ssh)
    assert node.run_step("host-firewall").returncode == 0
    path = node.root / "etc/provisioner/firewall.nft"
    checked = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    if checked.returncode != 0 and "Operation not permitted" in checked.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN here")
    assert checked.returncode == 0, checked.stderr
    path.write_text(path.read_text().replace("policy drop;", "policy dorp;"))
    broken = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert broken.returncode != 0  # the check is not a rubber stamp


def namespace_tools() -> tuple[str, str, str] | None:
    """nft, ip and unshare, and the root a network namespace needs; CI=true has them all (.ci/run)."""
    nft, ip, unshare = nft_binary(), shutil.which("ip") or "/usr/sbin/ip", shutil.which("unshare")
    ready = nft is not None and Path(ip).exists() and unshare is not None and os.geteuid() == 0
    if not ready and os.environ.get("CI") == "true":
        pytest.fail("CI=true needs nft, ip (iproute2), unshare and root for the namespace firewall test")
    return (nft, ip, unshare) if ready and nft and unshare else None


def in_namespace(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`script` run by bash in a network namespace of its own, with the real nft and ip; skips the test
    where namespaces or the tools are missing (never under CI=true)."""
    tools = namespace_tools()
    if tools is None:
        pytest.skip("needs root, nft, ip and unshare (a network namespace)")
    nft, _ip, unshare = tools
    path = f"{Path(nft).parent}:/usr/sbin:/usr/bin:/sbin:/bin"
    done = subprocess.run(
        [unshare, "--net", "bash", "-c", f"set -euo pipefail\n{script}", "probe", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={**os.environ, "PATH": path, **(env or {})},
    )
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip("network namespaces are not permitted here")
    assert done.returncode == 0, done.stdout + done.stderr
    return done


PEERS_PROBE = """
set -euo pipefail
ip link set lo up
for dev in priv0:10.9.0.5/24 pub0:198.51.100.5/24 docker0:172.17.0.1/16 ib0:192.168.40.7/22; do
  name=${dev%%:*}
  ip link add "$name" type veth peer name "${name}p"  # veth: the one virtual link every kernel here has
  ip addr add "${dev#*:}" dev "$name"
  ip link set "${name}p" up
  ip link set "$name" up
done
nft -f "$1"
bash "$2"
bash "$2"  # nothing changed: nothing logged
ip link add late0 type veth peer name late0p  # a subnet that comes up later (IPoIB, a second NIC)
ip addr add 10.20.0.1/24 dev late0
ip link set late0p up
ip link set late0 up
bash "$2"
nft list set inet provisioner peers_v4
"""


def test_the_node_admits_its_own_private_subnets_found_for_real(tmp_path: Path) -> None:
    """In a network namespace of its own (nothing of this machine's network is touched): the ruleset is
    loaded by the real nft, and the peers script finds the connected private subnets through the real ip."""
    node = firewall_node(tmp_path, ("203.0.113.0/24",))
    assert node.run_step("host-firewall").returncode == 0
    rules, peers = node.root / "etc/provisioner/firewall.nft", node.root / "etc/provisioner/firewall-peers.sh"
    state = {"PROVISIONER_PEERS_STATE": str(tmp_path / "peers-state")}
    done = in_namespace(PEERS_PROBE, str(rules), str(peers), env=state)
    elements = done.stdout.split("elements = {", 1)[1].split("}", 1)[0]
    listed = {e.strip() for e in elements.split(",")}
    assert {"10.9.0.0/24", "192.168.40.0/22"} <= listed, done.stdout
    assert not any(e.startswith("172.17.") for e in listed), "a container bridge is not a peer"
    assert "198.51.100.0/24" not in listed, "a connected public subnet is not a peer"
    assert done.stdout.count("cluster traffic admitted from:") == 2, "logged when it changed, only then"
    assert "cluster traffic admitted from: 10.9.0.0/24 192.168.40.0/22" in done.stdout
    assert "10.20.0.0/24" in listed, "the timer's next run admits a subnet that came up late"
    # the accept needs both sets: a connected public subnet (198.51.100.0/24) is never admitted
    assert "ip saddr @peers_v4 ip saddr @private_v4 accept" in rules.read_text()


def test_a_lambda_filesystem_is_bind_mounted_once_it_is_there(tmp_path: Path) -> None:
    node = Node(tmp_path, lambda_cluster(), volumes=(LAMBDA_FS,))
    (node.state / "mounts").write_text("/lambda/nfs/c-shared\n")  # Lambda mounted it at boot
    done = node.run_step("volumes")
    assert done.returncode == 0, done.stdout + done.stderr
    line = (
        "/lambda/nfs/c-shared /shared none bind,nofail,x-systemd.requires-mounts-for=/lambda/nfs/c-shared 0 0"
    )
    assert node.file("/etc/fstab").splitlines() == [line]
    assert ["mount", "/shared"] in node.calls("mount")
    node.reset_calls()
    assert node.run_step("volumes").returncode == 0
    assert node.file("/etc/fstab").splitlines() == [line] and not node.calls("mount")


def test_a_missing_lambda_filesystem_fails_naming_it(tmp_path: Path) -> None:
    node = Node(tmp_path, lambda_cluster(), volumes=(LAMBDA_FS,))
    done = node.run_step("volumes")
    assert done.returncode != 0
    assert "Lambda filesystem c-shared: /lambda/nfs/c-shared is not mounted" in done.stdout + done.stderr


def test_a_crusoe_shared_disk_mounts_over_virtiofs(tmp_path: Path) -> None:
    node = Node(tmp_path, crusoe_cluster(), volumes=(CRUSOE_DISK,))
    done = node.run_step("volumes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert node.file("/etc/fstab").splitlines() == ["c-data /data virtiofs defaults,nofail 0 0"]
    node.fail("mount")
    (node.state / "mounts").write_text("")
    failed = node.run_step("volumes")
    assert (
        failed.returncode != 0
        and "could not mount Crusoe shared disk c-data at /data" in failed.stdout + failed.stderr
    )


def test_the_adapters_give_their_nodes_the_volumes_and_the_filter() -> None:
    lam = lambda_cluster(["203.0.113.0/24"])
    spec = lambda_plan("c", lam, "acme/c/dev")
    fs = owned_name("acme/c/dev", "c", "shared")
    assert [v.mount for v in spec.volumes] == [
        VolumeMount(f"/lambda/nfs/{fs}", "bind", "/shared", f"Lambda filesystem {fs}")
    ]
    user_data = spec.pools[0].props["user_data"]
    assert (
        "/opt/provisioner/steps/host-firewall.sh" in user_data
        and "/opt/provisioner/steps/volumes.sh" in user_data
    )
    assert host_firewall(lam) == HostFirewall(("203.0.113.0/24",))
    crusoe = crusoe_plan("c", crusoe_cluster(), "acme/c/dev")
    disk = owned_name("acme/c/dev", "c", "data")
    assert [v.mount for v in crusoe.volumes] == [
        VolumeMount(disk, "virtiofs", "/data", f"Crusoe shared disk {disk}")
    ]


def test_cloud_init_loads_the_same_filter_at_its_first_stage(tmp_path: Path) -> None:
    """The bootstrap runs late (cloud-init's last stage): bootcmd loads the same ruleset long before, once."""
    plan = lambda_cluster(["203.0.113.0/24"])
    firewall = host_firewall(plan)
    rendered = render_pool(plan, plan.pools[0], (), host_firewall=firewall)
    config = yaml.safe_load(rendered.cloud_config)
    [command] = config["bootcmd"]
    assert command[:2] == ["sh", "-c"] and "nft list table inet provisioner" in command[2]
    encoded = command[2].split("echo ", 1)[1].split(" ", 1)[0]
    node = firewall_node(tmp_path, ("203.0.113.0/24",))
    assert node.run_step("host-firewall").returncode == 0
    assert base64.b64decode(encoded).decode() == ruleset(node), "one ruleset, early and for good"
    without = render_pool(plan, plan.pools[0], ())
    assert "bootcmd" not in yaml.safe_load(without.cloud_config), "only nodes with a filter of their own"


def test_the_early_load_runs_for_real_once_and_keeps_what_is_loaded() -> None:
    """cloud-init's bootcmd line, run by the real sh and nft in a network namespace: it loads the table on a
    first boot and leaves a loaded one (with its peers) alone on later boots."""
    plan = lambda_cluster(["203.0.113.0/24"])
    [command] = yaml.safe_load(
        render_pool(plan, plan.pools[0], (), host_firewall=host_firewall(plan)).cloud_config
    )["bootcmd"]
    probe = (
        'sh -c "$1"; nft list chain inet provisioner input | grep "policy drop" >/dev/null; '
        'nft add element inet provisioner peers_v4 "{ 10.9.0.0/24 }"; sh -c "$1"; '
        "nft list set inet provisioner peers_v4"
    )
    done = in_namespace(probe, command[2])
    assert "10.9.0.0/24" in done.stdout, "a second boot's early load did not wipe the peers"


def test_the_startup_script_unpacks_the_node_files_and_starts_the_bootstrap(tmp_path: Path) -> None:
    plan = crusoe_cluster()
    rendered = render_pool(plan, plan.pools[0], (), volumes=[CRUSOE_DISK], host_firewall=host_firewall(plan))
    script = startup_script(rendered.files, "c", "gpu", "#!/bin/bash\necho mine\n")
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    assert script == startup_script(rendered.files, "c", "gpu", "#!/bin/bash\necho mine\n")  # deterministic
    # run its unpacking for real, into a folder instead of /
    body = script.split("<<'PROVISIONER_FILES'", 1)[1].split("\n", 1)[1].split("\nPROVISIONER_FILES", 1)[0]
    (tmp_path / "files.b64").write_text(body)
    subprocess.run(
        f"base64 -d {tmp_path / 'files.b64'} | tar -xzf - -C {tmp_path} --no-same-owner",
        shell=True,
        check=True,
    )
    for f in rendered.files:
        written = tmp_path / f.path.lstrip("/")
        assert written.read_text() == f.content, f.path
        assert oct(written.stat().st_mode & 0o777) == oct(int(f.mode, 8)), f.path
    assert (tmp_path / "opt/provisioner/user-data.sh").read_text() == "#!/bin/bash\necho mine\n"
    assert "systemctl start --no-block provisioner-bootstrap.service" in script
    assert script.index("provisioner-bootstrap.service") < script.index("/opt/provisioner/user-data.sh")


def test_the_startup_script_refuses_a_cloud_config_and_an_oversized_boot() -> None:
    plan = crusoe_cluster()
    files = render_pool(plan, plan.pools[0], ()).files
    with pytest.raises(CloudConfigInScriptError, match="extra_user_data is a cloud-config"):
        startup_script(files, "c", "gpu", "#cloud-config\nruncmd: []\n")
    with pytest.raises(
        UserDataTooLargeError, match=r"the startup script is \d+ bytes; the provider accepts at most 100"
    ):
        startup_script(files, "c", "gpu", limit=100)


def test_the_archive_is_root_owned_and_timeless() -> None:
    plan = crusoe_cluster()
    files = render_pool(plan, plan.pools[0], ()).files
    import io

    with tarfile.open(fileobj=io.BytesIO(archive(files)), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [f.path.lstrip("/") for f in files]
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 0)}
