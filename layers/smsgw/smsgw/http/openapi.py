"""The API's OpenAPI 3 document, built from the route table below (a test checks the table against
template.yaml's routes, so the two cannot drift); the schemas they share are in openapi_schemas.py."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smsgw.domain.content import LONGEST_CODE, SHORTEST_CODE
from smsgw.domain.statuses import CheckStatus, Kind
from smsgw.http.openapi_schemas import (
    CAMPAIGN,
    CAMPAIGN_ID,
    CAMPAIGN_KINDS,
    CAMPAIGN_STARTED,
    CONTENT,
    IDEMPOTENCY_KEY,
    NUMBER,
    PROVIDER,
    SEND_ANSWER,
    SEND_ERRORS,
    STATUS,
    VERIFY_ANSWER,
    errors,
    json_answer,
)
from smsgw.http.openapi_webhooks import STATUS_CALLBACK, WEBHOOK_ROUTES
from smsgw.providers.base import Option

ROUTES: list[tuple[str, str, str, dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]] = [
    (
        "POST",
        "/sms/send",
        "Send one content to one or many numbers",
        {
            "type": "object",
            "required": ["to", "content"],
            "additionalProperties": False,
            "properties": {
                "to": {
                    "oneOf": [NUMBER, {"type": "array", "items": NUMBER, "minItems": 1, "x-recipients": True}]
                },
                "content": CONTENT,
                "provider": PROVIDER,
                "status_callback": STATUS_CALLBACK,
                "x-provider-options": True,
            },
        },
        [IDEMPOTENCY_KEY],
        {
            "200": json_answer(SEND_ANSWER, "Every recipient submitted"),
            "202": json_answer(SEND_ANSWER, "Some recipients unknown, rejected or blocked"),
            **errors(*SEND_ERRORS),
        },
    ),
    (
        "POST",
        "/sms/verify-code",
        "Send a verification code to one number",
        {
            "type": "object",
            "required": ["to", "content"],
            "additionalProperties": False,
            "properties": {
                "to": NUMBER,
                "content": {**CONTENT, "description": "with {code}, the gateway makes (or takes) the code"},
                "provider": PROVIDER,
                "code": {
                    "type": "string",
                    "pattern": f"^[0-9A-Za-z]{{{SHORTEST_CODE},{LONGEST_CODE}}}$",
                    "description": "the caller's own",
                },
                "code_length": {
                    "type": "integer",
                    "minimum": SHORTEST_CODE,
                    "maximum": LONGEST_CODE,
                    "default": 6,
                },
                "code_type": {"type": "string", "enum": ["digits", "alphanumeric"], "default": "digits"},
                "x-provider-options": True,
            },
        },
        [IDEMPOTENCY_KEY],
        {
            "200": json_answer(VERIFY_ANSWER, "Submitted"),
            "202": json_answer(VERIFY_ANSWER, "Outcome unknown: not sent again"),
            **errors(*SEND_ERRORS),
        },
    ),
    (
        "POST",
        "/sms/verify-code/check",
        "Check a code the gateway made",
        {
            "type": "object",
            "required": ["code"],
            "additionalProperties": False,
            "properties": {"code": {"type": "string"}, "to": NUMBER, "verification_id": {"type": "string"}},
        },
        [],
        {
            "200": json_answer(
                {
                    "type": "object",
                    "required": ["status", "attempts_left"],
                    "properties": {
                        "status": {
                            "type": "string",
                            "enum": [str(s) for s in CheckStatus],
                        },
                        "attempts_left": {"type": "integer"},
                        "verification_id": {"type": "string"},
                    },
                },
                "The check's outcome",
            ),
            **errors(422),
        },
    ),
    (
        "GET",
        "/sms/balance",
        "Each provider's balance",
        None,
        [],
        {"200": json_answer({"type": "object", "required": ["balances"]}, "Balances")},
    ),
    (
        "GET",
        "/sms/messages/{message_id}",
        "Delivery status of one message",
        None,
        [{"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        {
            "200": json_answer(
                {
                    "type": "object",
                    "required": ["message_id", "status"],
                    "properties": {
                        "message_id": {"type": "string"},
                        "provider": {"type": "string"},
                        "to": {
                            "type": "string",
                            "nullable": True,
                            "description": "E.164; null if not recorded",
                        },
                        "status": STATUS,
                        "provider_status": {"type": "string", "nullable": True},
                        "provider_id": {
                            "type": "string",
                            "nullable": True,
                            "description": "the provider's id",
                        },
                        "submitted_at": {"type": "string", "nullable": True, "description": "ISO-8601 UTC"},
                        "updated_at": {"type": "string", "nullable": True, "description": "ISO-8601 UTC"},
                        "kind": {"type": "string", "nullable": True, "enum": [*(str(k) for k in Kind), None]},
                        "recorded": {
                            "type": "boolean",
                            "description": "false: a receipt for a send the gateway has no record of",
                        },
                        "delivered_at": {"type": "string", "nullable": True, "description": "ISO-8601 UTC"},
                        "reconciled_with": {
                            "type": "string",
                            "nullable": True,
                            "description": "a receipt matched later to this message of unknown outcome",
                        },
                    },
                },
                "The message",
            ),
            **errors(404),
        },
    ),
    *[
        (
            method,
            "/sms/blocklist/{number}",
            summary,
            {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}}
            if method == "PUT"
            else None,
            [{"name": "number", "in": "path", "required": True, "schema": NUMBER}],
            {
                "200": json_answer(
                    {"type": "object", "required": ["number", "blocked"]}, "The number's entry"
                ),
                **errors(404, 422),
            },
        )
        for method, summary in (
            ("PUT", "Block a number (opt-out)"),
            ("GET", "Is a number blocked?"),
            ("DELETE", "Unblock a number"),
        )
    ],
    (
        "POST",
        "/sms/campaigns",
        "Create a campaign: with `to` it starts at once; else upload the list to `upload_url`, then start",
        {
            "type": "object",
            "required": ["content", "kind"],
            "additionalProperties": False,
            "properties": {
                "content": CONTENT,
                "kind": {
                    "type": "string",
                    "enum": CAMPAIGN_KINDS,
                    "description": "marketing sends only inside the Beijing-time window (MarketingWindow)",
                },
                "to": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "x-recipients": True,
                    "description": "inline numbers; invalid entries are counted and listed, not refused",
                },
                "provider": PROVIDER,
                "send_at": {"type": "string", "format": "date-time", "description": "ISO-8601 with offset"},
                "x-provider-options": True,
            },
        },
        [],
        {
            "201": json_answer(
                CAMPAIGN_STARTED, "Draft: PUT the list (text/plain or text/csv) to upload_url"
            ),
            "202": json_answer(CAMPAIGN_STARTED, "Running, or scheduled for send_at"),
            **errors(422),
        },
    ),
    (
        "POST",
        "/sms/campaigns/{id}/start",
        "Start a draft whose list was uploaded (checked: present, text, not empty, not too large, numbers)",
        None,
        [CAMPAIGN_ID],
        {"202": json_answer(CAMPAIGN_STARTED, "Running, or scheduled for send_at"), **errors(404, 409, 422)},
    ),
    (
        "GET",
        "/sms/campaigns/{id}",
        "A campaign's state, counts, provider requests and estimated finish",
        None,
        [CAMPAIGN_ID],
        {"200": json_answer(CAMPAIGN, "The campaign"), **errors(404)},
    ),
    (
        "DELETE",
        "/sms/campaigns/{id}",
        "Cancel: nothing further is sent; what was sent stays recorded",
        None,
        [CAMPAIGN_ID],
        {"200": json_answer(CAMPAIGN_STARTED, "Cancelled"), **errors(404, 409)},
    ),
    (
        "GET",
        "/openapi.json",
        "This document",
        None,
        [],
        {"200": json_answer({"type": "object"}, "OpenAPI 3 document")},
    ),
    (
        "POST",
        "/callbacks/{provider}/{token}",
        "A provider's pushed delivery receipt (called by the provider; no API key)",
        {"type": "object"},
        [
            {"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        {
            "200": {
                "description": "Stored or already known",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "400": {
                "description": "Not a receipt",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "404": {
                "description": "No such provider pushes receipts",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "403": {
                "description": "Wrong token or account",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "503": {
                "description": "Not stored; the provider retries",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
        },
    ),
]

ROUTES += WEBHOOK_ROUTES

PUBLIC = {"/callbacks/{provider}/{token}"}


@dataclass(frozen=True)
class Policy:
    """What the deployment allows, filled into the document's placeholders."""

    providers: Mapping[str, tuple[Option, ...]]  # name -> its optional send fields
    allowed_countries: tuple[int, ...] = (86,)
    max_segments: int = 10
    max_recipients: int = 10_000


