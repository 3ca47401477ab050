"""Driver, CUDA and ROCm against the GPU and against each other."""

import re
from collections.abc import Iterator

from provisioner.catalog import GpuModel, parse_version
from provisioner.spec import GpuVendor, NodePool, OperatingSystem, Software
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error


def driver_satisfies(driver: str, required: str) -> bool:
    """A branch ('570') satisfies a requirement of its own branch: we install the branch's latest release."""
    have = parse_version(driver)
    need = parse_version(required)
    if len(have) == 1:
        return have[0] >= need[0]
    return have >= need


def _software_path(pool_path: str, pool: NodePool, field: str) -> str:
    return f"{pool_path}.software.{field}" if pool.software is not None else f"software.{field}"


def _effective_driver(ctx: RuleContext, software: Software) -> tuple[str | None, str]:
    if software.nvidia_driver:
        return software.nvidia_driver, "nvidia_driver"
    image = ctx.catalog.image(ctx.cluster.provider.value, software.os.value)
    if software.image is None and image is not None and image.nvidia_driver:
        return image.nvidia_driver, f"the default image's driver ({image.description})"
    return None, ""


def vendor_stack(ctx: RuleContext) -> Iterator[Finding]:
    for path, pool in ctx.pools():
        gpu = ctx.gpu_of(pool)
        if gpu is None:
            continue
        software = ctx.cluster.software_for(pool)
        if gpu.vendor is GpuVendor.AMD:
            for field, value in (("cuda", software.cuda), ("nvidia_driver", software.nvidia_driver)):
                if value:
                    yield error(
                        f"{'cuda' if field == 'cuda' else 'nvidia-driver'}-on-amd",
                        _software_path(path, pool, field),
                        f"{field}={value!r} but {pool.name!r} has AMD {gpu.name} GPUs, which run ROCm",
                        f'drop {field} and set rocm="{gpu.rocm_floor or "6.4"}" (or newer)',
                    )
        elif software.rocm:
            yield error(
                "rocm-on-nvidia",
                _software_path(path, pool, "rocm"),
                f"rocm={software.rocm!r} but {pool.name!r} has NVIDIA {gpu.name} GPUs, which run CUDA",
                'drop rocm and set cuda (e.g. cuda="12.8") if you need the toolkit on the host',
            )


def _gpu_driver(path: str, pool: NodePool, gpu: GpuModel, driver: str, where: str) -> Iterator[Finding]:
    if gpu.min_driver and not driver_satisfies(driver, gpu.min_driver):
        yield error(
            "driver-too-old-for-gpu",
            _software_path(path, pool, "nvidia_driver"),
            f"{driver} ({where}) is older than {gpu.name} needs: >= {gpu.min_driver}",
            f'set nvidia_driver="{gpu.min_driver.split(".")[0]}" or newer (e.g. "580")',
        )


def _cuda_driver(
    ctx: RuleContext, path: str, pool: NodePool, cuda: str, driver: str | None, where: str
) -> Iterator[Finding]:
    table = ctx.catalog.cuda_min_driver
    cuda_path = _software_path(path, pool, "cuda")
    key = ".".join(cuda.split(".")[:2])
    if key not in table:
        yield error(
            "cuda-unknown",
            cuda_path,
            f"CUDA {cuda!r} is not a release we know the driver floor of",
            f"use one of {', '.join(table)}",
        )
        return
    if driver and not driver_satisfies(driver, table[key]):
        yield error(
            "driver-too-old-for-cuda",
            _software_path(path, pool, "nvidia_driver"),
            f"{driver} ({where}) is older than CUDA {key} needs: >= {table[key]}",
            f'set nvidia_driver="{table[key].split(".")[0]}" or newer, or an older cuda',
        )


