"""EventBridge schedule: apply cmessages statuses to pending messages, settle those past the window."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.delivery import polling
from smsgw.platform.observability import log_metrics, logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return polling.poll()
