"""GX's failure to evaluate an expectation is told apart from a count, in both shapes GX gives it."""

from __future__ import annotations

import pytest

from gx.crosscheck import raised

FAILED_METRIC = {
    "MetricConfigurationID(metric_name='column_values.between.unexpected_values', ...)": {
        "exception_traceback": "Traceback ...",
        "exception_message": "year 0 is out of range",
        "raised_exception": True,
    }
}


@pytest.mark.parametrize(
    ("exception_info", "expected"),
    [
        (None, False),
        ({}, False),
        ({"raised_exception": False, "exception_traceback": None, "exception_message": None}, False),
        ({"raised_exception": True, "exception_message": "boom"}, True),
        (FAILED_METRIC, True),
        ({"some metric": {"raised_exception": False}}, False),
    ],
)
def test_a_failed_evaluation_is_told_apart(exception_info, expected: bool) -> None:
    assert raised(exception_info) is expected
