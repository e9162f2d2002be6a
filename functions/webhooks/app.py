"""Webhook endpoints of the calling tenant: POST/GET /webhooks/endpoints, GET/DELETE
/webhooks/endpoints/{id}, POST .../rotate-secret, .../test and .../recover, GET .../deliveries."""

import time
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.http.answers import json_body, json_response, new_resolver, tenant
from smsgw.platform.config import settings
from smsgw.platform.observability import log_metrics, logger, tracer
from smsgw.webhooks.endpoints import ROTATION_OVERLAP, EndpointSpec, endpoints, recover_since
from smsgw.webhooks.events import delivery, send_deliveries

app = new_resolver()


@app.post("/webhooks/endpoints")
def create() -> Any:
    spec = EndpointSpec.parse(json_body(app), allow_loopback=settings().webhook_allow_loopback)
    endpoint, secret = endpoints().create(tenant(app), spec)
    return json_response(201, {**endpoint.view(), "secret": secret})


@app.get("/webhooks/endpoints")
def listed() -> Any:
    return json_response(200, {"endpoints": [e.view() for e in endpoints().of_tenant(tenant(app))]})


@app.get("/webhooks/endpoints/<endpoint_id>")
def view(endpoint_id: str) -> Any:
    return json_response(200, endpoints().get(tenant(app), endpoint_id).view())


@app.delete("/webhooks/endpoints/<endpoint_id>")
def delete(endpoint_id: str) -> Any:
    endpoints().delete(tenant(app), endpoint_id)
    return json_response(200, {"endpoint_id": endpoint_id, "deleted": True})


@app.post("/webhooks/endpoints/<endpoint_id>/rotate-secret")
def rotate(endpoint_id: str) -> Any:
    secret = endpoints().rotate(tenant(app), endpoint_id)
    return json_response(
        200, {"endpoint_id": endpoint_id, "secret": secret, "previous_signs_for_seconds": ROTATION_OVERLAP}
    )


@app.post("/webhooks/endpoints/<endpoint_id>/test")
def test(endpoint_id: str) -> Any:
    endpoint = endpoints().get(tenant(app), endpoint_id)
    event_id = "evt_test_" + app.current_event.request_context.request_id.replace("-", "")[:24]
    event = {
        "type": "webhook.test",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": {"endpoint_id": endpoint.endpoint_id},
    }
    send_deliveries([delivery(endpoint, event_id, event)])
    return json_response(202, {"event_id": event_id, "queued": True})


@app.post("/webhooks/endpoints/<endpoint_id>/recover")
def recover(endpoint_id: str) -> Any:
    since = recover_since(json_body(app), time.time())
    found = endpoints().recover(tenant(app), endpoint_id, since)
    send_deliveries(found)
    return json_response(202, {"endpoint_id": endpoint_id, "queued": len(found)})


@app.get("/webhooks/endpoints/<endpoint_id>/deliveries")
def deliveries(endpoint_id: str) -> Any:
    return json_response(200, {"deliveries": endpoints().attempts(tenant(app), endpoint_id)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
