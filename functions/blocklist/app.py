"""PUT, GET, DELETE /sms/blocklist/{number}: numbers that must never be sent to (opt-outs)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.domain.numbers import Recipient, parse_number
from smsgw.guards.blocklist import block_reason, blocklist
from smsgw.http.answers import json_body, json_response, new_resolver, tenant
from smsgw.platform.observability import log_metrics, logger, tracer

app = new_resolver()


def recipient(_: str) -> Recipient:
    # API Gateway's pathParameters are decoded once (%2B is +); the route's own capture is the raw
    # path, and decoding that again would read %252B as +.
    return parse_number((app.current_event.path_parameters or {}).get("number", ""), "number")


@app.put("/sms/blocklist/<number>")
def block(number: str) -> Any:
    return json_response(
        200,
        blocklist().block(
            recipient(number), block_reason(json_body(app) if app.current_event.body else {}), tenant(app)
        ),
    )


@app.get("/sms/blocklist/<number>")
def lookup(number: str) -> Any:
    return json_response(200, blocklist().lookup(recipient(number), tenant(app)))


@app.delete("/sms/blocklist/<number>")
def unblock(number: str) -> Any:
    target = recipient(number)
    return json_response(
        200, {"number": target.e164, "blocked": False, "removed": blocklist().unblock(target, tenant(app))}
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
