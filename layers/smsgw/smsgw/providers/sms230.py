"""230sms: bulk send (≤1000 numbers, one taskid per request), verification codes, pushed receipts."""

import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smsgw.domain.numbers import Recipient, parse_number
from smsgw.domain.statuses import Status
from smsgw.platform.errors import OutcomeUnknown, ProviderRejected, ValidationError
from smsgw.platform.transport import after_sending
from smsgw.providers.base import (
    NO_OPTIONS,
    Accepted,
    Code,
    Option,
    Provider,
    ReceiptRefused,
    Receipts,
    SendOutcome,
    StatusUpdate,
    TaskAnswer,
    Verdict,
    not_processed,
)
from smsgw.providers.signing import BEIJING, beijing_timestamp, sign

# Global error table, classified.
CODES: dict[str, Code] = {
    "101": Code("account of illegal", Verdict.CREDENTIALS),
    "102": Code("signature failed", Verdict.CREDENTIALS),
    "103": Code(
        "request time expired or invalid format, please check timestamp parameters", Verdict.REFUSED_ACCOUNT
    ),
    "104": Code("number is wrong", Verdict.REJECTED_NUMBER),
    "105": Code("the interface invocation frequency is too frequent", Verdict.BACK_OFF),
    "106": Code("the account type is not verification code", Verdict.REFUSED_ACCOUNT),
    "108": Code("the request parameters are invalid", Verdict.REJECTED),
    # Our requests never exceed 1000 numbers, so a 111 is about a number's format.
    "111": Code("the number format is incorrect or the maximum number exceeds 1000", Verdict.REJECTED_NUMBER),
    "201": Code("no channel is configured, please contact customer service", Verdict.REFUSED_ACCOUNT),
    "202": Code("balance is insufficient, please contact customer service", Verdict.REFUSED_ACCOUNT),
    "203": Code("account has been deactivated, please contact customer service", Verdict.REFUSED_ACCOUNT),
    "204": Code("ip address authentication fails, please contact customer service", Verdict.REFUSED_ACCOUNT),
    "205": Code("no secret key found, please contact customer service", Verdict.CREDENTIALS),
    "206": Code("the interface permission is not granted to the account", Verdict.REFUSED_ACCOUNT),
    # A system error does not prove that nothing went out: like a 5xx, never retried or failed over.
    "999": Code("system error", Verdict.OUTCOME_UNKNOWN),
}


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
    """Parse a pushed receipt, strictly: the document's fields, types and sizes (a receipt that can
    never be stored is refused, never kept). `taskid` stays an exact string even if sent as a number.

    The document's own example ends in a trailing comma (`"times":"…",}`), which strict JSON
    refuses; a receipt is worth more than the nicety, so that one slip is forgiven.
    """
    if len(body) > MAX_RECEIPT_BYTES:
        raise ValueError("too large for a receipt")
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        try:
            data = loads_exact(text)
        except ValueError:
            data = loads_exact(_TRAILING_COMMA.sub(r"\1", text))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("receipt is not a JSON object")
    fields = {}
    for name, shape in _RECEIPT_FIELDS.items():
        value = data.get(name)
        if value is None and name == "times":
            value = ""
        if not isinstance(value, str) or not shape.fullmatch(value.strip()):
            raise ValueError(f"{name} is missing or malformed")
        fields[name] = value.strip()
    return Receipt(**fields)


MAX_RECEIPT_BYTES = 4096
# Types and sizes per the document (taskid: digits, kept exact; mobile: digits, maybe masked or +).
_RECEIPT_FIELDS = {
    "apikey": re.compile(r"[\x21-\x7e]{1,128}"),
    "taskid": re.compile(r"[0-9]{1,32}"),
    "mobile": re.compile(r"\+?[0-9*]{4,20}"),
    # DELIVRD (documented), the SMPP final states and MBBLACK, or a carrier code such as MK:0001.
    "status": re.compile(
        r"DELIVRD|UNDELIV|EXPIRED|REJECTD|DELETED|UNKNOWN|ACCEPTD|MBBLACK|[A-Z]{2}:[0-9]{4}"
    ),
    "times": re.compile(r"[0-9 :\-]{0,32}"),
}


_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def loads_exact(body: str | bytes) -> Any:
    """json.loads that keeps every integer as its exact digits (an 18-digit taskid is beyond float)."""
    return json.loads(body, parse_int=str)


