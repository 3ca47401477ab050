"""The storage steps run for real under bash in the shim harness: NVMe scratch and Lustre mounts."""

from __future__ import annotations

from pathlib import Path

from harness import Node

from provisioner import Cluster, LocalScratch, Lustre, NodePool, load_catalog, plan_cluster
from provisioner.bootstrap import LustreMount

FSX = LustreMount("fs-0abc.fsx.us-east-1.amazonaws.com", "xyzmount", "/fsx")


def node(tmp_path: Path, *storage: object, lustre: tuple[LustreMount, ...] = ()) -> Node:
    cluster = Cluster(
        name="test",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=1)],
        storage=list(storage),  # type: ignore[arg-type]
    )
    return Node(tmp_path, plan_cluster(cluster, load_catalog()), lustre=lustre)


def two_disks(n: Node, tmp_path: Path) -> None:
    (tmp_path / "shim" / "lsblk").write_text(
        "/dev/nvme1n1 Amazon EC2 NVMe Instance Storage\n/dev/nvme2n1 Amazon EC2 NVMe Instance Storage\n"
    )


def test_scratch_stripes_formats_and_mounts_once(tmp_path: Path) -> None:
    n = node(tmp_path, LocalScratch(mount_point="/scratch"))
    two_disks(n, tmp_path)
    first = n.run_step("scratch")
    assert first.returncode == 0, first.stderr
    assert [c[:3] for c in n.calls("mdadm")] == [["mdadm", "--create", "/dev/md/provisioner-scratch"]]
    assert n.calls("mkfs.xfs")
    fstab = n.file("/etc/fstab").splitlines()
    assert fstab == ["UUID=0b0e5f9a-fake-uuid /scratch xfs defaults,noatime,nofail 0 2"]
    n.reset_calls()
    again = n.run_step("scratch")
    assert again.returncode == 0 and not n.calls("mdadm") and not n.calls("mkfs.xfs")


def test_scratch_after_a_stop_start_replaces_the_old_fstab_line(tmp_path: Path) -> None:
    n = node(tmp_path, LocalScratch(mount_point="/scratch"))
    two_disks(n, tmp_path)
    old = "UUID=11111111-old /scratch xfs defaults,noatime,nofail 0 2"
    (n.root / "etc").mkdir(parents=True, exist_ok=True)
    (n.root / "etc" / "fstab").write_text(f"LABEL=root / ext4 defaults 0 1\n{old}\n")
    assert n.run_step("scratch").returncode == 0
    fstab = n.file("/etc/fstab").splitlines()
    assert old not in fstab
    assert fstab == [
        "LABEL=root / ext4 defaults 0 1",
        "UUID=0b0e5f9a-fake-uuid /scratch xfs defaults,noatime,nofail 0 2",
    ]


def test_lustre_adds_the_fsx_client_repository_and_mounts(tmp_path: Path) -> None:
    n = node(tmp_path, Lustre(), lustre=(FSX,))
    done = n.run_step("lustre")
    assert done.returncode == 0, done.stderr
    assert "fsx-lustre-client-repo.s3.amazonaws.com/ubuntu jammy main" in n.file(
        "/etc/apt/sources.list.d/fsxlustreclientrepo.list"
    )
    assert any(p.startswith("lustre-client-modules-") for p in n.installs())
    assert f"{FSX.dns_name}@tcp:/{FSX.mount_name} /fsx lustre" in n.file("/etc/fstab")


def test_lustre_that_never_mounts_fails_naming_it(tmp_path: Path) -> None:
    n = node(tmp_path, Lustre(), lustre=(FSX,))
    n.fail("mount")
    done = n.run_step("lustre")
    assert done.returncode != 0
    assert "could not mount Lustre at /fsx" in done.stdout + done.stderr
