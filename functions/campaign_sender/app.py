"""SQS (the chunk queue): send each chunk once, at the provider account's rate, inside the
marketing window; report the chunks to retry (partial batch response)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.campaigns import chunk_record
from smsgw.observability import logger, metrics, tracer

# A batch whose every chunk waits for the window is not an error: each is reported to retry.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=chunk_record, processor=processor, context=context
    )
