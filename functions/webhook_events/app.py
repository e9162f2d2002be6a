"""DynamoDB stream of the messages table: each message status change after `submitted`, each
request closed with messages still open (`unknown`), each campaign started, finished or cancelled
becomes an event, queued once for each endpoint of its tenant that wants it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.platform.observability import log_metrics, logger, tracer
from smsgw.webhooks.events import message_events, queue_deliveries
from smsgw.webhooks.lifecycle import campaign_events, closing_events


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    events = message_events(records) + closing_events(records) + campaign_events(records)
    queued = queue_deliveries(events)
    return {"events": len(events), "queued": queued}
