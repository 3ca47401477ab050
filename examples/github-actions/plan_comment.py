#!/usr/bin/env python3
"""Plan what a pull request changes, offline, and keep one pull-request comment up to date.

`plan_comment.py plan --base SHA --head SHA --out DIR [--post --repo OWNER/NAME --pr N]`:

1. lists the files the pull request changes (`git diff` from the merge base of BASE and HEAD to HEAD);
2. picks the targets to plan: a Pulumi stack directory STACKS/<name>/ (one with Pulumi.yaml) in which a file
   changed, once per Pulumi.<stack>.yaml; a changed cluster program PROGRAMS/<name>.py; everything when a
   shared file changed (PROGRAMS/_<name>.py, a Python file in STACKS/ outside a stack, a --shared pattern);
3. plans each target offline at the merge base and at HEAD (`provisioner plan --format json`, and
   `--format markdown` at HEAD), in clean git worktrees, and compares them (`provisioner diff`);
4. writes DIR/comment.md (within GitHub's comment limit), DIR/comment-full.md (untruncated) and
   DIR/result.json (what was planned, the pull request's number, whether to post);
5. with --post, creates the comment or updates the one that starts with the marker;
6. exits 2 when a plan at HEAD has an ERROR finding, 1 when a plan, the diff or the posting failed, 0 else.

`plan_comment.py post --repo OWNER/NAME --from DIR [--head-sha SHA]` posts DIR/comment.md for the pull
request DIR/result.json names (the second workflow, for pull requests from forks); with --head-sha, only
when that pull request's head is still that commit.

Only the standard library, git and (to post) the GitHub CLI `gh`, authenticated by GH_TOKEN.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

MARKER = "<!-- provisioner-plan -->"
COMMENT_LIMIT = 65_536
"""GitHub refuses a comment body longer than this many characters."""
TRUNCATED = (
    "\n\n---\n:warning: **This comment was truncated** to fit GitHub's limit of {limit:,} characters "
    "({dropped:,} characters left out). The whole report is `comment-full.md` in the workflow run's "
    "artifact `provisioner-plan`.\n"
)
EXIT_OK, EXIT_FAILED, EXIT_ERROR_FINDING = 0, 1, 2
DIFF_UNCHANGED, DIFF_CHANGED, DIFF_INCOMPLETE = 0, 3, 2
"""`provisioner diff`: no change, changes, or a side that did not plan cleanly (shown, not a crash)."""


# -- what to plan ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, order=True)
class Target:
    """A cluster program (a .py file) or one stack of a Pulumi project directory, by repository path."""

    path: str
    stack: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path} (stack {self.stack})" if self.stack else self.path

    @property
    def slug(self) -> str:
        name = self.path.replace("/", "__") + (f"@{self.stack}" if self.stack else "")
        return re.sub(r"[^A-Za-z0-9_.@-]", "_", name)

    def args(self) -> list[str]:
        return [self.path, *(["--stack", self.stack] if self.stack else [])]


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the repository keeps its cluster programs and stacks, and what counts as shared."""

    programs: str = "examples"
    stacks: str = "stacks"
    shared: tuple[str, ...] = ()

    def _under(self, folder: str, path: str) -> list[str] | None:
        """`path`'s parts below `folder` ("." or "": the repository's root), or None when not below it."""
        folder = folder.strip("/")
        if folder in ("", "."):
            return path.split("/")
        return path[len(folder) + 1 :].split("/") if path.startswith(folder + "/") else None

    def program(self, path: str) -> bool:
        parts = self._under(self.programs, path)
        return (
            parts is not None
            and len(parts) == 1
            and parts[0].endswith(".py")
            and not parts[0].startswith("_")
        )

    def stack_dir(self, path: str) -> str | None:
        parts = self._under(self.stacks, path)
        if parts is None or len(parts) < 2:
            return None
        return path[: len(path) - len("/".join(parts[1:])) - 1]

    def is_shared(self, path: str, stack_dirs: set[str]) -> bool:
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in self.shared):
            return True
        program_parts = self._under(self.programs, path)
        if program_parts is not None and len(program_parts) == 1 and program_parts[0].startswith("_"):
            return program_parts[0].endswith(".py")  # _common.py, __init__.py: imported by the programs
        stack_parts = self._under(self.stacks, path)
        if stack_parts is not None and path.endswith(".py"):
            return len(stack_parts) == 1 or self.stack_dir(path) not in stack_dirs  # a helper package
        return False


