"""Requests-per-second pacing of one provider account: spaced evenly within a container, and, where
a shared limit is plugged in (`use_shared_limit`), held to the account's rate across all containers."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Protocol

from smsgw.platform.snapstart import after_restore

# Per pacer, the requests announced by `RequestPacer.coming` and not yet waiting (a one-item list,
# shared by the send's threads: they copy the context it is set in).
_coming: ContextVar[dict["RequestPacer", list[int]]] = ContextVar("coming", default={})  # noqa: B039 - never changed


class SharedLimit(Protocol):
    """A limit every container of the account counts against (the gateway's is in DynamoDB)."""

    def acquire(self, announced: list[int] | None = None) -> None:
        """Return once one more request fits within the account's rate; wait otherwise. A request
        counted in `announced` (see `announce`) takes itself off it."""

    def announce(self, requests: int) -> None:
        """`requests` more (or fewer, when negative) are about to ask: ask for them too."""


class RequestPacer:
    """Keeps one account's requests within its requests-per-second limit: spaced evenly within the
    container, or, where a shared limit is plugged in, by that limit alone (it holds every container,
    this one included; spacing here as well would only leave its places unused)."""

    def __init__(self, per_second: float, shared: SharedLimit | None = None) -> None:
        self.interval = 1.0 / per_second
        self.shared = shared
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.shared is not None:
            self.shared.acquire(_coming.get().get(self))
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)

    @contextlib.contextmanager
    def coming(self, requests: int) -> Iterator[None]:
        """`requests` are about to wait here (a send's chunks, started together): the shared limit
        asks for all of their places at once, not only for those that happen to be waiting when it
        asks. Those that never came are taken off at the end."""
        if self.shared is None or requests <= 1:
            yield
            return
        left = [requests]
        token = _coming.set(_coming.get() | {self: left})
        self.shared.announce(requests)
        try:
            yield
        finally:
            _coming.reset(token)
            self.shared.announce(-left[0])


_pacers: dict[tuple[str, str, float], RequestPacer] = {}
_pacers_lock = threading.Lock()
_shared: Callable[[str, str, float], SharedLimit] | None = None


def use_shared_limit(factory: Callable[[str, str, float], SharedLimit] | None) -> None:
    """Hold every paced account to its rate across containers from now on (None: per container)."""
    global _shared  # noqa: PLW0603 - one choice per process
    with _pacers_lock:
        _shared = factory
        _pacers.clear()


# After a restore the pacers and their shared limits' clients are rebuilt (installed again with the
# next client: providers.registry).
after_restore(lambda: use_shared_limit(None))


def pacer_for(provider: str, account: str, per_second: float) -> RequestPacer:
    """One pacer per provider account, shared by every client of that account in this container."""
    with _pacers_lock:
        key = (provider, account, per_second)
        if key not in _pacers:
            shared = _shared(provider, account, per_second) if _shared else None
            _pacers[key] = RequestPacer(per_second, shared)
        return _pacers[key]
