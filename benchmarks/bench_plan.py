"""Speed and memory of `provisioner plan`, and start-up time of `provisioner --help`.

Each measurement runs the CLI in a fresh Python process (so import time counts, as it does for a user), and
reads that process's own peak RSS from `os.wait4`. The program planned is one H100 pool on AWS at 8, 128 and
1,024 nodes, through the real offline mock run and the real AWS emitter. A second, in-process pass times
`run_program` alone (imports already paid) with tracemalloc's peak of Python allocations.

    .venv/bin/python benchmarks/bench_plan.py            # 5 runs per size, writes benchmarks/results.json
    .venv/bin/python benchmarks/bench_plan.py --runs 3 --sizes 8 1024
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results.json"
SIZES = (8, 128, 1024)
TARGETS = {"wall_s_1024": 3.0, "peak_rss_mb_1024": 300.0, "ratio_1024_to_8": 1.5, "help_s": 0.5}
PROGRAM = """
from provisioner import Cluster, NodePool

cluster = Cluster(
    name="bench",
    provider="aws",
    region="us-east-1",
    pools=[NodePool(name="gpu", gpu="H100", nodes={nodes})],
)
"""


@dataclass
class Sample:
    wall_s: float
    peak_rss_mb: float
    exit_code: int


@dataclass
class SizeResult:
    nodes: int
    runs: int
    wall_s_median: float
    wall_s_min: float
    wall_s_max: float
    peak_rss_mb_max: float
    resources: int
    exit_code: int
    in_process_s_median: float
    in_process_python_peak_mb: float


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def measure(args: list[str]) -> Sample:
    """Run `python -m provisioner.cli ARGS` in a fresh process: wall time and that process's peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "provisioner.cli", *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if process.stderr is not None:
        process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Sample(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024, exit_code=process.returncode)


def in_process(path: Path, runs: int) -> tuple[float, float]:
    """Measured in a child process, so that this process stays small (a child's peak RSS includes its
    parent's when it is started with vfork)."""
    command = [sys.executable, __file__, "--in-process", str(path), "--runs", str(runs)]
    done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, check=True)
    seconds, peak = json.loads(done.stdout)
    return float(seconds), float(peak)


def _in_process_worker(path: Path, runs: int) -> tuple[float, float]:
    """Median seconds of run_program + JSON rendering once imports are paid, and tracemalloc's peak (MB)."""
    from provisioner.program.runner import run_program
    from provisioner.review.report import report_json

    report_json(run_program(path))  # warm-up: imports, catalog
    times: list[float] = []
    peak = 0
    for _ in range(runs):
        tracemalloc.start()
        started = time.perf_counter()
        report_json(run_program(path))
        times.append(time.perf_counter() - started)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return statistics.median(times), peak / 2**20


def bench_size(nodes: int, runs: int, workdir: Path) -> SizeResult:
    program = workdir / f"h100_{nodes}.py"
    program.write_text(PROGRAM.format(nodes=nodes), encoding="utf-8")
    out = workdir / f"plan_{nodes}.json"
    samples = [measure(["plan", str(program), "--format", "json", "--out", str(out)]) for _ in range(runs)]
    report = json.loads(out.read_text(encoding="utf-8"))
    warm_s, python_peak = in_process(program, runs)
    walls = [s.wall_s for s in samples]
    return SizeResult(
        nodes=nodes,
        runs=runs,
        wall_s_median=round(statistics.median(walls), 3),
        wall_s_min=round(min(walls), 3),
        wall_s_max=round(max(walls), 3),
        peak_rss_mb_max=round(max(s.peak_rss_mb for s in samples), 1),
        resources=int(report["resource_count"]),
        exit_code=max(s.exit_code for s in samples),
        in_process_s_median=round(warm_s, 3),
        in_process_python_peak_mb=round(python_peak, 1),
    )


def bench_help(runs: int) -> dict[str, float]:
    samples = [measure(["--help"]) for _ in range(runs)]
    walls = [s.wall_s for s in samples]
    return {
        "wall_s_median": round(statistics.median(walls), 3),
        "wall_s_min": round(min(walls), 3),
        "peak_rss_mb_max": round(max(s.peak_rss_mb for s in samples), 1),
    }


def verdicts(sizes: list[SizeResult], help_: dict[str, float]) -> dict[str, bool]:
    by_nodes = {s.nodes: s for s in sizes}
    checks = {"help_s": help_["wall_s_median"] < TARGETS["help_s"]}
    large, small = by_nodes.get(1024), by_nodes.get(8)
    if large is not None:
        checks["wall_s_1024"] = large.wall_s_median < TARGETS["wall_s_1024"]
        checks["peak_rss_mb_1024"] = large.peak_rss_mb_max < TARGETS["peak_rss_mb_1024"]
    if large is not None and small is not None:
        checks["ratio_1024_to_8"] = large.wall_s_median <= TARGETS["ratio_1024_to_8"] * small.wall_s_median
        checks["resources_constant"] = large.resources == small.resources
    return checks


def markdown(sizes: list[SizeResult], help_: dict[str, float], checks: dict[str, bool]) -> str:
    lines = [
        "| H100 nodes | wall (median, s) | min-max (s) | peak RSS (MB) | resources | in-process (s) "
        "| py peak (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        lines.append(
            f"| {s.nodes:,} | {s.wall_s_median:.3f} | {s.wall_s_min:.3f}-{s.wall_s_max:.3f} | "
            f"{s.peak_rss_mb_max:.1f} | {s.resources} | {s.in_process_s_median:.3f} | "
            f"{s.in_process_python_peak_mb:.1f} |"
        )
    help_line = f"{help_['wall_s_median']:.3f} s median, {help_['peak_rss_mb_max']:.1f} MB peak RSS"
    lines.append(f"\n`provisioner --help`: {help_line}")
    verdict = ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in checks.items())
    lines.append(f"\nTargets: {verdict}")
    return "\n".join(lines)


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (the median is reported)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="node counts to plan")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--in-process", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.in_process is not None:
        print(json.dumps(_in_process_worker(options.in_process, options.runs)))
        return 0
    with tempfile.TemporaryDirectory(prefix="provisioner-bench-") as tmp:
        sizes = [bench_size(nodes, options.runs, Path(tmp)) for nodes in options.sizes]
    help_ = bench_help(max(options.runs, 5))
    checks = verdicts(sizes, help_)
    print(markdown(sizes, help_, checks))
    results = {
        "machine": machine(),
        "measured": time.strftime("%Y-%m-%d"),
        "targets": TARGETS,
        "plan": [asdict(s) for s in sizes],
        "help": help_,
        "checks": checks,
    }
    options.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if all(checks.values()) and all(s.exit_code == 0 for s in sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
