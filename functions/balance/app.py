"""GET /sms/balance: each provider's balance, or `supported: false` where it has no balance API."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.http.answers import balances_answer, json_response, new_resolver
from smsgw.platform.observability import log_metrics, logger, tracer
from smsgw.providers.balances import balances

app = new_resolver()


@app.get("/sms/balance")
def balance() -> Any:
    return json_response(200, balances_answer(balances()))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
