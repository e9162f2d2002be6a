"""SQS (the plan queue, fed by `start` and by EventBridge Scheduler at `send_at`): read a campaign's
list, count what cannot be sent, enqueue the rest in chunks for the sender."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.campaigns.planner import plan_record
from smsgw.platform.observability import log_metrics, logger, tracer

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=plan_record, processor=processor, context=context
    )