def _cuda_floor(path: str, pool: NodePool, gpu: GpuModel, cuda: str) -> Iterator[Finding]:
    if gpu.cuda_floor and parse_version(cuda)[:2] < parse_version(gpu.cuda_floor)[:2]:
        yield error(
            "cuda-too-old-for-gpu",
            _software_path(path, pool, "cuda"),
            f"CUDA {cuda} predates {gpu.name} ({gpu.architecture}); it needs CUDA >= {gpu.cuda_floor}",
            f'set cuda="{gpu.cuda_floor}" or newer',
        )


def nvidia_versions(ctx: RuleContext) -> Iterator[Finding]:
    for path, pool in ctx.pools():
        gpu = ctx.gpu_of(pool)
        if gpu is None or gpu.vendor is not GpuVendor.NVIDIA:
            continue
        software = ctx.cluster.software_for(pool)
        driver, where = _effective_driver(ctx, software)
        if driver:
            yield from _gpu_driver(path, pool, gpu, driver, where)
        if software.cuda:
            yield from _cuda_driver(ctx, path, pool, software.cuda, driver, where)
            yield from _cuda_floor(path, pool, gpu, software.cuda)


def rocm_versions(ctx: RuleContext) -> Iterator[Finding]:
    for path, pool in ctx.pools():
        gpu = ctx.gpu_of(pool)
        software = ctx.cluster.software_for(pool)
        if gpu is None or gpu.vendor is not GpuVendor.AMD or not software.rocm or not gpu.rocm_floor:
            continue
        if parse_version(software.rocm)[:2] < parse_version(gpu.rocm_floor)[:2]:
            yield error(
                "rocm-too-old-for-gpu",
                _software_path(path, pool, "rocm"),
                f"ROCm {software.rocm} predates {gpu.name}; it needs ROCm >= {gpu.rocm_floor}",
                f'set rocm="{gpu.rocm_floor}" or newer',
            )


def os_supports_vendor(ctx: RuleContext) -> Iterator[Finding]:
    """ROCm nodes are built for Ubuntu (the AMD GPU Operator and amdgpu-install target it, software.md §5)."""
    for path, pool in ctx.pools():
        gpu = ctx.gpu_of(pool)
        software = ctx.cluster.software_for(pool)
        if gpu is not None and gpu.vendor is GpuVendor.AMD and software.os is OperatingSystem.ROCKY_9:
            yield error(
                "os-unsupported-for-gpu",
                _software_path(path, pool, "os"),
                f"{software.os.value} is not supported for AMD {gpu.name} nodes: the ROCm boot steps are "
                "built for Ubuntu",
                'set os="ubuntu-22.04" or "ubuntu-24.04"',
            )


_SECRET_PATTERNS = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"aws_secret_access_key|secret[_-]?key\s*[:=]", re.I), "a secret key"),
    (re.compile(r"\b(password|passwd|token)\s*[:=]\s*\S+", re.I), "a password or token"),
)


def extra_user_data(ctx: RuleContext) -> Iterator[Finding]:
    """The user's own boot part: a kind cloud-init understands, and nothing that looks like a secret."""
    seen: set[str] = set()
    for path, pool in ctx.pools():
        text = ctx.cluster.software_for(pool).extra_user_data
        where = _software_path(path, pool, "extra_user_data")
        if text is None or where in seen:
            continue
        seen.add(where)
        if not text.startswith(("#cloud-config", "#!")):
            yield error(
                "extra-user-data-kind",
                where,
                f"starts with {text[:20]!r}: cloud-init runs a part that starts with '#cloud-config' or '#!'",
                "start it with '#cloud-config' (merged into provisioner's) or '#!/bin/bash' (a script)",
            )
        for pattern, what in _SECRET_PATTERNS:
            if pattern.search(text):
                yield error(
                    "secret-in-user-data",
                    where,
                    f"it seems to hold {what}; user data is readable on the node and in the cloud console",
                    "keep it in the provider's secret store and fetch it on the node with its identity",
                )
                break


RULES = (vendor_stack, nvidia_versions, rocm_versions, os_supports_vendor, extra_user_data)
