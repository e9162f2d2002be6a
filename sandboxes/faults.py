"""Faults a sandbox's next matching requests suffer (a delay, a timeout, a 500, a garbled answer,
an error code, a dropped connection, nginx's own error page, or requests held until `together`
arrive at once): injected by test code or over HTTP (`POST /_sandbox/faults`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .wire import HTML_ERROR_TITLES

FAULT_KINDS = frozenset(
    {"delay", "gather", "timeout", "status_500", "malformed", "error_code", "drop", "http_status"}
)


@dataclass
class Fault:
    kind: str
    path: str | None = None
    seconds: float | None = None
    code: int | None = None
    times: int | None = None  # remaining firings; None = until cleared
    # "gather": each request waits until `together` are waiting (or `seconds` pass), then all go on.
    together: int | None = None
    gathering: threading.Barrier | None = None

    @property
    def scattered(self) -> bool:
        """A "gather" gave up waiting: fewer than `together` requests ever waited at once."""
        return self.gathering is not None and self.gathering.broken


class FaultSwitch:
    """Faults the next matching requests should suffer; thread-safe."""

    def __init__(self, valid_codes: frozenset[int]) -> None:
        self._valid_codes = valid_codes
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def inject(
        self,
        kind: str,
        *,
        path: str | None = None,
        seconds: float | None = None,
        code: int | None = None,
        times: int | None = None,
        together: int | None = None,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind == "error_code" and code not in self._valid_codes:
            raise ValueError(f"error_code fault needs one of {sorted(self._valid_codes)}")
        if kind == "http_status" and code not in HTML_ERROR_TITLES:
            raise ValueError(f"http_status fault needs one of {sorted(HTML_ERROR_TITLES)}")
        if kind == "delay" and seconds is None:
            raise ValueError("delay fault needs seconds")
        if seconds is not None and seconds < 0:
            raise ValueError("seconds must be >= 0")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        if kind == "gather" and (seconds is None or not isinstance(together, int) or together < 2):
            raise ValueError("gather fault needs seconds and together >= 2")
        fault = Fault(kind, path, seconds, code, times, together)
        if together is not None:
            fault.gathering = threading.Barrier(together)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            for fault in self._faults:
                if fault.gathering is not None:
                    fault.gathering.abort()  # whoever still waits goes on
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [Fault(f.kind, f.path, f.seconds, f.code, f.times, f.together) for f in self._faults]

    def take(self, path: str) -> Fault | None:
        """The first fault matching `path`, counting one firing of it."""
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path == path:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None
