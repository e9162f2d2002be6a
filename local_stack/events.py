"""The sample events in events/ (shaped as `sam local generate-event` makes them), and variants."""

import json
from typing import Any

from .template import ROOT

EVENTS = ROOT / "events"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name>.json."""
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def status_event(message_id: str) -> dict[str, Any]:
    """events/message_status.json for another message id."""
    event = sample("message_status")
    event["path"] = f"/sms/messages/{message_id}"
    event["pathParameters"] = {"message_id": message_id}
    event["requestContext"]["path"] = f"/v1/sms/messages/{message_id}"
    return event
