"""Progress of a sweep: counts for callbacks, and a bar on stderr."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["ProgressCallback", "SweepProgress"]


@dataclass(frozen=True, slots=True)
class SweepProgress:
    """A snapshot of a sweep's progress, handed to ``sweep(callback=...)``.

    Attributes:
        total: Distinct parameter sets in the sweep.
        done: Parameter sets finished so far: cache hits, completed runs and failures.
        hits: Parameter sets that were already in the store.
        failures: Runs that failed.
        elapsed_seconds: Time since the sweep started running.
    """

    total: int
    done: int
    hits: int
    failures: int
    elapsed_seconds: float

    @property
    def runs(self) -> int:
        """Runs finished so far (successful or not)."""
        return self.done - self.hits

    @property
    def rate(self) -> float:
        """Runs finished per second so far."""
        return self.runs / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


ProgressCallback = Callable[[SweepProgress], Any]


class ProgressReporter:
    """Keeps the counts and shows them: tqdm when installed, a plain line otherwise.

    While the bar or the line is shown, a warning (an executor's fallback, say) is printed on a
    line of its own, never glued to the end of the progress line; the bar is drawn again below
    it. The previous ``warnings.showwarning`` comes back with :meth:`close`.
    """

    def __init__(
        self,
        total: int,
        hits: int,
        *,
        show: bool,
        callback: ProgressCallback | None,
        stream: TextIO | None = None,
    ) -> None:
        self.total = total
        self.hits = hits
        self.done = hits
        self.failures = 0
        self._start = time.perf_counter()
        self._callback = callback
        self._stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._plain = False
        self._last_line = 0.0
        self._line_open = False  # the plain line was written without its newline
        self._shown_before: Any = None
        if show:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self._plain = True
            else:
                self._bar = tqdm(
                    total=total, initial=hits, unit="run", file=self._stream, desc="entropic"
                )
            self._shown_before = warnings.showwarning
            warnings.showwarning = self._show_warning
        self._emit(force=True)

    def _show_warning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        """Show a warning below the progress line, then draw the bar again."""
        if self._bar is not None:
            self._bar.clear()
        elif self._line_open:
            self._stream.write("\n")
            self._stream.flush()
            self._line_open = False
        self._shown_before(message, category, filename, lineno, file, line)
        if self._bar is not None:
            self._bar.refresh()

    def snapshot(self) -> SweepProgress:
        """The current counts."""
        return SweepProgress(
            self.total, self.done, self.hits, self.failures, time.perf_counter() - self._start
        )

    def advance(self, done: int, failures: int) -> None:
        """Count ``done`` more finished runs, ``failures`` of which failed."""
        self.done += done
        self.failures += failures
        if self._bar is not None:
            self._bar.update(done)
        self._emit(force=False)

    def _emit(self, *, force: bool) -> None:
        snap = self.snapshot()
        if self._callback is not None:
            self._callback(snap)
        if self._bar is not None:
            self._bar.set_postfix(hits=snap.hits, failed=snap.failures, refresh=False)
        elif self._plain:
            now = time.perf_counter()
            if force or now - self._last_line >= 0.2 or snap.done == snap.total:
                self._last_line = now
                self._stream.write(
                    f"\rentropic: {snap.done}/{snap.total} done, {snap.hits} hits, "
                    f"{snap.failures} failed, {snap.rate:.1f} runs/s"
                )
                self._stream.flush()
                self._line_open = True

    def close(self) -> None:
        """Finish the bar or the line (a second call does nothing more)."""
        if self._shown_before is not None:
            if warnings.showwarning == self._show_warning:
                warnings.showwarning = self._shown_before
            self._shown_before = None
        else:
            return
        if self._bar is not None:
            self._bar.set_postfix(hits=self.hits, failed=self.failures)
            self._bar.close()
        elif self._plain:
            self._emit(force=True)
            self._stream.write("\n")
            self._stream.flush()
            self._line_open = False
