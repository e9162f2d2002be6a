"""POST /sms/campaigns, POST /sms/campaigns/{id}/start, GET and DELETE /sms/campaigns/{id}."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.campaigns.model import CampaignSpec
from smsgw.campaigns.service import campaigns
from smsgw.http.answers import json_body, json_response, new_resolver, tenant
from smsgw.platform.config import settings
from smsgw.platform.observability import log_metrics, logger, tracer

app = new_resolver()


@app.post("/sms/campaigns")
def create() -> Any:
    spec = CampaignSpec.parse(json_body(app), max_inline=settings().max_recipients)
    answer = campaigns().create(spec, tenant(app), app.current_event.request_context.request_id)
    return json_response(201 if "upload_url" in answer else 202, answer)


@app.post("/sms/campaigns/<campaign_id>/start")
def start(campaign_id: str) -> Any:
    return json_response(202, campaigns().start(campaign_id, tenant(app)))


@app.get("/sms/campaigns/<campaign_id>")
def view(campaign_id: str) -> Any:
    return json_response(200, campaigns().view(campaign_id, tenant(app)))


@app.delete("/sms/campaigns/<campaign_id>")
def cancel(campaign_id: str) -> Any:
    return json_response(200, campaigns().cancel(campaign_id, tenant(app)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
