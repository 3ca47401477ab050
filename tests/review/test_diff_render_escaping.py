"""What the diff's markdown does with awkward values: lists that read alike when cut, backticks in values."""

from __future__ import annotations

from provisioner.review.diff_model import KeyChange
from provisioner.review.diff_render import _fence, key_line


def test_a_list_whose_length_changed_says_so_when_the_cut_values_read_alike() -> None:
    long = [{"associatePublicIpAddress": False, "deviceIndex": i, "networkCardIndex": i} for i in range(4)]
    line = key_line(KeyChange("networkInterfaces", long, long[:2]))
    assert "[4 items]" in line and "[2 items]" in line


def test_a_fence_is_longer_than_any_backticks_it_holds() -> None:
    assert _fence(["plain"]) == "```"
    assert _fence(["a ```` b"]) == "`````"
