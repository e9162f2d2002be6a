"""POST /sms/verify-code/check: is this the code the gateway sent? approved, pending, expired,
max_attempts_reached or not_found, with the attempts left."""

import time
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.domain.statuses import CheckStatus
from smsgw.http.answers import json_body, json_response, new_resolver, tenant
from smsgw.platform.errors import FieldError, ValidationError
from smsgw.platform.observability import log_metrics, logger, tracer
from smsgw.verification.codes import verifications
from smsgw.webhooks.lifecycle import verification_event

app = new_resolver()
FIELDS = {"code", "to", "verification_id"}


@app.post("/sms/verify-code/check")
def check() -> Any:
    body = json_body(app)
    if not isinstance(body, dict):
        raise ValidationError.single("body", "must be a JSON object")
    errors = [FieldError(key[:64], "unknown field") for key in body if key not in FIELDS]
    if not isinstance(body.get("code"), str) or not body["code"].strip():
        errors.append(FieldError("code", "must be the code that was sent"))
    if ("to" in body) == ("verification_id" in body):
        errors.append(FieldError("to", "give either to or verification_id"))
    for name in ("to", "verification_id"):
        if name in body and not isinstance(body[name], str):
            errors.append(FieldError(name, "must be a string"))
    if errors:
        raise ValidationError(errors)
    result = verifications().check(
        body["code"].strip()[:32],
        to=body.get("to"),
        verification_id=body.get("verification_id"),
        tenant=tenant(app),
    )
    answer: dict[str, Any] = {"status": str(result.status), "attempts_left": result.attempts_left}
    if result.verification_id:
        answer["verification_id"] = result.verification_id
        if result.status in (CheckStatus.APPROVED, CheckStatus.EXPIRED):
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            verification_event(tenant(app), str(result.status), result.verification_id, at)
    return json_response(200, answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
