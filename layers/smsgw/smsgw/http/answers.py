"""The HTTP face of the gateway: the one place that turns results and errors into status codes and
bodies, and the resolver every API handler shares."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from botocore.exceptions import BotoCoreError, ClientError

from smsgw.domain.caller import Caller
from smsgw.guards.tenants import tenants
from smsgw.http.idempotency import HEADER, validate_key
from smsgw.platform.errors import (
    GatewayError,
    NothingSent,
    Problem,
    ProviderError,
    RateLimited,
    StorageUnavailable,
    ValidationError,
)
from smsgw.platform.observability import logger
from smsgw.providers.balances import Balance

# Problem -> (HTTP status, the error `code` callers see). Every error answer comes from this table.
ANSWERS: dict[Problem, tuple[int, str]] = {
    Problem.INVALID: (422, "validation_error"),
    Problem.NOT_FOUND: (404, "not_found"),
    Problem.RATE_LIMITED: (429, "rate_limited"),
    Problem.KEY_REUSED: (422, "idempotency_key_reused"),
    Problem.IN_PROGRESS: (409, "request_in_progress"),
    Problem.REFUSED_REQUEST: (422, "provider_rejected"),  # the request's fault: fix it
    Problem.REFUSED_ACCOUNT: (502, "provider_rejected"),  # the provider's or our account's fault
    Problem.UNAVAILABLE: (503, "provider_unavailable"),
    Problem.OUTCOME_UNKNOWN: (504, "provider_outcome_unknown"),
    Problem.NOT_ATTEMPTED: (503, "deadline_reached"),  # nothing sent: a retry may send
    Problem.WRONG_STATE: (409, "wrong_state"),
    Problem.STORAGE_UNAVAILABLE: (503, "storage_unavailable"),
}
RETRY_AFTER = {
    Problem.UNAVAILABLE: 5,
    Problem.IN_PROGRESS: 2,
    Problem.NOT_ATTEMPTED: 1,
    Problem.STORAGE_UNAVAILABLE: 1,
}
# AWS's answers that say "not now" (after botocore's own retries): a retry later may succeed.
AWS_UNWELL = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionCanceledException",  # for contention, after smsgw.platform.transactions' retries
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
        "InternalError",
    }
)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, ensure_ascii=False),
        headers=headers or None,
    )


def error_body(error: GatewayError) -> dict[str, Any]:
    """The `error` object of an answer: a stable `code`, a message, details by kind."""
    _, code = ANSWERS[error.problem]
    if isinstance(error, ValidationError):
        return {
            "code": code,
            "message": "the request is invalid",
            "fields": [{"field": e.field, "message": e.message} for e in error.errors],
        }
    if isinstance(error, NothingSent):
        body = error_body(error.error)
        if error.failovers:
            body["failover"] = [
                {"provider": f.provider, "recipients": f.recipients, "error": error_body(f.error)}
                for f in error.failovers
            ]
        return body
    if isinstance(error, ProviderError):
        body = {"code": code, "message": error.describe(), "provider": error.provider}
        if error.code:
            body["provider_code"] = error.code
        return body
    if isinstance(error, RateLimited):
        return {"code": code, "message": str(error), "reason": error.reason}
    return {"code": code, "message": str(error)}


def error_response(error: GatewayError) -> Response[str]:
    status, _ = ANSWERS[error.problem]
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    elif error.problem in RETRY_AFTER:
        headers["Retry-After"] = str(RETRY_AFTER[error.problem])
    return json_response(status, {"error": error_body(error)}, headers)


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.exception_handler(GatewayError)
    def failed(error: GatewayError) -> Response[str]:
        if isinstance(error, ProviderError | NothingSent):
            cause = error.error if isinstance(error, NothingSent) else error
            logger.warning(
                "provider refused or failed",
                extra={
                    "provider": cause.provider,
                    "provider_code": cause.code,
                    "problem": str(error.problem),
                },
            )
        return error_response(error)

    @app.exception_handler(ClientError)
    def aws_answered(error: ClientError) -> Response[str]:
        code = error.response.get("Error", {}).get("Code", "")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code not in AWS_UNWELL and status < 500:
            raise error  # a bug of ours, not AWS being unwell: Lambda's error, API Gateway's 502
        logger.error("AWS unwell past its retries", extra={"aws_code": code}, exc_info=True)
        return error_response(StorageUnavailable("storage is unavailable for now: nothing more was done"))

    @app.exception_handler(BotoCoreError)
    def aws_unreachable(error: BotoCoreError) -> Response[str]:
        logger.error("AWS unreachable past its retries", exc_info=True)
        return error_response(StorageUnavailable("storage is unreachable for now: nothing more was done"))

    @app.not_found
    def no_route(_: Exception) -> Response[str]:
        return json_response(404, {"error": {"code": "not_found", "message": "no such route"}})

    return app


# -- requests -------------------------------------------------------------------------------------


def json_body(app: APIGatewayRestResolver) -> Any:
    """The request's JSON body, or a 422 naming the body when it is not JSON."""
    raw = app.current_event.decoded_body
    if not raw:
        raise ValidationError.single("body", "a JSON body is required")
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValidationError.single("body", "is nested too deeply") from None
    except ValueError:
        raise ValidationError.single("body", "is not valid JSON") from None


def _api_key(app: APIGatewayRestResolver) -> str:
    """The calling API key's id (what API Gateway checked), or "anonymous" where the route needs none."""
    identity = app.current_event.request_context.identity
    return identity.api_key_id or identity.api_key or "anonymous"


def tenant(app: APIGatewayRestResolver) -> str | None:
    """Whose data the request may read and write (guards/tenants.py)."""
    return tenants().of(_api_key(app))


def caller(app: APIGatewayRestResolver) -> Caller:
    """Who is calling: the request id, the API key's id (scopes idempotency and quotas), the
    Idempotency-Key header, and the Lambda context (idempotency's in-progress expiry)."""
    event = app.current_event
    identity = event.request_context.identity
    api_key = _api_key(app)
    return Caller(
        request_id=event.request_context.request_id,
        api_key=api_key,
        idempotency_key=validate_key(event.headers.get(HEADER) or event.headers.get(HEADER.lower())),
        context=app.lambda_context,
        source_ip=identity.source_ip,
        tenant=tenants().of(api_key),
    )


def balances_answer(balances: list[Balance]) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    for b in balances:
        line: dict[str, Any] = {"provider": b.provider, "supported": b.supported}
        if not b.supported:
            line["reason"] = f"{b.provider} has no balance API"
        elif b.error:
            line["error"] = error_body(b.error)
        else:
            line["balance"] = b.balance
        lines.append(line)
    return {"balances": lines}
