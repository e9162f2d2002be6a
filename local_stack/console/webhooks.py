"""The console's webhooks page (`/_console/webhooks`) and its built-in receiver
(`/_console/webhooks/inbox`): register the inbox's URL as an endpoint and watch signed events
arrive, each checked with the reference `standardwebhooks` library against the live secrets of the
endpoints that point here; beside it, every endpoint of the stack and its latest attempts."""

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from standardwebhooks import Webhook

from ..lambdas import ensure_import_paths
from .page import PREFIX, escape, json_block, when

ensure_import_paths()
from smsgw.webhooks.endpoints import Endpoint, endpoints  # noqa: E402

INBOX = f"{PREFIX}/webhooks/inbox"
KEPT = 200  # the inbox keeps the latest deliveries only


class WebhookInbox:
    def __init__(self) -> None:
        self._received: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._lock = threading.Lock()

    def receive(self, body: bytes, headers: dict[str, str], inbox_url: str) -> int:
        """One delivery: kept with the endpoint (pointing here) whose secret signed it, if any."""
        verified_by = ""
        for endpoint in _endpoints(lambda e: e.url == inbox_url):
            for secret in endpoints().live_secrets(endpoint):
                try:
                    Webhook(secret).verify(body, headers)
                except Exception:  # noqa: S112  # nosec B112 - not this secret's signature: try the next
                    continue
                verified_by = endpoint.endpoint_id
        try:
            event = json.loads(body)
        except ValueError:
            event = {"unparsed": body[:2000].decode("utf-8", "replace")}
        kept = {"at": time.time(), "id": headers.get("webhook-id", ""), "verified_by": verified_by}
        with self._lock:
            self._received.appendleft({**kept, "event": event if isinstance(event, dict) else {}})
        return 204

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._received)

    def page(self, inbox_url: str) -> tuple[int, str]:
        rows = "".join(_endpoint_row(e) for e in _endpoints(lambda _: True))
        received = "".join(_received_row(r) for r in self.received())
        register = json.dumps({"url": inbox_url})
        return 200, (
            f"<h2>Webhooks</h2><p>The built-in receiver: <code>{escape(inbox_url)}</code>. Register it with "
            f"<code>POST /webhooks/endpoints {escape(register)}</code>.</p>"
            "<h3>Endpoints</h3><table class=endpoints><tr><th>endpoint</th><th>tenant</th><th>url</th>"
            f"<th>events</th><th>state</th><th>latest attempts</th></tr>{rows}</table>"
            "<h3>Received here</h3><table class=received><tr><th>at</th><th>webhook-id</th><th>signature</th>"
            f"<th>type</th><th>data</th></tr>{received}</table>"
        )


def _endpoints(keep: Callable[[Endpoint], bool]) -> list[Endpoint]:
    store = endpoints()
    items = store.table.scan(
        FilterExpression="begins_with(sk, :ep)", ExpressionAttributeValues={":ep": "ep#"}
    )
    found = [store.get(None if i["tenant"] == "-" else i["tenant"], str(i["sk"])[3:]) for i in items["Items"]]
    return [e for e in found if keep(e)]


def _endpoint_row(e: Endpoint) -> str:
    state = "enabled" if e.enabled else escape(e.disabled_reason)
    lines = [
        f"{a['at'][11:19]} {a.get('type', '')} #{a.get('attempt')}: {a.get('status_code', a.get('error'))}"
        for a in endpoints().attempts(e.tenant, e.endpoint_id, limit=5)
    ]
    return (
        f"<tr><td>{escape(e.endpoint_id)}</td><td>{escape(e.tenant or '-')}</td><td>{escape(e.url)}</td>"
        f"<td>{escape(', '.join(e.event_types))}</td><td>{state}</td>"
        f"<td>{'<br>'.join(escape(line) for line in lines)}</td></tr>"
    )


def _received_row(r: dict[str, Any]) -> str:
    signature = f"verified: {escape(r['verified_by'])}" if r["verified_by"] else "NOT verified"
    event = r["event"]
    return (
        f"<tr><td>{when(r['at'])}</td><td>{escape(r['id'])}</td><td class=verified>{signature}</td>"
        f"<td>{escape(event.get('type', ''))}</td><td>{json_block(event.get('data'))}</td></tr>"
    )
