"""Shared options and value parsing: global options after the command, --where, --grid."""

from __future__ import annotations

import pytest

from entropic_cli._options import parse_scalar


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.25", 0.25),
        ("1e3", 1000.0),
        ("true", True),
        ("False", False),
        ("abc", "abc"),
        ("", ""),
    ],
)
def test_grid_values_are_int_float_bool_or_string(text: str, value: object) -> None:
    parsed = parse_scalar(text)
    assert parsed == value
    assert type(parsed) is type(value)
