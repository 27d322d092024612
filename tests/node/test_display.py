"""``node.display``: what a person sees instead of Python reprs."""

from __future__ import annotations

from node.display import show, show_time


def test_values_read_as_words_not_reprs() -> None:
    assert show(None) == "-"
    assert (show(True), show(False)) == ("yes", "no")
    assert show(["33", 7]) == "33, 7" and show([]) == "-"
    assert show(0) == "0" and show("cairn1x") == "cairn1x"


def test_times_are_iso_8601_utc_to_the_millisecond() -> None:
    assert show_time(0) == "1970-01-01T00:00:00.000Z"
    assert show_time(1_764_770_709_120) == "2025-12-03T14:05:09.120Z"
