"""The gates' table itself: the documented defaults, which thresholds are refused (fractions outside [0, 1],
negative drops and errors), the 1e-9 tolerance at the edge, and that the tables cannot be changed after the
thresholds were checked."""

from __future__ import annotations

import dataclasses

import pytest

from edgeq.errors import UsageError
from edgeq.validate.gates import GATES, METRICS, Thresholds

OFF = {"max_drop": None, "min_agreement": None, "max_error": None, "min_sqnr": None, "min_accuracy": None}


def test_the_defaults_are_the_documented_ones() -> None:
    # README and `edgeq validate --help`: --max-drop 1.0 pp, --min-agreement 0.97, --min-sqnr 20 dB, the rest off
    assert dataclasses.asdict(Thresholds()) == {"max_drop": 1.0, "min_agreement": 0.97, "max_error": None,
                                                "min_sqnr": 20.0, "min_accuracy": None}
    assert [g.flag for g in GATES] == ["--max-drop", "--min-agreement", "--max-error", "--min-sqnr", "--min-accuracy"]
    assert [g.needs_reference for g in GATES] == [True, True, True, True, False]


@pytest.mark.parametrize(("field", "value"), [
    ("min_agreement", 0.0), ("min_agreement", 1.0), ("min_accuracy", 0.0), ("min_accuracy", 1.0),
    ("max_drop", 0.0), ("max_drop", 100.0), ("max_error", 0.0), ("min_sqnr", -5.0), ("min_sqnr", 0.0),
])
def test_edge_values_are_accepted(field: str, value: float) -> None:
    assert getattr(Thresholds(**{**OFF, field: value}), field) == value


@pytest.mark.parametrize(("field", "value", "message"), [
    ("min_agreement", 1.0000001, "--min-agreement is a fraction between 0 and 1, not 1.0000001"),
    ("min_agreement", 1.5, "--min-agreement is a fraction between 0 and 1, not 1.5"),
    ("min_agreement", -0.5, "--min-agreement is a fraction between 0 and 1, not -0.5"),
    ("min_accuracy", 2.0, "--min-accuracy is a fraction between 0 and 1, not 2.0"),
    ("max_drop", -0.5, "--max-drop must not be negative, not -0.5"),
    ("max_drop", -1e-6, "--max-drop must not be negative, not -1e-06"),
    ("max_error", -2.0, "--max-error must not be negative, not -2.0"),
])
def test_out_of_range_thresholds_are_refused(field: str, value: float, message: str) -> None:
    with pytest.raises(UsageError) as info:
        Thresholds(**{**OFF, field: value})
    assert str(info.value) == message


def test_every_gate_is_checked_after_one_that_is_off() -> None:
    with pytest.raises(UsageError, match="--min-accuracy is a fraction"):
        Thresholds(max_drop=None, min_agreement=None, max_error=None, min_sqnr=None, min_accuracy=3.0)


@pytest.mark.parametrize("threshold", [0.5, 3.0, 0.97])
def test_the_tolerance_at_the_edge_is_1e_9(threshold: float) -> None:
    maximum, minimum = next(g for g in GATES if g.operator == "<="), next(g for g in GATES if g.operator == ">=")
    assert maximum.holds(threshold, threshold) and minimum.holds(threshold, threshold)
    assert maximum.holds(threshold + 1e-9, threshold) and not maximum.holds(threshold + 3e-9, threshold)
    assert minimum.holds(threshold - 1e-9, threshold) and not minimum.holds(threshold - 3e-9, threshold)


def test_the_tables_and_thresholds_are_frozen() -> None:
    """Thresholds are checked once, in __post_init__: a mutable instance could be set to 1.5 afterwards."""
    thresholds = Thresholds()
    with pytest.raises(dataclasses.FrozenInstanceError):
        thresholds.min_agreement = 1.5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        GATES[0].default = 5.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS[0].title = "x"  # type: ignore[misc]
