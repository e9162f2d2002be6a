"""Regenerates events/*.json from `sam local generate-event` (needs the SAM CLI: `make events`).

Each event keeps the exact shape SAM produces; we set the route, path parameters, headers and body.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"
API_KEY = "local-api-key"  # the local stack's default; real keys come from the usage plan
TOKEN = "local-callback-token"
CAMPAIGN = "cmp-0123456789abcdef0123"
SQS_EVENTS = {  # file: queue, message body
    "campaign_plan": ("CampaignPlanQueue", {"campaign_id": CAMPAIGN}),
    "campaign_chunk": (
        "CampaignChunkQueue",
        {"campaign_id": CAMPAIGN, "chunk": 0, "numbers": ["+8613800138000", "+8613800138001"]},
    ),
}
RECEIPT = {
    "apikey": "sandbox-apikey",
    "taskid": "857319414809231361",
    "mobile": "8617072440811",
    "status": "DELIVRD",
    "times": "2026-11-23 17:42",
}

# A status item of a campaign's message turning delivered (what the progress function counts).
STATUS = {
    "Keys": {"pk": {"S": "num#230sms#0f5a2c6b9e1d4a37"}, "sk": {"S": "857319414809231361"}},
    "OldImage": {"status": {"S": "submitted"}},
    "NewImage": {
        "status": {"S": "delivered"},
        "provider_status": {"S": "DELIVRD"},
        "updated_at": {"S": "2026-12-01T09:42:00+00:00"},
    },
    "StreamViewType": "NEW_AND_OLD_IMAGES",
}

API_EVENTS: dict[str, tuple[str, str, str, dict[str, str], Any]] = {
    # file: method, resource, path, path parameters, body
    "send": (
        "POST",
        "/sms/send",
        "/sms/send",
        {},
        {"to": ["+8617072440811", "13800138000"], "content": "Your parcel has shipped"},
    ),
    "send_cmessages": (
        "POST",
        "/sms/send",
        "/sms/send",
        {},
        {"to": "17072440811", "content": "测试 123456", "provider": "cmessages"},
    ),
    "send_invalid": ("POST", "/sms/send", "/sms/send", {}, {"to": ["12345"], "content": ""}),
    "verify_code": (
        "POST",
        "/sms/verify-code",
        "/sms/verify-code",
        {},
        {"to": "+8617072440811", "content": "Your code is 123456"},
    ),
    "verify_check": (
        "POST",
        "/sms/verify-code/check",
        "/sms/verify-code/check",
        {},
        {"to": "+8617072440811", "code": "123456"},
    ),
    "balance": ("GET", "/sms/balance", "/sms/balance", {}, None),
    "message_status": (
        "GET",
        "/sms/messages/{message_id}",
        "/sms/messages/cm-521-fe66c8d9b3dc90ce",
        {"message_id": "cm-521-fe66c8d9b3dc90ce"},
        None,
    ),
    "campaign_create": (
        "POST",
        "/sms/campaigns",
        "/sms/campaigns",
        {},
        {
            "content": "【Shop】Sale starts today. Reply TD to opt out",
            "kind": "marketing",
            "to": ["13800138000", "13800138001"],
        },
    ),
    "campaign_upload": (
        "POST",
        "/sms/campaigns",
        "/sms/campaigns",
        {},
        {
            "content": "【Shop】Your order shipped",
            "kind": "notification",
            "send_at": "2026-12-24T09:00:00+08:00",
        },
    ),
    "campaign_start": (
        "POST",
        "/sms/campaigns/{id}/start",
        f"/sms/campaigns/{CAMPAIGN}/start",
        {"id": CAMPAIGN},
        None,
    ),
    "campaign_status": ("GET", "/sms/campaigns/{id}", f"/sms/campaigns/{CAMPAIGN}", {"id": CAMPAIGN}, None),
    "campaign_cancel": (
        "DELETE",
        "/sms/campaigns/{id}",
        f"/sms/campaigns/{CAMPAIGN}",
        {"id": CAMPAIGN},
        None,
    ),
    "callback": (
        "POST",
        "/callbacks/{provider}/{token}",
        f"/callbacks/230sms/{TOKEN}",
        {"provider": "230sms", "token": TOKEN},
        RECEIPT,
    ),
}


def sam(*args: str) -> dict[str, Any]:
    output = subprocess.run(
        ["sam", "local", "generate-event", *args], capture_output=True, text=True, check=True
    )
    return dict(json.loads(output.stdout))


def api_event(method: str, resource: str, path: str, params: dict[str, str], body: Any) -> dict[str, Any]:
    event = sam(
        "apigateway",
        "aws-proxy",
        "--stage",
        "v1",
        "--method",
        method,
        "--resource",
        resource,
        "--path",
        path.lstrip("/"),
    )
    event.update(
        body=None if body is None else json.dumps(body, ensure_ascii=False),
        isBase64Encoded=False,
        pathParameters=params or None,
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
        stageVariables=None,
    )
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if not resource.startswith("/callbacks/"):
        headers["x-api-key"] = API_KEY
    event["headers"].update(headers)
    event["multiValueHeaders"].update({k: [v] for k, v in headers.items()})
    context = event["requestContext"]
    context.update(resourcePath=resource, httpMethod=method, path=f"/v1{path}")
    return event


def main() -> int:
    EVENTS.mkdir(exist_ok=True)
    for name, spec in API_EVENTS.items():
        (EVENTS / f"{name}.json").write_text(
            json.dumps(api_event(*spec), indent=2, ensure_ascii=False) + "\n"
        )
    (EVENTS / "poll_status.json").write_text(
        json.dumps(sam("cloudwatch", "scheduled-event"), indent=2) + "\n"
    )
    for name, (queue, body) in SQS_EVENTS.items():
        event = sam("sqs", "receive-message", "--queue-name", f"sms-gateway-local-{queue}")
        for record in event["Records"]:  # SAM's --body cannot take JSON (it breaks its template)
            record["body"] = json.dumps(body)
        (EVENTS / f"{name}.json").write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
    stream = sam("dynamodb", "update")
    stream["Records"] = [
        {
            **stream["Records"][0],
            "eventName": "MODIFY",
            "dynamodb": {**stream["Records"][0]["dynamodb"], **STATUS},
        }
    ]
    (EVENTS / "campaign_progress.json").write_text(json.dumps(stream, indent=2) + "\n")
    print(f"wrote {len(API_EVENTS) + len(SQS_EVENTS) + 2} events to {EVENTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
