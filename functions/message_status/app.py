"""GET /sms/messages/{message_id}: status, provider status and timestamps of one message."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.delivery.lookup import lookup
from smsgw.http.answers import json_response, new_resolver, tenant
from smsgw.platform.observability import log_metrics, logger, tracer
from smsgw.storage.messages import message_store

app = new_resolver()


@app.get("/sms/messages/<message_id>")
def message_status(message_id: str) -> Any:
    return json_response(200, lookup(message_store(), message_id, tenant(app)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
