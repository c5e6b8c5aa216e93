"""A warning raised during a sweep with progress shown is printed on a line of its own."""

from __future__ import annotations

import sys
import warnings
from typing import Any, TextIO

import pytest
from _core_models import CountingRunner, SimResult, StoreFactory


class WarnsOnce(CountingRunner):
    """A counting runner whose second call warns (as an executor falling back would)."""

    def __call__(self, params: dict[str, Any]) -> None:
        """Run, warning on the second call."""
        if self.count == 1:
            warnings.warn("the whole message, on its own line", RuntimeWarning, stacklevel=1)
        super().__call__(params)


def _print_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Print warnings to stderr as Python does by default (pytest records them instead)."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", show)


@pytest.mark.parametrize("bar", ["plain", "tqdm"])
def test_a_warning_does_not_stick_to_the_progress_line(
    make_store: StoreFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    bar: str,
) -> None:
    if bar == "plain":
        monkeypatch.setitem(sys.modules, "tqdm", None)
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    else:
        pytest.importorskip("tqdm")
    _print_warnings(monkeypatch)
    shown_before = warnings.showwarning
    store = make_store(WarnsOnce(), SimResult)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        store.sweep(({"n": n, "dt": 0.1} for n in range(4)), progress=True)
    assert warnings.showwarning is shown_before  # put back when the sweep ended
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "RuntimeWarning:" in line]
    assert len(lines) == 1, err
    line = lines[0]
    # the warning starts its line: after the carriage return that ends a drawn bar, nothing of
    # the progress line is left in front of the warning's file name
    shown = line.split("\r")[-1]
    assert shown.startswith(__file__), repr(line)
    assert shown.endswith("RuntimeWarning: the whole message, on its own line")
