"""DynamoDB stream of the messages table: add each message that turned delivered or failed to its
campaign's counts. A batch is counted once; one whose provider request is not recorded yet fails
and comes back (Lambda retries a stream batch whole)."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.campaigns.progress import campaign_progress
from smsgw.platform.observability import log_metrics, logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    added = campaign_progress().count(event.get("Records", []), datetime.now(UTC))
    if added:
        logger.info("campaign outcomes counted", extra={"campaigns": len(added)})
    return {"campaigns": len(added)}
