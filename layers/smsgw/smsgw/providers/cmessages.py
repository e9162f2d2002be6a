"""cmessages (财信CM): balance, verification codes, bulk messages and status queries. No push: poll."""

import json
import math
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger

from smsgw.domain.numbers import CHINA, Recipient
from smsgw.domain.statuses import Status
from smsgw.platform.errors import OutcomeUnknown, ProviderError, ProviderRejected, ProviderUnavailable
from smsgw.platform.transport import HttpReply, after_sending
from smsgw.providers.base import (
    NO_OPTIONS,
    Accepted,
    ChunkFailure,
    Code,
    Provider,
    ProviderSettings,
    Receipts,
    SendOutcome,
    StatusUpdate,
    Verdict,
    chunked,
    not_processed,
    provider_error,
)
from smsgw.providers.signing import beijing_timestamp, sign

logger = Logger(child=True)

# Error Codes table.
CODES: dict[str, Code] = {
    "1001": Code("content too long", Verdict.REJECTED),
    "1002": Code("content is empty", Verdict.REJECTED),
    "1003": Code("content is sensitive", Verdict.REJECTED),
    "1006": Code("too many numbers", Verdict.REJECTED),
    "1007": Code("no numbers", Verdict.REJECTED),
    "1008": Code("invalid number", Verdict.REJECTED_NUMBER),
    "1009": Code("insufficient balance", Verdict.REFUSED_ACCOUNT),
    "1010": Code("account locked", Verdict.REFUSED_ACCOUNT),
    # A system error does not prove that nothing went out: like a 5xx, never retried or failed over.
    "1011": Code("system error", Verdict.OUTCOME_UNKNOWN),
}
# Status Code table, for answers that carry no code of the table above.
HTTP_STATUSES: dict[int, Code] = {
    400: Code("bad request", Verdict.REJECTED),
    401: Code("unauthorized: app id invalid or locked", Verdict.CREDENTIALS),
    403: Code("signature failed", Verdict.CREDENTIALS),
    422: Code("bad parameter", Verdict.REJECTED),
}
TOO_MANY_NUMBERS = "1006"
# Status of /sms/query: 0 success, 1 waiting, 2 sending, 3 failed.
MESSAGE_STATUSES = {0: Status.DELIVERED, 1: Status.SUBMITTED, 2: Status.SENDING, 3: Status.FAILED}

_CODE_KEYS = ("code", "error_code", "errcode", "err_code", "errorCode")
_MESSAGE_KEYS = ("message", "msg", "error_msg", "errmsg", "detail")
_CODE_IN_TEXT = re.compile(r"(?<!\d)(10(?:0[1-9]|1[01]))(?!\d)")


