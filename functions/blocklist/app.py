"""PUT, GET, DELETE /sms/blocklist/{number}: numbers that must never be sent to (opt-outs)."""

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.api import json_body, json_response, new_resolver
from smsgw.blocklist import blocklist
from smsgw.errors import ValidationError
from smsgw.numbers import Recipient, parse_number
from smsgw.observability import logger, metrics, tracer

app = new_resolver()


def recipient(number: str) -> Recipient:
    return parse_number(unquote(number), "number")


@app.put("/sms/blocklist/<number>")
def block(number: str) -> Any:
    body = json_body(app) if app.current_event.body else {}
    reason = body.get("reason", "") if isinstance(body, dict) else None
    if not isinstance(reason, str) or len(reason) > 200:
        raise ValidationError.single("reason", "must be text of at most 200 characters")
    return json_response(200, blocklist().block(recipient(number), reason))


@app.get("/sms/blocklist/<number>")
def lookup(number: str) -> Any:
    return json_response(200, blocklist().lookup(recipient(number)))


@app.delete("/sms/blocklist/<number>")
def unblock(number: str) -> Any:
    target = recipient(number)
    return json_response(
        200, {"number": target.e164, "blocked": False, "removed": blocklist().unblock(target)}
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
