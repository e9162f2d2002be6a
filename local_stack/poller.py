"""EventBridge's rate schedule for the status poller, as a thread of the local stack."""

import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import events, lambdas
from .log import log

POLLER = "PollStatusFunction"


def poll_once(function: lambdas.Function) -> Any:
    """One scheduled invocation of the poller. Errors are logged, not raised: the next tick retries."""
    event = events.sample("poll_status")
    event.update(id=str(uuid.uuid4()), time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    try:
        return function.invoke(event)
    except Exception:
        log(f"{POLLER} failed:\n{traceback.format_exc().rstrip()}")
        return None


STOP_GRACE_SECONDS = 5.0


class Every:
    """`action()` every `interval` seconds (the first an interval after start()) until stop()."""

    def __init__(self, interval: float, action: Callable[[], Any], name: str) -> None:
        self.interval = interval
        self.action = action
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Waits for a tick under way, up to `grace`: past it the tick is abandoned (a daemon thread,
        ended with the process), as Lambda ends an environment being shut down."""
        self._stopping.set()
        self._thread.join(grace)
        if self._thread.is_alive():
            log(f"{self._thread.name}: a tick still running after {grace:g} s is abandoned")

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.action()


def schedule(function: lambdas.Function, interval: float) -> Every:
    """EventBridge's rate schedule of the poller."""
    return Every(interval, lambda: poll_once(function), "local-poller")
