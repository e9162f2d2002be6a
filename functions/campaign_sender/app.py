"""SQS (the chunk queue): send each chunk once, at the provider account's rate, inside the
marketing window; report the chunks to retry (partial batch response). A batch's chunks are begun,
sent and recorded together: a DynamoDB transaction each way, whatever the batch size."""

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.campaigns.sender import chunk_batch
from smsgw.platform.observability import log_metrics, logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
@event_source(data_class=SQSEvent)
def lambda_handler(event: SQSEvent, context: LambdaContext) -> PartialItemFailureResponse:
    return chunk_batch(event.records)
