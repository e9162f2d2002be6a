"""POST /callbacks/230sms/{token}: one 230sms delivery receipt. `OK` once stored (or already known)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw import receipts
from smsgw.api import new_resolver
from smsgw.observability import logger, metrics, tracer

app = new_resolver()


def text(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=content_types.TEXT_PLAIN, body=body)


@app.post("/callbacks/230sms/<token>")
def receipt(token: str) -> Response[str]:
    try:
        receipts.accept_receipt(token, app.current_event.decoded_body or "")
    except receipts.CallbackRefused as refused:
        logger.warning("receipt refused", extra={"reason": str(refused), "status": refused.status})
        return text(refused.status, str(refused))
    except Exception:
        # Not OK: 230sms retries (3 times: 5, 15, 30 min), so a storage hiccup loses nothing.
        logger.exception("receipt could not be stored")
        return text(503, "retry later")
    return text(200, "OK")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
