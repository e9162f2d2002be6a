"""230sms: bulk send (≤1000 numbers, one taskid per request), verification codes, pushed receipts."""

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from aws_lambda_powertools import Logger

from ..errors import OutcomeUnknown, ProviderError, ProviderRejected
from ..numbers import Recipient
from ..signing import Clock, beijing_timestamp, sign, utc_now
from ..transport import Timeouts, after_sending, post_json
from .base import Accepted, ChunkFailure, SendOptions, SendOutcome, chunked, send_chunks

NAME = "230sms"
MAX_NUMBERS = 1000  # per request, documented
# Documented limit: 100 requests/s per account. Pacing exactly at it lets network jitter bunch 101
# arrivals into one second, so we pace with a 5% margin and keep the 105 back-off as the backstop.
DEFAULT_REQUESTS_PER_SECOND = 95.0
RATE_LIMITED = "105"
logger = Logger(child=True)

# Global error table: text, and whether another provider may succeed (the refusal is about the account).
CODES: dict[str, tuple[str, bool]] = {
    "101": ("account of illegal", True),
    "102": ("signature failed", True),
    "103": ("request time expired or invalid format, please check timestamp parameters", True),
    "104": ("number is wrong", False),
    "105": ("the interface invocation frequency is too frequent", True),
    "106": ("the account type is not verification code", True),
    "108": ("the request parameters are invalid", False),
    "111": ("the number format is incorrect or the maximum number exceeds 1000", False),
    "201": ("no channel is configured, please contact customer service", True),
    "202": ("balance is insufficient, please contact customer service", True),
    "203": ("account has been deactivated, please contact customer service", True),
    "204": ("ip address authentication fails, please contact customer service", True),
    "205": ("no secret key found, please contact customer service", True),
    "206": ("the interface permission is not granted to the account", True),
    "999": ("system error", True),
}


@dataclass(frozen=True, slots=True)
class Credentials:
    apikey: str
    apisecret: str


class RequestPacer:
    """Spaces requests evenly to stay within the account's requests-per-second limit.

    One pacer per account per container; across containers the provider's 105 answer is the backstop.
    """

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


_pacers: dict[tuple[str, float], RequestPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(apikey: str, per_second: float) -> RequestPacer:
    with _pacers_lock:
        return _pacers.setdefault((apikey, per_second), RequestPacer(per_second))


@dataclass(frozen=True, slots=True)
class Receipt:
    """One delivery receipt as 230sms pushes it: one number per POST."""

    apikey: str
    taskid: str
    mobile: str
    status: str
    times: str

    @property
    def delivered(self) -> bool:
        return self.status == "DELIVRD"


def parse_receipt(body: str | bytes) -> Receipt:
    """Parse a pushed receipt; `taskid` stays an exact string even if sent as a JSON number.

    The document's own example ends in a trailing comma (`"times":"…",}`), which strict JSON
    refuses; a receipt is worth more than the nicety, so that one slip is forgiven.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        data = loads_exact(text)
    except ValueError:
        data = loads_exact(_TRAILING_COMMA.sub(r"\1", text))
    if not isinstance(data, dict):
        raise ValueError("receipt is not a JSON object")
    fields = {name: data.get(name) for name in ("apikey", "taskid", "mobile", "status", "times")}
    missing = [name for name in ("apikey", "taskid", "mobile", "status") if not fields[name]]
    if missing:
        raise ValueError(f"receipt lacks {', '.join(missing)}")
    return Receipt(**{name: str(value or "").strip() for name, value in fields.items()})


_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def loads_exact(body: str | bytes) -> Any:
    """json.loads that keeps every integer as its exact digits (an 18-digit taskid is beyond float)."""
    return json.loads(body, parse_int=str)


class Sms230Client:
    name = NAME
    supports_balance = False  # 230sms documents no balance API

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        chunk_size: int = MAX_NUMBERS,
        concurrency: int = 8,
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        backoff: Sequence[float] = (0.25, 0.5, 1.0),
        timeouts: Timeouts = Timeouts(),
        clock: Clock = utc_now,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.chunk_size = max(1, min(chunk_size, MAX_NUMBERS))
        self.concurrency = concurrency
        self.pacer = pacer_for(credentials.apikey, requests_per_second)
        self.backoff = tuple(backoff)
        self.timeouts = timeouts
        self.clock = clock
        self.http = http

    def balance(self) -> float:
        raise NotImplementedError("230sms has no balance API")

    def send(
        self, recipients: Sequence[Recipient], content: str, options: SendOptions = SendOptions()
    ) -> SendOutcome:
        def send_chunk(chunk: Sequence[Recipient]) -> SendOutcome:
            outcome = SendOutcome(NAME)
            try:
                taskid = self._submit(
                    "/outauth/send", ",".join(r.sms230 for r in chunk), content, options, outcome
                )
            except ProviderError as error:
                outcome.failures.append(ChunkFailure(list(chunk), error))
            else:
                outcome.accepted.extend(Accepted(r, taskid) for r in chunk)
            return outcome

        return send_chunks(NAME, chunked(recipients, self.chunk_size), send_chunk, self.concurrency)

    def send_verify(
        self, recipient: Recipient, content: str, options: SendOptions = SendOptions()
    ) -> Accepted:
        taskid = self._submit("/outauth/verifCodeSend", recipient.sms230, content, options, SendOutcome(NAME))
        return Accepted(recipient, taskid)

    def _submit(
        self, path: str, mobile: str, content: str, options: SendOptions, outcome: SendOutcome
    ) -> str:
        """One request, paced; a 105 (rate limited: certainly not sent) is retried after a back-off."""
        for delay in (*self.backoff, None):
            self.pacer.wait()
            outcome.requests += 1
            try:
                return self._post(path, mobile, content, options)
            except ProviderRejected as error:
                if error.code != RATE_LIMITED or delay is None:
                    raise
                logger.warning("230sms rate limit (105); backing off", extra={"delay_s": delay})
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _post(self, path: str, mobile: str, content: str, options: SendOptions) -> str:
        timestamp = beijing_timestamp(self.clock)
        payload: dict[str, Any] = {
            "apikey": self.credentials.apikey,
            "timestamp": timestamp,
            "sign": sign(self.credentials.apikey, timestamp, self.credentials.apisecret),
            "mobile": mobile,
            "content": content,
        }
        extras = {
            "senderid": options.sender_id,
            "templateid": options.template_id,
            "signname": options.sign_name,
        }
        payload.update({key: value for key, value in extras.items() if value})
        answer = post_json(
            NAME, self.base_url + path, payload, timeouts=self.timeouts, idempotent=False, http=self.http
        )
        try:
            data = loads_exact(answer.text)
        except ValueError:
            raise after_sending(
                NAME, "unreadable answer", False, status=answer.status, raw=answer.text
            ) from None
        if not isinstance(data, dict) or "status" not in data:
            raise after_sending(NAME, "answer without a status", False, status=answer.status, raw=answer.text)
        status = str(data["status"]).strip()
        if status != "000":
            code = str(data.get("code") or status).strip()
            text, failover_ok = CODES.get(code, (f"error {code}", False))
            message = str(data.get("msg") or text)
            raise ProviderRejected(NAME, message, code, answer.status, answer.text[:500], failover_ok)
        result = data.get("data") or data.get("Data")
        taskid = result.get("taskid") if isinstance(result, dict) else None
        if not taskid:
            raise OutcomeUnknown(NAME, "accepted without a taskid", code="000", raw=answer.text[:500])
        return str(taskid)
