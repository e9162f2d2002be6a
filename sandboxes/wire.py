"""What a sandbox says and keeps: its answers (JSON, text, nginx's own error pages), the requests
it was sent, and the providers' md5 signing and Beijing timestamps, written here independently of
the gateway package."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8))
# The "http_status" fault: what a front web server (nginx) answers itself, with its titles.
HTML_ERROR_TITLES = {
    401: "401 Authorization Required",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Not Allowed",
    413: "413 Request Entity Too Large",
    415: "415 Unsupported Media Type",
    429: "429 Too Many Requests",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
}
_TIMESTAMP_RE = re.compile(r"[0-9]{14}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()  # the providers' protocol


def parse_beijing_timestamp(text: str) -> datetime | None:
    """`yyyyMMddHHmmss` in Beijing time → aware datetime, or None when malformed."""
    # strptime alone accepts short fields ("2020411..."), so insist on exactly 14 ASCII digits.
    if not _TIMESTAMP_RE.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None


@dataclass
class RecordedRequest:
    path: str
    body: Any
    headers: dict[str, str]
    at: float
    # The answer, once given (None: still being answered, or hung up on).
    status: int | None = None
    answer: Any = None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")

    @classmethod
    def html_error(cls, status: int) -> Response:
        """nginx's own error page for `status` (one of HTML_ERROR_TITLES)."""
        title = HTML_ERROR_TITLES[status]
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        return cls(status, page.encode("ascii"), "text/html")
