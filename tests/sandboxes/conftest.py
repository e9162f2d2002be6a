"""Fixtures shared by the sandbox tests: a settable clock and an HTTP client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import urllib3


class FakeClock:
    """A settable aware UTC clock, so status progression and time windows need no sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    # No retries: a test must see exactly what the sandbox answered.
    manager = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=5.0))
    yield manager
    manager.clear()


NginxCheck = Callable[[urllib3.BaseHTTPResponse, int], None]


@pytest.fixture
def nginx_page() -> NginxCheck:
    """Asserts that an answer is a front web server's own error page (nginx's), not the provider's."""

    def check(response: urllib3.BaseHTTPResponse, status: int) -> None:
        assert response.status == status
        assert response.headers["Content-Type"] == "text/html"
        page = response.data.decode("ascii")
        assert page.startswith("<html>\r\n<head><title>")
        assert f"<title>{status} " in page
        assert f"<center><h1>{status} " in page
        assert page.endswith("<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")

    return check
