"""SQS (the webhook queue): POST each event to its endpoint, signed; what must be tried again comes
back after its delay (partial batch response)."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.platform.observability import log_metrics, logger, tracer
from smsgw.webhooks.dispatch import dispatch_batch


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
@event_source(data_class=SQSEvent)
def lambda_handler(event: SQSEvent, context: LambdaContext) -> dict[str, Any]:
    return dispatch_batch(list(event.records))
