"""Progress on long work, on stderr: a redrawn line on a terminal, plain lines in logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, *, unit: str = "records", stream: TextIO | None = None,
                 min_interval: float = 0.5) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self.min_interval = min_interval
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.done >= self.total or now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        pct = 100 * self.done / self.total if self.total else 100.0
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        width = 24
        filled = int(width * pct / 100)
        bar = "#" * filled + "-" * (width - filled)
        line = (f"{self.label}: [{bar}] {self.done:,}/{self.total:,} {self.unit} "
                f"({pct:.0f}%, {rate:.0f}/s)")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done >= self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class NoProgress(Progress):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__("", 0)

    def advance(self, n: int) -> None:
        self.done += n
