"""The webhook endpoints' routes in the OpenAPI document (the route table's webhook half)."""

from typing import Any

from smsgw.http.openapi_schemas import errors, json_answer
from smsgw.webhooks.endpoints import EVENT_TYPES

ENDPOINT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
ENDPOINT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "endpoint_id": {"type": "string"},
        "url": {"type": "string"},
        "event_types": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "description": {"type": "string"},
        "enabled": {"type": "boolean"},
        "disabled_reason": {"type": "string", "nullable": True},
        "created_at": {"type": "integer"},
    },
}
NEW_ENDPOINT = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {
            "type": "string",
            "description": "https; resolved at every delivery, private addresses refused",
        },
        "event_types": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "description": {"type": "string", "maxLength": 200},
    },
}
STATUS_CALLBACK = {
    "type": "string",
    "description": "https URL that also gets this request's message events, signed with the key's first"
    " webhook endpoint's secret (the key must have one)",
}
SECRET = {"type": "string", "description": "whsec_…: shown once; signs Standard Webhooks signatures"}
ATTEMPT = {
    "type": "object",
    "properties": {
        "at": {"type": "string"},
        "event_id": {"type": "string"},
        "type": {"type": "string"},
        "attempt": {"type": "integer"},
        "status_code": {"type": "integer"},
        "error": {"type": "string"},
        "latency_ms": {"type": "integer"},
        "next_attempt_at": {"type": "string"},
    },
}

WEBHOOK_ROUTES: list[tuple[str, str, str, dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]] = [
    (
        "POST",
        "/webhooks/endpoints",
        "Register an endpoint for this key's events; its signing secret is in the answer, once",
        NEW_ENDPOINT,
        [],
        {
            "201": json_answer(
                {**ENDPOINT, "properties": {**ENDPOINT["properties"], "secret": SECRET}}, "Made"
            ),
            **errors(422),
        },
    ),
    (
        "GET",
        "/webhooks/endpoints",
        "This key's endpoints",
        None,
        [],
        {
            "200": json_answer(
                {"type": "object", "properties": {"endpoints": {"type": "array", "items": ENDPOINT}}}, "Them"
            )
        },
    ),
    (
        "GET",
        "/webhooks/endpoints/{id}",
        "One endpoint",
        None,
        [ENDPOINT_ID],
        {"200": json_answer(ENDPOINT, "It"), **errors(404)},
    ),
    (
        "DELETE",
        "/webhooks/endpoints/{id}",
        "Delete an endpoint: nothing more is sent to it",
        None,
        [ENDPOINT_ID],
        {"200": json_answer({"type": "object"}, "Deleted"), **errors(404)},
    ),
    (
        "POST",
        "/webhooks/endpoints/{id}/rotate-secret",
        "A new signing secret; the previous one keeps signing beside it for 24 hours",
        None,
        [ENDPOINT_ID],
        {"200": json_answer({"type": "object", "properties": {"secret": SECRET}}, "Rotated"), **errors(404)},
    ),
    (
        "POST",
        "/webhooks/endpoints/{id}/test",
        "Queue a `webhook.test` event to the endpoint",
        None,
        [ENDPOINT_ID],
        {
            "202": json_answer({"type": "object", "properties": {"event_id": {"type": "string"}}}, "Queued"),
            **errors(404),
        },
    ),
    (
        "POST",
        "/webhooks/endpoints/{id}/recover",
        "Queue again every event the endpoint never took since a time (and enable it again)",
        {
            "type": "object",
            "required": ["since"],
            "additionalProperties": False,
            "properties": {"since": {"type": "string", "format": "date-time"}},
        },
        [ENDPOINT_ID],
        {
            "202": json_answer({"type": "object", "properties": {"queued": {"type": "integer"}}}, "Queued"),
            **errors(404, 422),
        },
    ),
    (
        "GET",
        "/webhooks/endpoints/{id}/deliveries",
        "The endpoint's latest delivery attempts, newest first",
        None,
        [ENDPOINT_ID],
        {
            "200": json_answer(
                {"type": "object", "properties": {"deliveries": {"type": "array", "items": ATTEMPT}}}, "Them"
            ),
            **errors(404),
        },
    ),
]
