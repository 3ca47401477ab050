"""Updates that still terminate GPU nodes: a template change that rolls every node of a GPU group (an EKS
node group's launch template gets a new shape), and a smaller GPU group."""

from __future__ import annotations

from pathlib import Path

from provisioner.program.runner import run_program
from provisioner.review.diff import diff_plans, load_plan
from provisioner.review.diff_model import Severity
from provisioner.review.report import report_dict

ROOT = Path(__file__).resolve().parents[2]


def planned(
    tmp_path: Path, example: str, name: str, edit: tuple[str, str] | None = None
) -> dict[str, object]:
    text = (ROOT / "examples" / example).read_text()
    if edit is not None:
        assert edit[0] in text
        text = text.replace(*edit)
    path = tmp_path / name
    path.write_text(text)
    return load_plan(report_dict(run_program(path, None, display=f"examples/{example}")))


def test_a_new_gpu_shape_in_a_node_groups_template_is_a_caution(tmp_path: Path) -> None:
    base = planned(tmp_path, "h100_eks.py", "base.py")
    head = planned(tmp_path, "h100_eks.py", "head.py", ('gpu="H100"', 'gpu="A100-80GB"'))
    cautions = [w for w in diff_plans(base, head).warnings if w.severity is Severity.CAUTION]
    assert [w.subject for w in cautions] == ["eks-train-gpu-lt"]
    assert (
        "`instanceType`" in cautions[0].message
        and "every node of the group is replaced" in cautions[0].message
    )


def test_a_smaller_gpu_group_warns_that_nodes_are_terminated(tmp_path: Path) -> None:
    base = planned(tmp_path, "h100_training.py", "base.py")
    head = planned(tmp_path, "h100_training.py", "head.py", ("gpus=64", "gpus=32"))
    [warning] = [w for w in diff_plans(base, head).warnings if w.subject == "llm-train-gpu-asg"]
    assert warning.severity is Severity.WARNING and "`desiredCapacity` 8 -> 4" in warning.message
    grown = planned(tmp_path, "h100_training.py", "grown.py", ("gpus=64", "gpus=128"))
    assert not [w for w in diff_plans(base, grown).warnings if w.subject == "llm-train-gpu-asg"]