def document(policy: Policy, server_url: str = "/") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, parameters, answers in ROUTES:
        operation: dict[str, Any] = {"summary": summary, "responses": answers}
        if parameters:
            operation["parameters"] = parameters
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": request}},
            }
        if path in PUBLIC:
            operation["security"] = []
        else:
            operation["responses"] = {**answers, "403": {"description": "Missing or wrong x-api-key"}}
        paths.setdefault(path, {})[method.lower()] = operation
    filled: dict[str, Any] = _apply_policy(
        {
            "openapi": "3.0.3",
            "info": {"title": "SMS gateway", "version": "1.0.0"},
            "servers": [{"url": server_url}],
            "security": [{"apiKey": []}],
            "components": {
                "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}
            },
            "paths": paths,
        },
        policy,
    )
    return filled


def _apply_policy(node: Any, policy: Policy) -> Any:
    """A copy of `node` with the placeholders replaced by the deployment's rules."""
    if isinstance(node, list):
        return [_apply_policy(n, policy) for n in node]
    if not isinstance(node, dict):
        return node
    copy = {k: _apply_policy(v, policy) for k, v in node.items()}
    countries, max_segments = policy.allowed_countries, policy.max_segments
    if copy.pop("x-provider", False):
        copy["enum"] = list(policy.providers)
    if copy.pop("x-provider-options", False):
        for name, options in policy.providers.items():
            for option in options:
                schema = option.schema()
                schema["description"] = f"{schema['description']} (only {name} takes it)"
                copy.setdefault(option.field, schema)  # the marker sits among the properties
    if copy.pop("x-phone-number", False):
        if countries == (86,):
            copy["pattern"] = "^(\\+86)?1[3-9][0-9]{9}$"
            copy["description"] = "a mainland China mobile: +8617072440811 or 17072440811"
        else:
            copy["pattern"] = "^\\+?[0-9]{7,15}$"
            copy["description"] = f"E.164, or a Chinese national mobile; countries {countries}"
    if copy.pop("x-content", False):
        # Segments are counted in UTF-16 units (67 per UCS-2 segment); half keeps any text within.
        copy["maxLength"] = 67 * max_segments // 2
        copy["description"] = f"at most {max_segments} SMS segments"
    if copy.pop("x-recipients", False):
        copy["maxItems"] = policy.max_recipients
    return copy