class CMessages(Provider):
    name = "cmessages"
    env_prefix = "CMESSAGES"
    default_base_url = "https://api.cmessages.com"
    id_prefix = "cm"
    # The per-request cap is undocumented: start from the configured size and halve it for good
    # when the provider answers 1006 (too many numbers).
    batch_cap = 100
    receipts = Receipts.POLLED
    has_balance = True
    codes = CODES

    def __init__(self, settings: ProviderSettings, secret: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(settings, secret, **kwargs)
        self._lock = threading.Lock()

    def credentials(self, secret: Mapping[str, str]) -> str:
        self.app_id, self.app_key = str(secret["app_id"]), str(secret["app_key"])
        return self.app_id

    def address(self, recipient: Recipient) -> str:
        """Mainland numbers as the document's examples write them (11 national digits); others with
        their country code (`+1…`), as the vendor's own SDKs send them."""
        if recipient.country_code == CHINA:
            return recipient.national
        return recipient.e164

    # -- endpoints -------------------------------------------------------------------------------

    def balance(self) -> float:
        data = self._call("/sms/get_balance", {}, idempotent=True)
        value = data.get("balance") if isinstance(data, dict) else None
        try:
            balance = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
        except (TypeError, ValueError):
            balance = math.nan
        if not math.isfinite(balance):  # a garbled balance fails this provider's line, not the endpoint
            raise ProviderUnavailable(
                self.name, "balance answer without a number", raw=json.dumps(data)[:500]
            )
        return balance

    def send_verify(
        self, recipient: Recipient, content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> Accepted:
        mobile = self.address(recipient)
        data = self._call("/sms/send_verify", {"mobile": mobile, "content": content}, idempotent=False)
        if not isinstance(data, dict) or not data.get("id"):
            raise OutcomeUnknown(self.name, "send_verify answer without an id", raw=json.dumps(data)[:500])
        return Accepted(recipient, str(data["id"]))

    def send_chunk(
        self, chunk: Sequence[Recipient], content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> SendOutcome:
        outcome = SendOutcome(self.name, requests=1)
        try:
            data = self._call(
                "/sms/send_message",
                {"mobile": [self.address(r) for r in chunk], "content": content},
                idempotent=False,
            )
        except ProviderRejected as error:
            if error.code == TOO_MANY_NUMBERS and len(chunk) > 1:
                return self._halve_and_resend(chunk, content, options)
            outcome.failures.append(ChunkFailure(list(chunk), error))
            return outcome
        except ProviderError as error:
            outcome.failures.append(ChunkFailure(list(chunk), error))
            return outcome
        return self._match_ids(chunk, data, outcome)

    def query(self, provider_ids: Sequence[str]) -> list[StatusUpdate]:
        updates: list[StatusUpdate] = []
        for batch in chunked(list(provider_ids), self.settings.query_batch):
            data = self._call("/sms/query", {"id_list": list(batch)}, idempotent=True)
            if not isinstance(data, list):
                raise after_sending(self.name, "query answer is not a list", True, raw=json.dumps(data))
            for row in data:
                code = _status_code(row.get("message_status")) if isinstance(row, dict) else None
                if code is not None and "id" in row:
                    updates.append(StatusUpdate(str(row["id"]), MESSAGE_STATUSES[code], str(code)))
        return updates

    # -- internals -------------------------------------------------------------------------------

    def _halve_and_resend(
        self, chunk: Sequence[Recipient], content: str, options: Mapping[str, str]
    ) -> SendOutcome:
        half = (len(chunk) + 1) // 2
        with self._lock:
            self.batch_size = min(self.batch_size, half)
        logger.warning("cmessages refused a chunk as too many numbers (1006); halving", extra={"size": half})
        outcome = SendOutcome(self.name, requests=1)
        for part in chunked(chunk, half):
            outcome.merge(self.send_chunk(part, content, options))
        return outcome

    def _match_ids(self, chunk: Sequence[Recipient], data: Any, outcome: SendOutcome) -> SendOutcome:
        """One id per mobile. A recipient the answer does not account for may or may not have been sent."""
        ids: dict[str, str] = {}
        if isinstance(data, list):
            ids = {
                str(r["mobile"]): str(r["id"])
                for r in data
                if isinstance(r, dict) and r.get("id") and r.get("mobile")
            }
        missing = [r for r in chunk if self.address(r) not in ids]
        outcome.singly.extend(Accepted(r, ids[self.address(r)]) for r in chunk if self.address(r) in ids)
        if missing:
            error = OutcomeUnknown(
                self.name, "answer carries no id for these numbers", raw=json.dumps(data)[:500]
            )
            outcome.failures.append(ChunkFailure(missing, error))
        return outcome

    def _call(self, path: str, params: dict[str, Any], *, idempotent: bool) -> Any:
        return self.with_current_credentials(lambda: self._call_once(path, params, idempotent=idempotent))

    def _call_once(self, path: str, params: dict[str, Any], *, idempotent: bool) -> Any:
        timestamp = beijing_timestamp(self.clock)
        payload = {
            "app_id": self.app_id,
            # The document prints datetime as a JSON number; its own examples are the contract.
            "datetime": int(timestamp),
            "sign": sign(self.app_id, timestamp, self.app_key),
            **params,
        }
        reply = self.post(path, payload, idempotent=idempotent)
        if reply.status == 200:
            try:
                return reply.json()
            except ValueError:
                raise after_sending(
                    self.name, "unreadable answer", idempotent, status=200, raw=reply.text
                ) from None
        raise self._error(reply, idempotent)

    def _error(self, reply: HttpReply, idempotent: bool) -> ProviderError:
        """Map an error answer. Its body's shape is undocumented: find the code wherever it is."""
        code, message = _find_code(reply.text)
        known = self.classify(code, message=message, status=reply.status, raw=reply.text)
        if known:
            return known
        if reply.status in HTTP_STATUSES:
            row = HTTP_STATUSES[reply.status]
            return provider_error(
                self.name,
                row,
                code=code or str(reply.status),
                message=message,
                status=reply.status,
                raw=reply.text,
            )
        # 500 and anything undocumented: the server may have failed after acting.
        return not_processed(self.name, reply.status, reply.text) or after_sending(
            self.name, message or f"HTTP {reply.status}", idempotent, status=reply.status, raw=reply.text
        )


PROVIDER = CMessages


def _status_code(value: Any) -> int | None:
    """message_status as the document prints it (a number), or as digits in a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value in MESSAGE_STATUSES else None


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