def targets_in(files: Sequence[str], layout: Layout) -> set[Target]:
    """Every target one commit's files declare."""
    present = set(files)
    found: set[Target] = {Target(f) for f in files if layout.program(f)}
    for directory in {d for f in files if f.endswith("/Pulumi.yaml") and (d := layout.stack_dir(f))}:
        if directory + "/Pulumi.yaml" not in present:
            continue
        pattern = re.compile(re.escape(directory) + r"/Pulumi\.([^/]+)\.yaml")
        names = sorted(m.group(1) for f in files if (m := pattern.fullmatch(f)))
        if names:
            found.update(Target(directory, name) for name in names)
        else:
            found.add(Target(directory))
    return found


def select(changed: Sequence[str], base: set[Target], head: set[Target], layout: Layout) -> list[Target]:
    """The targets a change touches: all of them when a shared file changed."""
    known = base | head
    stack_dirs = {t.path for t in known if not t.path.endswith(".py")}
    if any(layout.is_shared(path, stack_dirs) for path in changed):
        return sorted(known)
    touched = set(changed)
    picked = {t for t in known if t.path in touched}
    dirs = {d for path in changed if (d := layout.stack_dir(path)) in stack_dirs}
    picked |= {t for t in known if t.path in dirs}
    return sorted(picked)


# -- git --------------------------------------------------------------------------------------------------


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def files_at(rev: str) -> list[str]:
    return [f for f in git("ls-tree", "-r", "-z", "--name-only", rev).split("\0") if f]


def changed_files(base: str, head: str) -> list[str]:
    # no rename detection: a renamed program is a removed one and a new one
    return [f for f in git("diff", "--name-only", "--no-renames", "-z", base, head).split("\0") if f]


@contextlib.contextmanager
def worktree(rev: str, parent: Path, name: str) -> Iterator[Path]:
    """A clean checkout of `rev`, removed afterwards."""
    path = parent / name
    git("worktree", "add", "--detach", "--quiet", str(path), rev)
    try:
        yield path
    finally:
        with contextlib.suppress(RuntimeError):
            git("worktree", "remove", "--force", str(path))


# -- planning ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    target: Target
    in_base: bool
    in_head: bool
    head_code: int | None = None  # provisioner plan's exit code at HEAD: 0, 2 (ERROR finding), else failed
    head_markdown: str = ""
    diff_markdown: str = ""
    changed: bool | None = None  # None: not compared (new, removed, or the base did not plan)
    errors: int = 0
    warnings: int = 0
    problem: str = ""  # why a plan at HEAD or the diff did not run: the check fails
    note: str = ""  # why the base did not plan: shown, the check does not fail for it

    @property
    def failed(self) -> bool:
        return bool(self.problem)

    @property
    def status(self) -> str:
        if self.failed:  # a crashed program exits 2 too: it did not plan, which says more than ERROR
            return "failed"
        if self.head_code == EXIT_ERROR_FINDING:
            return "ERROR"
        if not self.in_base:
            return "new"
        if not self.in_head:
            return "removed"
        return {True: "changed", False: "no change", None: "not compared"}[self.changed]


