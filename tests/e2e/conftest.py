"""The local stack as a subprocess on free ports, once per module and process time zone."""

from collections.abc import Iterator

import pytest

from tests.e2e.client import RunningStack, running_stack


@pytest.fixture(scope="module", params=[None, "America/Los_Angeles"], ids=["TZ-unset", "TZ-Los_Angeles"])
def stack(request: pytest.FixtureRequest) -> Iterator[RunningStack]:
    """The stack in a subprocess whose local time zone is unset (UTC) or far from Beijing's."""
    extra = {"TZ": request.param} if request.param else {}
    with running_stack(extra) as running:
        yield running
