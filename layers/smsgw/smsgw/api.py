"""The HTTP face shared by the API handlers: one resolver factory, domain errors mapped in one place."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from .errors import (
    IdempotencyConflict,
    NotFound,
    NothingSent,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    ValidationError,
    describe,
)
from .idempotency import HEADER, Caller, validate_key
from .observability import logger

RETRY_AFTER_UNAVAILABLE = "5"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    headers = dict(headers or {})
    if status == 503:
        headers.setdefault("Retry-After", RETRY_AFTER_UNAVAILABLE)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, ensure_ascii=False),
        headers=headers or None,
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response[str]:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.exception_handler(ValidationError)
    def invalid(error: ValidationError) -> Response[str]:
        return json_response(422, {"error": describe(error)})

    @app.exception_handler(NothingSent)
    def nothing_sent(error: NothingSent) -> Response[str]:
        logger.warning(
            "nothing sent",
            extra={"status": error.status, "provider_code": error.body["error"].get("provider_code")},
        )
        return json_response(error.status, error.body)

    @app.exception_handler(ProviderError)
    def provider_failed(error: ProviderError) -> Response[str]:
        logger.warning(
            "provider call failed", extra={"provider": error.provider, "provider_code": error.code}
        )
        status = 504 if isinstance(error, OutcomeUnknown) else 502
        return json_response(status, {"error": describe(error)})

    @app.exception_handler(RateLimited)
    def rate_limited(error: RateLimited) -> Response[str]:
        return error_response(429, "rate_limited", str(error), {"Retry-After": str(error.retry_after)})

    @app.exception_handler(IdempotencyConflict)
    def conflict(error: IdempotencyConflict) -> Response[str]:
        headers = {"Retry-After": "2"} if error.status == 409 else None
        return error_response(error.status, error.code, str(error), headers)

    @app.exception_handler(NotFound)
    def not_found(error: NotFound) -> Response[str]:
        return error_response(404, "not_found", str(error))

    @app.not_found
    def no_route(_: Exception) -> Response[str]:
        return error_response(404, "not_found", "no such route")

    return app


def json_body(app: APIGatewayRestResolver) -> Any:
    """The request's JSON body, or a 422 naming the body when it is not JSON."""
    raw = app.current_event.decoded_body
    if not raw:
        raise ValidationError.single("body", "a JSON body is required")
    try:
        return json.loads(raw)
    except ValueError:
        raise ValidationError.single("body", "is not valid JSON") from None


def caller(app: APIGatewayRestResolver) -> Caller:
    """Who is calling: the request id, the API key's id (scopes idempotency and quotas), the
    Idempotency-Key header, and the Lambda context (idempotency's in-progress expiry)."""
    event = app.current_event
    identity = event.request_context.identity
    return Caller(
        request_id=event.request_context.request_id,
        api_key=identity.api_key_id or identity.api_key or "anonymous",
        idempotency_key=validate_key(event.headers.get(HEADER) or event.headers.get(HEADER.lower())),
        context=app.lambda_context,
    )