def _run(command: Sequence[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 124, "", f"timed out after {timeout:.0f} s")
    except OSError as exc:
        return subprocess.CompletedProcess(command, 127, "", f"cannot run {command[0]}: {exc}")


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _count(plan: object, severity: str) -> int:
    """Findings of this severity in a JSON plan: the program's own and each cluster's."""
    if not isinstance(plan, dict):
        return 0
    findings = list(plan.get("findings") or [])
    for cluster in plan.get("clusters") or []:
        if isinstance(cluster, dict):
            findings += cluster.get("findings") or []
    return sum(1 for f in findings if isinstance(f, dict) and str(f.get("severity", "")).lower() == severity)


PLANNED = (EXIT_OK, EXIT_ERROR_FINDING)
"""The exit codes of a plan that ran: with or without ERROR findings."""


def plan_target(
    outcome: Outcome, trees: dict[str, Path], provisioner: list[str], out: Path, timeout: float
) -> Outcome:
    """Plan one target at the base and the head, and compare; record everything in `outcome`."""
    target, plans = outcome.target, out / "plans"
    problems: list[str] = []
    base_file = head_file = None
    if outcome.in_base:
        done = _run([*provisioner, "plan", *target.args(), "--format", "json"], trees["base"], timeout)
        if done.returncode in PLANNED:
            base_file = plans / f"{target.slug}.base.json"
            base_file.write_text(done.stdout, encoding="utf-8")
        else:
            outcome.note = (
                f"The plan at the merge base failed (exit {done.returncode}):\n{_tail(done.stderr)}"
            )
    if outcome.in_head:
        done = _run([*provisioner, "plan", *target.args(), "--format", "json"], trees["head"], timeout)
        outcome.head_code = done.returncode
        if done.returncode in PLANNED:
            head_file = plans / f"{target.slug}.head.json"
            head_file.write_text(done.stdout, encoding="utf-8")
            with contextlib.suppress(ValueError):
                plan = json.loads(done.stdout)
                outcome.errors, outcome.warnings = _count(plan, "error"), _count(plan, "warning")
                failure = plan.get("failure") if isinstance(plan, dict) else None
                if isinstance(failure, dict) and failure.get("message"):  # it crashed: not a finding
                    problems.append(f"the program failed at the head: {failure['message']}")
            if done.returncode == EXIT_ERROR_FINDING and not outcome.errors:
                outcome.errors = 1  # the exit code says so, whatever the JSON's shape
            done = _run(
                [*provisioner, "plan", *target.args(), "--format", "markdown"], trees["head"], timeout
            )
            outcome.head_markdown = done.stdout.strip()
            (plans / f"{target.slug}.head.md").write_text(done.stdout, encoding="utf-8")
            if done.returncode not in PLANNED:
                problems.append(f"the markdown plan failed (exit {done.returncode}):\n{_tail(done.stderr)}")
        else:
            problems.append(f"the plan at the head failed (exit {done.returncode}):\n{_tail(done.stderr)}")
    if base_file is not None and head_file is not None:
        command = [*provisioner, "diff", str(base_file), str(head_file), "--format", "markdown"]
        done = _run(command, trees["head"], timeout)
        if done.returncode in (DIFF_UNCHANGED, DIFF_CHANGED, DIFF_INCOMPLETE) and done.stdout.strip():
            outcome.changed = done.returncode != DIFF_UNCHANGED
            outcome.diff_markdown = done.stdout.strip()
            (plans / f"{target.slug}.diff.md").write_text(done.stdout, encoding="utf-8")
        else:
            problems.append(f"provisioner diff failed (exit {done.returncode}):\n{_tail(done.stderr)}")
    outcome.problem = "\n\n".join(problems)
    return outcome


# -- the comment ------------------------------------------------------------------------------------------

ICONS = {
    "ERROR": ":x:",
    "failed": ":boom:",
    "changed": ":pencil2:",
    "new": ":sparkles:",
    "removed": ":wastebasket:",
    "not compared": ":grey_question:",
    "no change": ":white_check_mark:",
}
RANK = {status: i for i, status in enumerate(ICONS)}
"""The order of the sections: what fails the check first."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _findings(o: Outcome) -> str:
    if o.head_code not in PLANNED:
        return "-"
    parts = [_plural(o.errors, "error")] if o.errors else []
    parts += [_plural(o.warnings, "warning")] if o.warnings else []
    return ", ".join(parts) or "none"


def _fold(summary: str, body: str, is_open: bool) -> str:
    return f"<details{' open' if is_open else ''}><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _section(o: Outcome) -> tuple[str, str]:
    """A target's part of the comment: what must be shown, and its full plan, which may be left out."""
    lines = [f"#### {ICONS[o.status]} `{o.target.label}`: {o.status}"]
    for text in (o.problem, o.note):
        if text:
            lines.append(f"```text\n{text}\n```")
    if o.status == "removed":
        lines.append("Removed by this pull request (a deployed stack of it still needs `pulumi destroy`).")
    if o.changed and o.diff_markdown:
        lines.append(o.diff_markdown)
    elif o.changed is False:
        lines.append("The plan does not change.")
    full = ""
    if o.head_markdown:  # open when the reviewer must read it: the findings that fail the check, a new target
        full = _fold("Plan at the head of the pull request", o.head_markdown, o.status in ("ERROR", "new"))
    return "\n\n".join(lines), full


def summary(outcomes: list[Outcome], base: str, head: str) -> tuple[str, bool]:
    """The comment's head, and whether the targets' sections follow it (not when nothing changed)."""
    title = f"{MARKER}\n### provisioner plan"
    where = f"head `{head[:12]}` against the merge base `{base[:12]}`"
    if not outcomes:
        return (
            f"{title}\nNo cluster program or stack changes in this pull request ({where}): nothing to plan.",
            False,
        )
    statuses = [o.status for o in outcomes]
    if set(statuses) == {"no change"}:
        names = ", ".join(f"`{o.target.label}`" for o in outcomes)
        return f"{title}\nNo changes: planned offline, {names} plan the same at {where}.", False
    tally = ", ".join(f"{statuses.count(s)} {s}" for s in ICONS if s in statuses)
    parts = [title, f"Planned offline: {_plural(len(outcomes), 'target')} ({tally}), {where}."]
    why = [f"`{o.target.label}` has ERROR findings" for o in outcomes if o.status == "ERROR"]
    why += [f"`{o.target.label}` did not plan" for o in outcomes if o.failed]
    if why:
        parts.append(f"> [!CAUTION]\n> **This check fails**: {'; '.join(why)}.")
    rows = ["| | target | plan | findings at head |", "| --- | --- | --- | --- |"]
    rows += [f"| {ICONS[o.status]} | `{o.target.label}` | {o.status} | {_findings(o)} |" for o in outcomes]
    parts.append("\n".join(rows))
    return "\n\n".join(parts), True


def _cut(text: str, budget: int) -> str:
    """At most `budget` characters of markdown, cut at a line end; an open code fence and <details> closed."""
    if len(text) <= budget:
        return text
    lines = text[:budget].splitlines()[:-1]  # the last line may be cut in the middle
    while lines:
        fence = "\n```" if sum(1 for line in lines if line.lstrip().startswith("```")) % 2 else ""
        kept = "\n".join(lines)
        opened = kept.count("<details") - kept.count("</details>")
        kept += fence + "\n</details>" * max(0, opened) + "\n\n*(cut to fit)*"
        if len(kept) <= budget:
            return kept
        lines = lines[: max(0, len(lines) - 1 - (len(kept) - budget) // 80)]
    return ""


def fit(outcomes: list[Outcome], base: str, head: str, limit: int = COMMENT_LIMIT) -> tuple[str, str]:
    """(the comment as posted, the whole report). The summary always fits; then each target's section, in
    RANK order, with its folded full plan when everything fits; else the full plans are left out and each
    section gets its share of the room, cut where it runs out."""
    head_text, detailed = summary(outcomes, base, head)
    sections = [_section(o) for o in sorted(outcomes, key=lambda o: (RANK[o.status], o.target))]
    if not detailed:
        sections = []
    whole = "\n\n".join([head_text, *(part for pair in sections for part in pair if part)]) + "\n"
    if len(whole) <= limit:
        return whole, whole
    budget = limit - len(TRUNCATED.format(limit=limit, dropped=len(whole)))
    size = len(head_text) + sum(len(essential) + 2 for essential, _ in sections)
    fits = size <= budget
    chosen, used = [head_text], len(head_text)
    for i, (essential, full) in enumerate(sections):
        share = (budget - used) if fits else (budget - used) // (len(sections) - i)
        piece = _cut(essential, share - 2)
        if piece:
            chosen.append(piece)
            used += len(piece) + 2
        later = sum(len(essential) + 2 for essential, _ in sections[i + 1 :])
        if fits and full and used + len(full) + 2 <= budget - later:
            chosen.append(full)
            used += len(full) + 2
    text = "\n\n".join(chosen)
    return text + TRUNCATED.format(limit=limit, dropped=len(whole) - len(text)), whole


# -- posting ----------------------------------------------------------------------------------------------


def gh(args: Sequence[str], payload: dict[str, object] | None = None) -> str:
    """`gh api ...`, with an optional JSON body (through a file, whatever its size)."""
    with tempfile.TemporaryDirectory() as folder:
        command = ["gh", "api", *args]
        if payload is not None:
            body = Path(folder) / "body.json"
            body.write_text(json.dumps(payload), encoding="utf-8")
            command += ["--input", str(body)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"gh api {' '.join(args)} failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _pages(text: str) -> Iterator[dict[str, object]]:
    """The items of `gh api --paginate`'s output: JSON arrays one after another."""
    decoder, index = json.JSONDecoder(), 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        page, index = decoder.raw_decode(text, index)
        yield from page


def find_comment(repo: str, pr: int, author: str | None) -> int | None:
    """The id of the earliest comment of ours on the pull request: it starts with the marker."""
    for comment in _pages(gh(["--paginate", f"repos/{repo}/issues/{pr}/comments?per_page=100"])):
        user = comment.get("user")
        login = user.get("login") if isinstance(user, dict) else None
        if str(comment.get("body", "")).startswith(MARKER) and author in (None, login):
            return int(str(comment["id"]))
    return None


def post(repo: str, pr: int, body: str, author: str | None, only_update: bool) -> str:
    """Update our comment, or create one (unless only_update); say what was done."""
    existing = find_comment(repo, pr, author)
    if existing is not None:
        gh(["--method", "PATCH", f"repos/{repo}/issues/comments/{existing}"], {"body": body})
        return f"updated comment {existing} on {repo}#{pr}"
    if only_update:
        return f"nothing to post on {repo}#{pr} (no comment of ours to update)"
    gh(["--method", "POST", f"repos/{repo}/issues/{pr}/comments"], {"body": body})
    return f"created a comment on {repo}#{pr}"


# -- commands ---------------------------------------------------------------------------------------------


def run_plan(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    (out / "plans").mkdir(parents=True, exist_ok=True)
    layout = Layout(args.programs, args.stacks, tuple(args.shared))
    head = git("rev-parse", "--verify", f"{args.head}^{{commit}}").strip()
    base = git("merge-base", args.base, head).strip()  # what the pull request itself changes
    changed = changed_files(base, head)
    base_targets, head_targets = targets_in(files_at(base), layout), targets_in(files_at(head), layout)
    picked = select(changed, base_targets, head_targets, layout)
    print(f"{len(changed)} changed file(s) from {base[:12]} to {head[:12]}; planning {len(picked)} target(s)")
    outcomes = [Outcome(t, t in base_targets, t in head_targets) for t in picked]
    if outcomes:
        provisioner = shlex.split(args.provisioner)
        with tempfile.TemporaryDirectory(prefix="plan-comment-") as scratch, contextlib.ExitStack() as stack:
            trees = {
                "base": stack.enter_context(worktree(base, Path(scratch), "base")),
                "head": stack.enter_context(worktree(head, Path(scratch), "head")),
            }
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                outcomes = list(
                    pool.map(lambda o: plan_target(o, trees, provisioner, out, args.timeout), outcomes)
                )
    for o in outcomes:
        print(f"  {o.target.label}: {o.status}" + (f" ({o.problem.splitlines()[0]})" if o.problem else ""))
    comment, whole = fit(outcomes, base, head, args.limit)
    (out / "comment.md").write_text(comment, encoding="utf-8")
    (out / "comment-full.md").write_text(whole, encoding="utf-8")
    code = EXIT_OK
    if any(o.failed for o in outcomes):
        code = EXIT_FAILED
    if any(o.status == "ERROR" for o in outcomes):
        code = EXIT_ERROR_FINDING
    result = {
        "pr": args.pr,
        "base": base,
        "head": head,
        "exit_code": code,
        "only_update": not outcomes,  # nothing planned: refresh an earlier comment, post no new one
        "targets": [
            {"target": o.target.label, "status": o.status, "errors": o.errors, "warnings": o.warnings}
            for o in outcomes
        ],
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / 'comment.md'} ({len(comment):,} characters)")
    if args.post:
        try:
            print(post(args.repo, args.pr, comment, args.author, only_update=not outcomes))
        except RuntimeError as exc:
            print(f"error: could not post the comment: {exc}", file=sys.stderr)
            code = code or EXIT_FAILED
    if code == EXIT_ERROR_FINDING:
        print("error: a plan at the head has ERROR findings (see the comment)", file=sys.stderr)
    elif code:
        print("error: a plan or the diff failed to run (see the comment)", file=sys.stderr)
    return code


def run_post(args: argparse.Namespace) -> int:
    folder = Path(args.source)
    result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    pr = result.get("pr")
    if not isinstance(pr, int) or isinstance(pr, bool) or pr <= 0:
        print(f"error: {folder / 'result.json'} names no pull request", file=sys.stderr)
        return EXIT_FAILED
    body = (folder / "comment.md").read_text(encoding="utf-8")
    if not body.startswith(MARKER) or len(body) > COMMENT_LIMIT:
        print("error: comment.md is not a provisioner plan comment within GitHub's limit", file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.head_sha:  # the artifact comes from the pull request's run: it must be for this commit
            current = json.loads(gh([f"repos/{args.repo}/pulls/{pr}"])).get("head", {}).get("sha")
            if current != args.head_sha:
                print(f"not posting: #{pr}'s head is {current}, the plan is of {args.head_sha}")
                return EXIT_OK
        print(post(args.repo, pr, body, args.author, only_update=bool(result.get("only_update"))))
    except RuntimeError as exc:
        print(f"error: could not post the comment: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    plan = commands.add_parser(
        "plan", help="plan the changed targets, write the comment, post it with --post"
    )
    plan.add_argument("--base", required=True, help="the base branch's commit (the merge base is planned)")
    plan.add_argument("--head", default="HEAD", help="the pull request's head commit (default: HEAD)")
    plan.add_argument(
        "--programs", default="examples", help="folder of cluster programs, *.py (default: examples)"
    )
    plan.add_argument(
        "--stacks", default="stacks", help="folder of Pulumi stack directories (default: stacks)"
    )
    plan.add_argument(
        "--shared",
        action="append",
        default=[],
        metavar="GLOB",
        help="a changed file matching this pattern replans everything (repeatable; * crosses folders)",
    )
    plan.add_argument("--out", default="plan-comment", help="folder for comment.md and the plans")
    plan.add_argument(
        "--provisioner", default="provisioner", help="the provisioner command (default: provisioner)"
    )
    plan.add_argument("--jobs", type=int, default=4, help="targets planned at once (default: 4)")
    plan.add_argument("--timeout", type=float, default=600, help="seconds one plan may take (default: 600)")
    plan.add_argument("--limit", type=int, default=COMMENT_LIMIT, help=argparse.SUPPRESS)
    plan.add_argument("--post", action="store_true", help="create or update the comment (needs --repo, --pr)")
    plan.add_argument("--repo", help="OWNER/NAME of the repository")
    plan.add_argument("--pr", type=int, help="the pull request's number")
    plan.add_argument("--author", help="only update a comment by this login (e.g. github-actions[bot])")
    post_ = commands.add_parser("post", help="post DIR/comment.md for the pull request DIR/result.json names")
    post_.add_argument("--repo", required=True, help="OWNER/NAME of the repository")
    post_.add_argument("--from", dest="source", required=True, metavar="DIR", help="the plan command's --out")
    post_.add_argument("--head-sha", help="post only while the pull request's head is this commit")
    post_.add_argument("--author", help="only update a comment by this login (e.g. github-actions[bot])")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "plan":
        if args.post and not (args.repo and args.pr):
            parser().error("--post needs --repo and --pr")
        try:
            return run_plan(args)
        except RuntimeError as exc:  # git could not answer: no comment can be right
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return run_post(args)


if __name__ == "__main__":
    sys.exit(main())
