"""Progress of the long commands, on stderr only, and only for a person watching.

Two shapes, shared by every command:

* :class:`Bar`: a tqdm bar for work counted in steps (``simulate``'s seeds, ``sweep``'s runs);
  it is also the callback ``progress(k, n)`` that :func:`eoctheory.nets.simulation.simulate`
  takes;
* :func:`status`: a one-line status with a spinner and the elapsed seconds, for one slow call
  that has no progress hook (``check``'s mpmath verification of the fixed points,
  ``recommend``'s searches); it appears only after ``delay`` seconds, so fast calls show
  nothing. :func:`with_status` wraps a function so that each call runs inside one.

Both are silent unless stderr is a terminal (:func:`enabled`) and ``--quiet`` was not
given, and both erase themselves when done: stdout, and so ``--json`` output, never holds
progress, and a log file or a pipe never holds bars.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from contextlib import contextmanager
from typing import IO, Any, Callable, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["Bar", "enabled", "status", "with_status"]


def enabled(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether to show progress: not ``quiet`` and ``stream`` (default stderr) is a terminal."""
    if quiet:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


class Bar:
    """A tqdm bar on stderr over ``total`` steps, used as a context manager.

    Call it as ``bar(k, n)`` (``k`` steps of ``n`` done: the progress callback of
    :func:`~eoctheory.nets.simulation.simulate`) or ``bar.advance()``. :meth:`write` prints
    a line above the bar, or plainly to the stream when there is no bar and not ``quiet``
    (a log of finished work for a pipe or a file).
    """

    def __init__(self, total: int, desc: str, *, quiet: bool = False, unit: str = "it",
                 stream: IO[str] | None = None) -> None:
        self.total, self.desc, self.unit, self.quiet = int(total), desc, unit, quiet
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self._bar: Any = None

    def __enter__(self) -> "Bar":
        if enabled(self.quiet, self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=self.desc, unit=self.unit,
                             file=self.stream, leave=False, dynamic_ncols=True,
                             mininterval=0.2)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __call__(self, k: int, n: int | None = None) -> None:
        """``k`` steps done (of ``n``, which may change the total)."""
        if self._bar is not None:
            if n is not None and n != self._bar.total:
                self._bar.total = n
            self._bar.update(k - self.done)
        self.done = k

    def advance(self, steps: int = 1) -> None:
        """``steps`` more steps done."""
        self(self.done + steps)

    def write(self, line: str) -> None:
        """``line`` above the bar; without a bar, to the stream unless ``quiet``."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        elif not self.quiet:
            self.stream.write(line + "\n")
            self.stream.flush()


#: The spinner's frames.
_FRAMES = "|/-\\"


@contextmanager
def status(desc: str, *, quiet: bool = False, delay: float = 0.5, interval: float = 0.2,
           stream: IO[str] | None = None) -> Iterator[None]:
    """``desc | 12 s`` on stderr, redrawn every ``interval`` s while the block runs.

    For one slow call without a progress hook. Nothing is shown before ``delay`` seconds,
    nor when :func:`enabled` is false; the line is erased when the block ends (normally or
    by an exception).
    """
    stream = sys.stderr if stream is None else stream
    if not enabled(quiet, stream):
        yield
        return
    stop = threading.Event()
    t0 = time.monotonic()
    shown = [0]

    def draw() -> None:
        if stop.wait(delay):
            return
        k = 0
        while True:
            text = f"{desc} {_FRAMES[k % len(_FRAMES)]} {time.monotonic() - t0:.0f} s"
            try:
                stream.write("\r" + text.ljust(shown[0]))
                stream.flush()
            except (OSError, ValueError):  # the terminal went away: stop drawing
                return
            shown[0] = max(shown[0], len(text))
            k += 1
            if stop.wait(interval):
                return

    thread = threading.Thread(target=draw, name="eoctheory-status", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if shown[0]:
            try:
                stream.write("\r" + " " * shown[0] + "\r")
                stream.flush()
            except (OSError, ValueError):
                pass


def with_status(desc: str, func: Callable[..., T], *, quiet: bool = False) -> Callable[..., T]:
    """``func`` whose every call runs inside :func:`status` (``desc``)."""
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> T:
        with status(desc, quiet=quiet):
            return func(*args, **kwargs)

    return call
