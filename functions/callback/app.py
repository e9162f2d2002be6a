"""POST /callbacks/{provider}/{token}: one pushed delivery receipt. `OK` once stored (or already known)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.delivery import receipts
from smsgw.platform.observability import log_metrics, logger, tracer


def text(status: int, body: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": body}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # API Gateway routed this request here by its template; the parameters are whatever it matched
    # (any characters), so they are read from pathParameters rather than re-matched.
    request = APIGatewayProxyEvent(event)
    params = request.path_parameters or {}
    try:
        receipts.accept_receipt(
            params.get("provider", ""), params.get("token", ""), request.decoded_body or ""
        )
    except receipts.ReceiptRefused as refused:
        logger.warning("receipt refused", extra={"reason": str(refused), "status": refused.status})
        return text(refused.status, str(refused))
    except Exception:
        # Not OK: providers retry (230sms 3 times: 5, 15, 30 min), so a storage hiccup loses nothing.
        logger.exception("receipt could not be stored")
        return text(503, "retry later")
    return text(200, "OK")
