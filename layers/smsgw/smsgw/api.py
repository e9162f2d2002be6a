"""The HTTP face shared by the API handlers: one resolver factory, domain errors mapped in one place."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from .errors import OutcomeUnknown, ProviderError, ValidationError
from .observability import logger
from .service import NotFound, error_body, error_status


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, ensure_ascii=False),
        headers=headers,
    )


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.exception_handler(ValidationError)
    def invalid(error: ValidationError) -> Response[str]:
        return json_response(422, error_body(error))

    @app.exception_handler(ProviderError)
    def provider_failed(error: ProviderError) -> Response[str]:
        logger.warning(
            "provider call failed", extra={"provider": error.provider, "provider_code": error.code}
        )
        headers = {"Retry-After": "5"} if error_status(error) == 503 else None
        if isinstance(error, OutcomeUnknown):
            logger.error("provider outcome unknown; not retried", extra={"provider": error.provider})
        return json_response(error_status(error), error_body(error), headers)

    @app.exception_handler(NotFound)
    def not_found(error: NotFound) -> Response[str]:
        return json_response(404, {"error": {"code": "not_found", "message": str(error)}})

    @app.not_found
    def no_route(_: Exception) -> Response[str]:
        return json_response(404, {"error": {"code": "not_found", "message": "no such route"}})

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
