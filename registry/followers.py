"""Followers of the event sequence: derived work done outside requests.

Every committed write advances the event counter; whatever is derived from the database
(the search index today) remembers the last number it applied and catches up from there.
A `Follower` runs one such step in a background thread of the process that serves
requests: at start, whenever this process commits (`wake`), and every `interval` seconds
to see what other workers and hosts committed. A failing step is logged, retried with a
growing pause and reported (`status`, shown by /healthz); it never reaches a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


@dataclass
class FollowerStatus:
    name: str
    running: bool
    runs: int  # steps that succeeded
    failures: int  # consecutive failures of the latest steps
    last_error: str | None
    seconds_since_success: float | None


class Follower:
    """Calls `step(session)` with a fresh session from `session_factory`, repeatedly. The
    step returns False while it is not yet caught up (e.g. another process holds the
    writer lock and is still applying the events); anything else means caught up."""

    def __init__(
        self,
        name: str,
        session_factory: Callable[[], Session],
        step: Callable[[Session], Any],
        interval: float = 0.25,
        foreground_step: Callable[[Session], Any] | None = None,
        gates_start: bool = True,
    ) -> None:
        self.name = name
        # Whether a fresh worker waits for this follower before it takes requests (the
        # search index: yes; the open-data files, which downloads stream meanwhile: no).
        self.gates_start = gates_start
        self.session_factory = session_factory
        self.step = step
        # What a command (or a test) runs in its own thread when it needs the work done
        # now; by default the same step.
        self.foreground_step = foreground_step or step
        self.interval = interval
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self.caught_up = False
        self._last_success: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one step at a time in this process

    def run_once(
        self, foreground: bool = False, step: Callable[[Session], Any] | None = None
    ) -> bool:
        """One step now, in the calling thread (`foreground`: the command's step; `step`: a
        form of it of the caller's own). True if it succeeded."""
        step = step or (self.foreground_step if foreground else self.step)
        with self._lock:
            try:
                with self.session_factory() as session:
                    result = step(session)
            except Exception as exc:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("follower %s failed (%d in a row)", self.name, self.failures)
                return False
            self.runs += 1
            self.caught_up = result is not False
            self.failures = 0
            self.last_error = None
            self._last_success = time.monotonic()
            return True

    def start(self) -> None:
        """Start the background thread (once per process; a daemon, so it never holds the
        process up at exit)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"follower-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Run the next step now (this process just committed something)."""
        self._wake.set()

    def wait_until_caught_up(self, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) for a step that found nothing left to do; False
        if that did not happen (the step keeps failing, or is still behind)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.caught_up:
                return True
            time.sleep(0.02)
        return False

    def status(self) -> FollowerStatus:
        last = self._last_success
        return FollowerStatus(
            name=self.name,
            running=self._thread is not None and self._thread.is_alive(),
            runs=self.runs,
            failures=self.failures,
            last_error=self.last_error,
            seconds_since_success=None if last is None else time.monotonic() - last,
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            ok = self.run_once()
            pause = self.interval if ok else min(MAX_BACKOFF, self.interval * 2**self.failures)
            self._wake.wait(pause)
            self._wake.clear()
