"""The schemas the API's routes share (openapi.py): numbers, content, statuses, errors, answers and
campaigns, their enums taken from the code. Placeholders (`x-…`) are filled per deployment."""

from typing import Any

from smsgw.domain.caller import IDEMPOTENCY_KEY_PATTERN
from smsgw.domain.statuses import CAMPAIGN_COUNTS, STORED, CampaignKind, CampaignState, Status

# Number and content schemas follow the deployment's policy; document() fills them in.
NUMBER: dict[str, Any] = {"type": "string", "x-phone-number": True}
CONTENT: dict[str, Any] = {"type": "string", "pattern": "\\S", "x-content": True}
PROVIDER: dict[str, Any] = {"type": "string", "x-provider": True}
STATUSES = [str(s) for s in STORED]
STATUS: dict[str, Any] = {"type": "string", "enum": STATUSES}
ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "provider": PROVIDER,
                "provider_code": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                "failover": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}
MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["to", "status"],
    "properties": {
        "message_id": {"type": "string"},
        "to": {"type": "string"},
        "status": {"type": "string", "enum": [str(s) for s in Status]},
        "provider": PROVIDER,
        "error": ERROR["properties"]["error"],
    },
}
VERIFY_ANSWER = {
    **MESSAGE,
    "properties": {**MESSAGE["properties"], "verification_id": {"type": "string"}},
}
SEND_ANSWER = {
    "type": "object",
    "properties": {
        "provider": PROVIDER,
        "request_id": {"type": "string"},
        "segments": {"type": "integer"},
        "encoding": {"type": "string"},
        "messages": {"type": "array", "items": MESSAGE},
        "summary": {"type": "object"},
        "failover": {"type": "array", "items": {"type": "object"}},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_PATTERN.pattern}$"},
    "description": "A retry with the same key returns the first answer without sending again.",
}


def json_answer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Any]:
    texts = {
        404: "Not found",
        409: "A request with this Idempotency-Key is in progress",
        422: "Invalid request, or refused by the provider for its content",
        429: "Rate limited (see Retry-After)",
        502: "Refused by the provider (account or provider side)",
        503: "Provider or storage unavailable, nothing more done (see Retry-After)",
        504: "Provider outcome unknown",
    }
    # Any route may meet AWS throttled past its retries: 503 storage_unavailable.
    return {str(s): json_answer(ERROR, texts[s]) for s in sorted({*statuses, 503})}


SEND_ERRORS = (409, 422, 429, 502, 503, 504)

CAMPAIGN_STATES = [str(s) for s in CampaignState]
CAMPAIGN_KINDS = [str(k) for k in CampaignKind]
CAMPAIGN_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
CAMPAIGN_STARTED = {
    "type": "object",
    "required": ["campaign_id", "state"],
    "properties": {
        "campaign_id": {"type": "string"},
        "state": {"type": "string", "enum": CAMPAIGN_STATES},
        "upload_url": {"type": "string", "description": "presigned S3 PUT, one hour"},
    },
}
CAMPAIGN = {
    "type": "object",
    "required": ["campaign_id", "state", "kind", "counts", "provider_requests"],
    "properties": {
        "campaign_id": {"type": "string"},
        "state": {"type": "string", "enum": CAMPAIGN_STATES},
        "kind": {"type": "string", "enum": CAMPAIGN_KINDS},
        "counts": {"type": "object", "properties": {name: {"type": "integer"} for name in CAMPAIGN_COUNTS}},
        "provider_requests": {"type": "integer"},
        "chunks": {
            "type": "object",
            "properties": {"total": {"type": "integer"}, "done": {"type": "integer"}},
        },
        "created_at": {"type": "string"},
        "started_at": {"type": "string"},
        "finished_at": {"type": "string"},
        "send_at": {"type": "string"},
        "estimated_finish_at": {"type": "string", "description": "from the pace so far"},
        "invalid_url": {
            "type": "string",
            "description": "presigned S3 GET of line,entry,reason (entries masked)",
        },
    },
}

# (method, path, summary, request body schema or None, parameters, answers)
