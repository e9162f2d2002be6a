"""One pooled urllib3 client per container, and the mapping of transport failures to error kinds."""

import functools
import json
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, SSLError

from smsgw.platform.errors import NotAttempted, OutcomeUnknown, ProviderError, ProviderUnavailable

JSON_HEADERS = {"Content-Type": "application/json;charset=utf-8", "Accept": "application/json"}


# The monotonic time by which every provider request must have finished (the Lambda deadline less
# what recording and answering need), or None. A context variable, so that each invocation (and the
# threads it starts with a copy of its context) sees its own.
deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 3.05
    read: float = 10.0


@functools.cache
def pool(maxsize: int = 64) -> urllib3.PoolManager:
    """The container's connection pool, shared by every provider client and every concurrent chunk.

    urllib3's own retries are off: a retried POST after the request left could send an SMS twice.
    """
    return urllib3.PoolManager(num_pools=8, maxsize=maxsize, block=False, retries=False)


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    text: str

    def json(self, **kwargs: Any) -> Any:
        return json.loads(self.text, **kwargs)


def post_json(
    provider: str,
    url: str,
    payload: dict[str, Any],
    *,
    timeouts: Timeouts,
    idempotent: bool,
    http: urllib3.PoolManager | None = None,
) -> HttpReply:
    """POST a JSON body. Failures before the request left are `ProviderUnavailable`; after it, a
    non-idempotent call raises `OutcomeUnknown` (the provider may have acted on it). A request that
    could not finish before the current deadline is not started (`NotAttempted`)."""
    until = deadline.get()
    if until is not None and time.monotonic() + timeouts.connect + timeouts.read > until:
        raise NotAttempted(
            provider, "not attempted: no time left to finish it before the function's deadline"
        )
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        response = (http or pool()).request(
            "POST",
            url,
            body=body,
            headers=JSON_HEADERS,
            timeout=urllib3.Timeout(connect=timeouts.connect, read=timeouts.read),
        )
    except (ConnectTimeoutError, SSLError) as error:  # NewConnectionError and DNS failures included
        raise ProviderUnavailable(provider, f"could not connect: {type(error).__name__}") from error
    except HTTPError as error:  # read timeout, connection dropped mid-answer
        raise after_sending(provider, f"no answer: {type(error).__name__}", idempotent) from error
    return HttpReply(response.status, response.data.decode("utf-8", errors="replace"))


def after_sending(
    provider: str, message: str, idempotent: bool, *, status: int | None = None, raw: str = ""
) -> ProviderError:
    """The error for a request that left but got no usable answer."""
    kind = ProviderUnavailable if idempotent else OutcomeUnknown
    return kind(provider, message, code=str(status) if status else None, http_status=status, raw=raw[:500])
