"""DynamoDB stream of the messages table: each message status change after `submitted` becomes an
event, queued once for each endpoint of its tenant that wants it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.platform.observability import log_metrics, logger, tracer
from smsgw.webhooks.events import message_events, queue_deliveries


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    events = message_events(event.get("Records", []))
    queued = queue_deliveries(events)
    return {"events": len(events), "queued": queued}
