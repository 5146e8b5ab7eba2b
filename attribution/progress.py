"""Progress bars: tqdm's on a terminal; elsewhere (a log file, a pipe, a batch job) one plain line per interval.

A tqdm bar redraws itself with carriage returns, which a log file keeps: one line megabytes long. Off a terminal
`progress_bar` writes the same counts, rate and ETA as whole lines, at most one every `CURATE_PROGRESS_INTERVAL`
seconds (default 30), plus one when the work starts and one when it ends.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm.auto import tqdm as _auto
from tqdm.autonotebook import tqdm as _console_or_notebook  # tqdm's own notebook detection (after tqdm.auto,
from tqdm.std import tqdm as Progress  # which silences its warning); Progress: the type of every bar

__all__ = ["INTERVAL_VARIABLE", "Progress", "interval", "progress_bar"]

INTERVAL_VARIABLE = "CURATE_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0
# the bar itself is left out: its width means nothing in a log; without a total there is no ETA to give
LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed} elapsed, {remaining} left, {rate_fmt}{postfix}]"
OPEN_FORMAT = "{desc}: {n_fmt} {unit} [{elapsed} elapsed, {rate_fmt}{postfix}]"
_CONTROL = re.compile(r"\r|\x1b\[[0-9;]*[A-Za-z]")  # carriage returns and the cursor moves of nested bars


def interval() -> float:
    """Seconds between progress lines off a terminal: `CURATE_PROGRESS_INTERVAL`, else 30."""
    value = os.environ.get(INTERVAL_VARIABLE, "")
    try:
        seconds = float(value) if value.strip() else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL  # a progress setting is not worth failing a run over
    return max(seconds, 0.0)


class LineWriter:
    """A file for tqdm that turns each redraw into one whole line: control sequences and the padding that
    blanks a longer previous redraw are dropped, and empty redraws are not written."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.last = ""  # a bar redraws its final state when it closes: written once

    def write(self, text: str) -> int:
        for line in _CONTROL.sub("\n", text).split("\n"):
            if (line := line.rstrip()) and line != self.last:
                self.stream.write(line + "\n")
                self.last = line
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


class LineProgress(Progress):
    """A bar drawn as a line of text, with an ETA once its total is known (it may be set after it starts)."""

    @property
    def format_dict(self) -> dict[str, Any]:
        values = super().format_dict
        values["bar_format"] = LINE_FORMAT if values.get("total") else OPEN_FORMAT
        return values

    # tqdm redraws on every postfix or description change, which would write a line per step with a stale count:
    # off a terminal they show on the next interval's line instead.
    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        super().set_postfix_str(s, refresh=False)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description_str(desc or "", refresh=False)  # the line format adds the colon itself

    def set_description_str(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description_str(desc, refresh=False)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable: Iterable | None = None, *, file: IO[str] | None = None, **kwargs: Any) -> Progress:
    """A tqdm bar over `iterable` (or updated by hand), with tqdm's keyword arguments; on a terminal or in a
    notebook drawn as tqdm draws it, elsewhere written as plain lines at most one per `interval()` seconds."""
    stream = sys.stderr if file is None else file
    if _is_terminal(stream) or (file is None and _console_or_notebook is not Progress):  # or a notebook
        return (_auto if file is None else Progress)(iterable, file=file, **kwargs)
    seconds = max(interval(), kwargs.pop("mininterval", 0.0) or 0.0)
    kwargs.setdefault("unit", "it")
    return LineProgress(iterable, file=LineWriter(stream), mininterval=seconds, maxinterval=max(seconds, 10.0),
                    **kwargs)
