"""POST /sms/verify-code: a verification code to one number, through the provider's verification endpoint."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.domain.statuses import Kind
from smsgw.http.answers import new_resolver
from smsgw.http.send_endpoint import send_endpoint
from smsgw.platform.observability import log_metrics, logger, tracer

app = new_resolver()


@app.post("/sms/verify-code")
def verify_code() -> Any:
    return send_endpoint(app, Kind.VERIFY)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
