"""Requests-per-second pacing of one provider account, shared by the clients of a container."""

import threading
import time


class RequestPacer:
    """Spaces requests evenly to stay within an account's requests-per-second limit (per container)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


_pacers: dict[tuple[str, str, float], RequestPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(provider: str, account: str, per_second: float) -> RequestPacer:
    """One pacer per provider account, shared by every client of that account in this container."""
    with _pacers_lock:
        return _pacers.setdefault((provider, account, per_second), RequestPacer(per_second))
