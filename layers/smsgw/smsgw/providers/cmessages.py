"""cmessages (财信CM): balance, verification codes, bulk messages and status queries. No push: poll."""

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from aws_lambda_powertools import Logger

from ..errors import OutcomeUnknown, ProviderError, ProviderRejected, ValidationError
from ..numbers import CHINA, Recipient
from ..signing import Clock, beijing_timestamp, sign, utc_now
from ..transport import Answer, Timeouts, after_sending, post_json
from .base import Accepted, ChunkFailure, SendOptions, SendOutcome, chunked, send_chunks

NAME = "cmessages"
logger = Logger(child=True)

# Error Codes table: text, and whether another provider may succeed (the refusal is about the account).
CODES: dict[str, tuple[str, bool]] = {
    "1001": ("content too long", False),
    "1002": ("content is empty", False),
    "1003": ("content is sensitive", False),
    "1006": ("too many numbers", False),
    "1007": ("no numbers", False),
    "1008": ("invalid number", False),
    "1009": ("insufficient balance", True),
    "1010": ("account locked", True),
    "1011": ("system error", True),
}
# Status Code table, for answers that carry no code of the table above.
HTTP_STATUSES: dict[int, tuple[str, bool]] = {
    400: ("bad request", False),
    401: ("unauthorized: app id invalid or locked", True),
    403: ("signature failed", True),
    422: ("bad parameter", False),
}
# Status of /sms/query: 0 success, 1 waiting, 2 sending, 3 failed.
MESSAGE_STATUSES = {0: "delivered", 1: "submitted", 2: "sending", 3: "failed"}

_CODE_KEYS = ("code", "error_code", "errcode", "err_code", "errorCode")
_MESSAGE_KEYS = ("message", "msg", "error_msg", "errmsg", "detail")
_CODE_IN_TEXT = re.compile(r"(?<!\d)(10(?:0[1-9]|1[01]))(?!\d)")


@dataclass(frozen=True, slots=True)
class Credentials:
    app_id: str
    app_key: str


@dataclass(frozen=True, slots=True)
class MessageStatus:
    id: str
    status: str  # gateway vocabulary
    provider_status: str  # cmessages' own number, as text


class CMessagesClient:
    name = NAME
    supports_balance = True

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        chunk_size: int = 100,
        query_batch: int = 100,
        concurrency: int = 8,
        timeouts: Timeouts = Timeouts(),
        clock: Clock = utc_now,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        # The per-request cap is undocumented: start from the configured size and halve it for good
        # when the provider answers 1006 (too many numbers).
        self.chunk_size = chunk_size
        self.query_batch = query_batch
        self.concurrency = concurrency
        self.timeouts = timeouts
        self.clock = clock
        self.http = http
        self._lock = threading.Lock()

    # -- endpoints -------------------------------------------------------------------------------

    def balance(self) -> float:
        data = self._call("/sms/get_balance", {}, idempotent=True)
        if not isinstance(data, dict) or not isinstance(data.get("balance"), int | float | str):
            raise after_sending(NAME, "balance answer without a balance", True, raw=json.dumps(data))
        return float(data["balance"])

    def send_verify(
        self, recipient: Recipient, content: str, options: SendOptions = SendOptions()
    ) -> Accepted:
        mobile = _mobile(recipient)
        data = self._call("/sms/send_verify", {"mobile": mobile, "content": content}, idempotent=False)
        if not isinstance(data, dict) or not data.get("id"):
            raise OutcomeUnknown(NAME, "send_verify answer without an id", raw=json.dumps(data)[:500])
        return Accepted(recipient, str(data["id"]))

    def send(
        self, recipients: Sequence[Recipient], content: str, options: SendOptions = SendOptions()
    ) -> SendOutcome:
        for recipient in recipients:
            _mobile(recipient)  # every number is checked before any request
        return send_chunks(
            NAME, chunked(recipients, self.chunk_size), self._send_chunk(content), self.concurrency
        )

    def query(self, ids: Sequence[str]) -> list[MessageStatus]:
        """Statuses of the given message ids, in batches of `query_batch`; unknown ids are left out."""
        statuses: list[MessageStatus] = []
        for batch in chunked(list(ids), self.query_batch):
            data = self._call("/sms/query", {"id_list": list(batch)}, idempotent=True)
            if not isinstance(data, list):
                raise after_sending(NAME, "query answer is not a list", True, raw=json.dumps(data))
            for row in data:
                code = _status_code(row.get("message_status")) if isinstance(row, dict) else None
                if code is not None and "id" in row:
                    statuses.append(MessageStatus(str(row["id"]), MESSAGE_STATUSES[code], str(code)))
        return statuses

    # -- internals -------------------------------------------------------------------------------

    def _send_chunk(self, content: str) -> Any:
        def send_chunk(chunk: Sequence[Recipient]) -> SendOutcome:
            outcome = SendOutcome(NAME, requests=1)
            try:
                data = self._call(
                    "/sms/send_message",
                    {"mobile": [r.cmessages for r in chunk], "content": content},
                    idempotent=False,
                )
            except ProviderRejected as error:
                if error.code == "1006" and len(chunk) > 1:
                    return self._halve_and_resend(chunk, send_chunk)
                outcome.failures.append(ChunkFailure(list(chunk), error))
                return outcome
            except ProviderError as error:
                outcome.failures.append(ChunkFailure(list(chunk), error))
                return outcome
            return _match_ids(chunk, data, outcome)

        return send_chunk

    def _halve_and_resend(self, chunk: Sequence[Recipient], send_chunk: Any) -> SendOutcome:
        half = (len(chunk) + 1) // 2
        with self._lock:
            self.chunk_size = min(self.chunk_size, half)
        logger.warning("cmessages refused a chunk as too many numbers (1006); halving", extra={"size": half})
        outcome = SendOutcome(NAME, requests=1)
        for part in chunked(chunk, half):
            outcome.merge(send_chunk(part))
        return outcome

    def _call(self, path: str, params: dict[str, Any], *, idempotent: bool) -> Any:
        timestamp = beijing_timestamp(self.clock)
        payload = {
            "app_id": self.credentials.app_id,
            # The document prints datetime as a JSON number; its own examples are the contract.
            "datetime": int(timestamp),
            "sign": sign(self.credentials.app_id, timestamp, self.credentials.app_key),
            **params,
        }
        answer = post_json(
            NAME, self.base_url + path, payload, timeouts=self.timeouts, idempotent=idempotent, http=self.http
        )
        if answer.status == 200:
            try:
                return answer.json()
            except ValueError:
                raise after_sending(
                    NAME, "unreadable answer", idempotent, status=200, raw=answer.text
                ) from None
        raise _error(answer, idempotent)


