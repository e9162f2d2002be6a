"""The local stack as a subprocess on free ports, once per module and process time zone."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from tests.e2e.client import RunningStack, start_stack, stop_stack


@pytest.fixture(scope="module", params=[None, "America/Los_Angeles"], ids=["TZ-unset", "TZ-Los_Angeles"])
def stack(request: pytest.FixtureRequest) -> Iterator[RunningStack]:
    """The stack in a subprocess whose local time zone is unset (UTC) or far from Beijing's."""
    extra = {"TZ": request.param} if request.param else {}
    with tempfile.TemporaryDirectory(prefix="local-stack-") as folder:
        log_path = Path(folder) / "stderr.log"
        process, info = start_stack(extra, log_path)
        http = urllib3.PoolManager(maxsize=8)
        try:
            yield RunningStack(info, process, log_path, http)
        finally:
            http.clear()
            stop_stack(process, log_path)