class Sms230(Provider):
    name = "230sms"
    env_prefix = "SMS230"
    default_base_url = "https://api.230sms.com"
    id_prefix = "230"
    id_per_request = True  # one taskid per request
    batch_cap = 1000  # numbers per request, documented
    # Documented limit: 100 requests/s per account. Pacing exactly at it lets network jitter bunch
    # 101 arrivals into one second, so we pace with a 5% margin and keep the 105 back-off as backstop.
    default_requests_per_second = 95.0
    # The largest API send (MAX_RECIPIENTS 10,000) is 10 requests: all in flight at once, one round
    # trip, which the account's rate allows (the shared pacing still spaces them by slot).
    default_concurrency = 10
    receipts = Receipts.PUSHED
    options = (
        Option("sender_id", "senderid", "230sms senderid: 2-10 letters or digits", "[A-Za-z0-9]{2,10}"),
        Option("template_id", "templateid", "230sms templateid"),
        Option("sign_name", "signname", "230sms signname"),
    )
    codes = CODES

    def credentials(self, secret: Mapping[str, str]) -> str:
        # A receipt reader has the apikey alone: receipts name the account, and are checked against it.
        self.apikey, self.apisecret = str(secret["apikey"]), str(secret.get("apisecret", ""))
        return self.apikey

    def address(self, recipient: Recipient) -> str:
        return f"{recipient.country_code}{recipient.national}"  # country code + number, no + or 00

    def send_chunk(
        self, chunk: Sequence[Recipient], content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> SendOutcome:
        mobiles = ",".join(self.address(r) for r in chunk)
        return self.one_id_for_all(chunk, lambda: self._post("/outauth/send", mobiles, content, options))

    def send_verify(
        self, recipient: Recipient, content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> Accepted:
        mobile = self.address(recipient)
        answer = self.paced(lambda: self._post("/outauth/verifCodeSend", mobile, content, options))
        return Accepted(recipient, answer.provider_id)

    def parse_receipt(self, body: str | bytes) -> StatusUpdate:
        try:
            receipt = parse_receipt(body)
        except ValueError as error:
            raise ReceiptRefused(400, f"not a 230sms receipt: {error}") from None
        if not hmac.compare_digest(receipt.apikey.encode(), self.apikey.encode()):
            raise ReceiptRefused(403, "receipt for another account")
        status = Status.DELIVERED if receipt.delivered else Status.FAILED
        number = _whole_number(receipt.mobile)
        hint = "" if number else receipt.mobile[:32]
        return StatusUpdate(
            receipt.taskid, status, receipt.status, number, receipt.times, hint, _utc(receipt.times)
        )

    def _post(self, path: str, mobile: str, content: str, options: Mapping[str, str]) -> TaskAnswer:
        timestamp = beijing_timestamp(self.clock)
        payload: dict[str, Any] = {
            "apikey": self.apikey,
            "timestamp": timestamp,
            "sign": sign(self.apikey, timestamp, self.apisecret),
            "mobile": mobile,
            "content": content,
        }
        payload.update({o.wire: options[o.field] for o in self.options if options.get(o.field)})
        reply = self.post(path, payload, idempotent=False)
        try:
            data = loads_exact(reply.text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or "status" not in data:
            raise not_processed(self.name, reply.status, reply.text) or after_sending(
                self.name, "unreadable answer", False, status=reply.status, raw=reply.text
            )
        status = str(data["status"]).strip()
        if status != "000":
            code = str(data.get("code") or status).strip()
            message = str(data.get("msg") or "") or None
            raise self.classify(
                code, message=message, status=reply.status, raw=reply.text
            ) or ProviderRejected(self.name, message or f"error {code}", code, reply.status, reply.text[:500])
        result = data.get("data") or data.get("Data")
        if not isinstance(result, dict) or not result.get("taskid"):
            raise OutcomeUnknown(self.name, "accepted without a taskid", code="000", raw=reply.text[:500])
        return TaskAnswer(
            str(result["taskid"]), _count(result.get("validnumber")), _count(result.get("jfts"))
        )


PROVIDER = Sms230


def _count(value: Any) -> int | None:
    """validnumber and jfts: documented as int; digits in a string are read too."""
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if text.isdigit() else None


def _whole_number(mobile: str) -> str | None:
    """E.164 of the receipt's number when it is whole: `86…` as sent, `+86…`, or an 11-digit
    mainland number without its country code. None when masked (`861234****`) or not a number."""
    digits = mobile.removeprefix("+")
    if "*" in digits or not digits.isdigit() or len(digits) > 15:
        return None
    if not mobile.startswith("+") and len(digits) == 11 and digits.startswith("1"):
        digits = "86" + digits
    try:
        return parse_number("+" + digits).e164
    except ValidationError:
        return None


def _utc(times: str) -> str | None:
    """`times` (`yyyy-MM-dd HH:mm`, Beijing time) as ISO-8601 UTC."""
    for layout in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            moment = datetime.strptime(times, layout).replace(tzinfo=BEIJING)
        except ValueError:
            continue
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None
