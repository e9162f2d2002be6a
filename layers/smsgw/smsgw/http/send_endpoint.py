"""The HTTP face of send and verify-code (kept apart from `api` so that read-only handlers never
import the send machinery at cold start)."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from smsgw.domain.statuses import Kind
from smsgw.http import idempotency
from smsgw.http.answers import caller, error_body, json_body, json_response
from smsgw.sending.request import SendRequest
from smsgw.sending.service import MessageResult, SendResult, send, send_code
from smsgw.verification.codes import code_for


def send_endpoint(app: APIGatewayRestResolver, kind: Kind) -> Response[str]:
    """POST /sms/send and /sms/verify-code: at most once per Idempotency-Key (the HTTP answer is
    what is kept and replayed)."""
    body = json_body(app)
    fields, code = code_for(body) if kind is Kind.VERIFY and isinstance(body, dict) else (body, None)
    request = SendRequest.parse(fields, single=kind is Kind.VERIFY)
    who = caller(app)

    def work(before_provider_call: Any) -> tuple[int, dict[str, Any]]:
        if code is not None:
            return send_answer(send_code(request, code, who, before_provider_call))
        return send_answer(send(request, kind, who, before_provider_call))

    # A caller's own code stays out of what is kept for 24 h (the idempotency record hashes the body).
    kept = {k: v for k, v in body.items() if k != "code"} if isinstance(body, dict) else body
    status, answer = idempotency.once(
        kind, key=who.idempotency_key, scope=who.api_key, body=kept, work=work, context=who.context
    )
    return json_response(status, answer)


def send_answer(result: SendResult) -> tuple[int, dict[str, Any]]:
    """200 when every recipient was submitted, else 202, with a line per recipient."""
    answer: dict[str, Any] = {}
    if result.provider:
        answer["provider"] = result.provider
    if result.request_id:
        answer["request_id"] = result.request_id
    if result.segments:
        answer["segments"] = result.segments.count
        answer["encoding"] = result.segments.encoding
    answer["messages"] = _lines(result)
    answer["summary"] = result.summary
    if result.failovers:
        answer["failover"] = [
            {"provider": f.provider, "recipients": f.recipients, "error": error_body(f.error)}
            for f in result.failovers
        ]
    if result.warnings:
        answer["warnings"] = result.warnings
    if result.kind is Kind.VERIFY:  # one recipient: its fields at the top level
        (message,) = answer.pop("messages")
        answer.update(message)
    if result.verification_id:
        answer["verification_id"] = result.verification_id
    return (200 if result.complete else 202), answer


def _lines(result: SendResult) -> list[dict[str, Any]]:
    """A line per recipient: those of each provider request, then the others."""
    lines: list[dict[str, Any]] = []
    for sent in result.sent:
        status, provider = sent.status.value, sent.provider
        lines += [
            {"message_id": message_id, "to": number, "status": status, "provider": provider}
            for number, message_id in zip(sent.numbers, sent.message_ids, strict=True)
        ]
    return lines + [_message(m) for m in result.messages]


def _message(message: MessageResult) -> dict[str, Any]:
    line: dict[str, Any] = {"to": message.to, "status": message.status.value}
    if message.error:
        line["error"] = error_body(message.error)
    return line
