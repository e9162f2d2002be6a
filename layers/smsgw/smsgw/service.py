"""The gateway's use cases. Handlers parse HTTP; everything else happens here."""

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities import parameters

from . import store as st
from .config import PROVIDERS, settings
from .content import count_segments, validate_content
from .errors import (
    FieldError,
    GatewayError,
    OutcomeUnknown,
    ProviderError,
    ProviderRejected,
    ValidationError,
)
from .numbers import parse_number, parse_recipients
from .observability import count, logger
from .providers import Accepted, ChunkFailure, SendOptions, SendOutcome
from .providers.registry import cmessages_client, provider, sms230_credentials
from .providers.sms230 import parse_receipt


class NotFound(GatewayError):
    pass


class CallbackRefused(GatewayError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class SendRequest:
    recipients: list[Any]
    content: str
    provider: str
    options: SendOptions

    @classmethod
    def parse(cls, body: Any, *, single: bool) -> "SendRequest":
        """Every field checked, every problem reported at once; nothing reaches a provider before."""
        if not isinstance(body, dict):
            raise ValidationError.single("body", "must be a JSON object")
        allowed = {"to", "content", "provider", "sender_id", "template_id", "sign_name"}
        errors = [FieldError(name, "unknown field") for name in body if name not in allowed]
        name = body.get("provider", settings().default_provider)
        if name not in PROVIDERS:
            errors.append(FieldError("provider", f"must be one of {', '.join(PROVIDERS)}"))
        extras = {key: body.get(key) for key in ("sender_id", "template_id", "sign_name")}
        for key, value in extras.items():
            if value is not None and (not isinstance(value, str) or not value.strip()):
                errors.append(FieldError(key, "must be a non-empty string"))
            elif value is not None and name == "cmessages":
                errors.append(FieldError(key, "is a 230sms option; cmessages has none"))
        recipients: list[Any] = []
        try:
            if single:
                recipients = [parse_number(body.get("to"))]
            else:
                recipients = parse_recipients(body.get("to"), max_count=settings().max_recipients)
        except ValidationError as error:
            errors.extend(error.errors)
        content = ""
        try:
            content = validate_content(body.get("content"))
        except ValidationError as error:
            errors.extend(error.errors)
        if name == "cmessages":
            foreign = [r for r in recipients if r.country_code != 86]
            if foreign:
                errors.append(FieldError("to", "cmessages sends to mainland China numbers only"))
        if errors:
            raise ValidationError(errors)
        options = SendOptions(extras["sender_id"], extras["template_id"], extras["sign_name"])
        return cls(recipients, content, name, options)


# -- send -----------------------------------------------------------------------------------------


def send_messages(body: Any, request_id: str) -> tuple[int, dict[str, Any]]:
    request = SendRequest.parse(body, single=False)
    outcome = provider(request.provider).send(request.recipients, request.content, request.options)
    return _answer_send(request, outcome, request_id, kind="bulk")


def send_verification(body: Any, request_id: str) -> tuple[int, dict[str, Any]]:
    request = SendRequest.parse(body, single=True)
    (recipient,) = request.recipients
    outcome = SendOutcome(request.provider, requests=1)
    try:
        outcome.accepted.append(
            provider(request.provider).send_verify(recipient, request.content, request.options)
        )
    except OutcomeUnknown as error:
        outcome.failures.append(ChunkFailure([recipient], error))
    except ProviderError as error:
        count("MessagesFailed", 1, request.provider)
        raise error from None
    status, answer = _answer_send(request, outcome, request_id, kind="verify")
    (message,) = answer.pop("messages")
    return status, {**answer, **message}


def _answer_send(
    request: SendRequest, outcome: SendOutcome, request_id: str, kind: str
) -> tuple[int, dict[str, Any]]:
    """Record what the provider took (and what it may have taken), answer for every recipient."""
    segments = count_segments(request.content)
    submissions = [
        _submission(a, request.provider, request_id, kind, segments.count) for a in outcome.accepted
    ]
    refused: list[tuple[Any, ProviderError]] = []
    for failure in outcome.failures:
        if isinstance(failure.error, OutcomeUnknown):
            submissions += [
                st.Submission(
                    st.unknown_message_id(request.provider),
                    request.provider,
                    r.e164,
                    "unknown",
                    None,
                    request_id,
                    kind,
                    segments.count,
                )
                for r in failure.recipients
            ]
        else:
            refused += [(r, failure.error) for r in failure.recipients]
    if not submissions:  # nothing sent: the provider's refusal is the answer
        count("MessagesFailed", len(refused), request.provider)
        raise outcome.failures[0].error
    warnings = _record(submissions)
    unknown = sum(1 for s in submissions if s.status == "unknown")
    count("MessagesSubmitted", len(submissions) - unknown, request.provider)
    count("MessagesUnknown", unknown, request.provider)
    count("MessagesFailed", len(refused), request.provider)
    messages = [{"message_id": s.message_id, "to": s.to, "status": s.status} for s in submissions]
    messages += [{"to": r.e164, "status": "rejected", "error": error_body(e)["error"]} for r, e in refused]
    answer: dict[str, Any] = {
        "provider": request.provider,
        "request_id": request_id,
        "segments": segments.count,
        "encoding": segments.encoding,
        "messages": messages,
        "summary": {"submitted": len(submissions) - unknown, "unknown": unknown, "rejected": len(refused)},
    }
    if warnings:
        answer["warnings"] = warnings
    logger.info(
        "send finished",
        extra={
            "provider": request.provider,
            "kind": kind,
            "provider_requests": outcome.requests,
            **answer["summary"],
        },
    )
    return (200 if not unknown and not refused else 202), answer


def _submission(
    accepted: Accepted, provider_name: str, request_id: str, kind: str, segments: int
) -> st.Submission:
    if provider_name == "cmessages":
        message_id = st.cmessages_message_id(accepted.provider_id)
    else:
        message_id = st.sms230_message_id(accepted.provider_id, accepted.recipient.e164)
    return st.Submission(
        message_id,
        provider_name,
        accepted.recipient.e164,
        "submitted",
        accepted.provider_id,
        request_id,
        kind,
        segments,
    )


def _record(submissions: list[st.Submission]) -> list[str]:
    """The provider has already sent: failing the request now would invite a retry and a double send.
    So a storage failure is logged, counted and reported in the answer, not raised."""
    try:
        st.message_store().record(submissions)
    except Exception:
        logger.exception("recording sent messages failed", extra={"messages": len(submissions)})
        count("RecordFailed", len(submissions))
        return ["the messages were sent but their status could not be recorded; status lookups may 404"]
    return []


# -- errors as HTTP ------------------------------------------------------------------------------


def error_body(error: Exception) -> dict[str, Any]:
    if isinstance(error, ValidationError):
        return {
            "error": {
                "code": "validation_error",
                "message": "the request is invalid",
                "fields": [{"field": e.field, "message": e.message} for e in error.errors],
            }
        }
    if isinstance(error, ProviderError):
        kind = {ProviderRejected: "provider_rejected", OutcomeUnknown: "provider_outcome_unknown"}.get(
            type(error), "provider_unavailable"
        )
        body: dict[str, Any] = {"code": kind, "message": error.describe(), "provider": error.provider}
        if error.code:
            body["provider_code"] = error.code
        return {"error": body}
    return {"error": {"code": "internal_error", "message": "internal error"}}


def error_status(error: ProviderError) -> int:
    if isinstance(error, ProviderRejected):
        return 502 if error.failover_ok else 422  # the provider's or our account's fault vs. the request's
    return 503 if not isinstance(error, OutcomeUnknown) else 504


# -- balance, status -----------------------------------------------------------------------------


def balances() -> dict[str, Any]:
    result = []
    for name in PROVIDERS:
        client = provider(name)
        if not client.supports_balance:
            result.append({"provider": name, "supported": False, "reason": f"{name} has no balance API"})
            continue
        try:
            result.append({"provider": name, "supported": True, "balance": client.balance()})
        except ProviderError as error:
            result.append({"provider": name, "supported": True, **error_body(error)})
    return {"balances": result}


def message_status(message_id: str) -> dict[str, Any]:
    message = st.message_store().get(message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message


# -- 230sms receipts ---------------------------------------------------------------------------------


def accept_receipt(token: str, body: str | bytes) -> bool:
    """Store one receipt. True if it changed the message, False if already known; raises
    CallbackRefused otherwise. Answering OK is left to the caller, after the write."""
    expected = str(parameters.get_secret(settings().callback_token_secret_id, transform="json")["token"])
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise CallbackRefused(403, "unknown callback token")
    try:
        receipt = parse_receipt(body)
    except ValueError as error:
        raise CallbackRefused(400, f"not a 230sms receipt: {error}") from None
    if not hmac.compare_digest(receipt.apikey.encode(), sms230_credentials().apikey.encode()):
        raise CallbackRefused(403, "receipt for another account")
    try:
        e164 = parse_number("+" + receipt.mobile.lstrip("+")).e164
    except ValidationError:
        e164 = "+" + receipt.mobile.lstrip("+")  # kept, under an id no send produced, for reconciliation
    status = "delivered" if receipt.delivered else "failed"
    changed = st.message_store().apply_receipt(
        st.sms230_message_id(receipt.taskid, e164), status, receipt.status, receipt.times
    )
    count("ReceiptsStored" if changed else "ReceiptsRepeated", 1, "230sms")
    return changed


# -- the poller ----------------------------------------------------------------------------------------


def poll(now: datetime | None = None) -> dict[str, int]:
    """Apply cmessages statuses to pending messages; settle messages past the receipt window."""
    now = now or datetime.now(UTC)
    store = st.message_store()
    cutoff = st.now_iso(now - timedelta(hours=settings().receipt_window_hours))
    report = {"pending": 0, "queried": 0, "settled": 0, "advanced": 0, "expired": 0}
    live: dict[str, dict[str, Any]] = {}
    for item in store.pending("cmessages"):
        report["pending"] += 1
        if item["submitted_at"] < cutoff:
            store.expire(item, now)
            report["expired"] += 1
        elif item.get("provider_id"):
            live[str(item["provider_id"])] = item
    if live:
        statuses = cmessages_client().query(list(live))
        report["queried"] = len(live)
        for status in statuses:
            polled = live.get(status.id)
            if polled is None or status.status == polled.get("status"):
                continue
            if store.apply_poll(polled["pk"], status.status, status.provider_status, now):
                report["settled" if status.status in st.FINAL else "advanced"] += 1
    for item in store.pending(
        "230sms", submitted_before=now - timedelta(hours=settings().receipt_window_hours)
    ):
        store.expire(item, now)
        report["expired"] += 1
    count("StatusesSettled", report["settled"], "cmessages")
    count("MessagesExpired", report["expired"])
    logger.info("poll finished", extra=report)
    return report
