"""The one fitting rule the CLI's tables and the app's keep (tui/fit.py)."""

from __future__ import annotations

from dlpick.tui.fit import Fit, Frame, cut, fit_widths

GAP = Frame(gap=2)


def laid(cols: list[Fit], width: int, frame: Frame = GAP, least: int = 1) -> list[tuple[str, int]]:
    return [(p.label, p.width) for p in fit_widths(cols, width, frame, least=least)]


def test_nothing_narrows_while_everything_fits() -> None:
    cols = [Fit("a", "type", 12, 9), Fit("b", "note", 40, 1, cap=16, wraps=True)]
    assert laid(cols, 54) == [("type", 12), ("note", 40)]


def test_wrapping_text_narrows_before_a_label_shortens() -> None:
    cols = [
        Fit("a", "instance type", 10, 9, short="type"),
        Fit("b", "note", 40, 1, cap=16, wraps=True),
    ]
    # Full labels fit once the note wraps: the note takes what is left.
    assert laid(cols, 40) == [("instance type", 13), ("note", 25)]
    # Only short labels fit beside the narrowest note.
    assert laid(cols, 28) == [("type", 10), ("note", 16)]


def test_a_label_shortens_before_text_is_cut() -> None:
    frame = Frame(padding=2, edge=1)
    cols = [Fit("a", "accelerator", 4, 9, short="acc"), Fit("b", "name", 30, 1, cap=10)]
    assert laid(cols, 41, frame) == [("acc", 4), ("name", 30)]
    assert laid(cols, 30, frame) == [("acc", 4), ("name", 21)]  # cut, then given back room


def test_the_least_useful_go_first_never_the_kept_and_never_below_least() -> None:
    cols = [Fit("a", "aa", 10, 1, keep=True), Fit("b", "bb", 10, 2), Fit("c", "cc", 10, 3)]
    assert laid(cols, 22) == [("aa", 10), ("cc", 10)]
    assert laid(cols, 10, least=2) == [("aa", 10), ("cc", 10)]  # longer than 10: nothing cut


def test_a_value_too_wide_stays_whole() -> None:
    assert laid([Fit("a", "id", 30, 1)], 10) == [("id", 30)]


def test_cut_marks_what_it_cut() -> None:
    assert cut("NVIDIA H100", 6) == "NVIDI…"
    assert cut("L4", 6) == "L4"