def _status_code(value: Any) -> int | None:
    """message_status as the document prints it (a number), or as digits in a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value in MESSAGE_STATUSES else None


def _mobile(recipient: Recipient) -> str:
    if recipient.country_code != CHINA:
        raise ValidationError.single("to", f"{NAME} sends to mainland China numbers only")
    return recipient.cmessages


def _match_ids(chunk: Sequence[Recipient], data: Any, outcome: SendOutcome) -> SendOutcome:
    """One id per mobile. A recipient the answer does not account for may or may not have been sent."""
    ids: dict[str, str] = {}
    if isinstance(data, list):
        ids = {
            str(r["mobile"]): str(r["id"])
            for r in data
            if isinstance(r, dict) and r.get("id") and r.get("mobile")
        }
    missing = [r for r in chunk if r.cmessages not in ids]
    outcome.accepted.extend(Accepted(r, ids[r.cmessages]) for r in chunk if r.cmessages in ids)
    if missing:
        error = OutcomeUnknown(NAME, "answer carries no id for these numbers", raw=json.dumps(data)[:500])
        outcome.failures.append(ChunkFailure(missing, error))
    return outcome


def _error(answer: Answer, idempotent: bool) -> ProviderError:
    """Map an error answer. Its body's shape is undocumented: find the code wherever it is."""
    code, message = _find_code(answer.text)
    if code in CODES:
        text, failover_ok = CODES[code]
        return ProviderRejected(NAME, message or text, code, answer.status, answer.text[:500], failover_ok)
    if answer.status in HTTP_STATUSES:
        text, failover_ok = HTTP_STATUSES[answer.status]
        return ProviderRejected(
            NAME, message or text, code or str(answer.status), answer.status, answer.text[:500], failover_ok
        )
    # 500 and anything undocumented: the server may have failed after acting.
    return after_sending(
        NAME, message or f"HTTP {answer.status}", idempotent, status=answer.status, raw=answer.text
    )


def _find_code(text: str) -> tuple[str | None, str | None]:
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict | list):
        return _search(body)
    match = _CODE_IN_TEXT.search(text)
    return (match.group(1) if match else None), (text.strip()[:200] or None)


def _search(node: Any) -> tuple[str | None, str | None]:
    code = message = None
    if isinstance(node, dict):
        for key in _CODE_KEYS:
            if isinstance(node.get(key), int | str) and str(node[key]).strip():
                code = str(node[key]).strip()
                break
        for key in _MESSAGE_KEYS:
            if isinstance(node.get(key), str):
                message = node[key]
                break
        children: list[Any] = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        return None, None
    for child in children:
        if code and message:
            break
        child_code, child_message = _search(child)
        code, message = code or child_code, message or child_message
    return code, message
