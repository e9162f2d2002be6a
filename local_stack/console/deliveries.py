"""What a phone received, read from the sandboxes' own logs: each accepted provider request as the
messages it delivered, and a request's body with its credentials cut short for showing."""

from dataclasses import dataclass
from typing import Any

from sandboxes import SandboxServer
from sandboxes.wire import RecordedRequest

# The provider names the API and the message ids use, by sandbox.
PROVIDERS = {"sms230": "230sms", "cmessages": "cmessages"}
SECRET_FIELDS = ("sign", "signature", "apikey", "app_key", "app_id", "secret", "token")


@dataclass(frozen=True)
class Delivery:
    """One message as a phone received it from a sandbox."""

    provider: str  # "230sms" or "cmessages"
    number: str  # E.164
    content: str
    kind: str  # "message" or "verification"
    at: float
    ref: str  # the provider's id for it: the 230sms task id, the cmessages message id
    request: int  # its request's position in the sandbox's log

    @property
    def handle(self) -> dict[str, str]:
        return {"provider": self.provider, "ref": self.ref, "number": self.number}


def e164_of(wire: str, provider: str) -> str:
    """A number as the sandbox saw it, in E.164: 230sms sends country code + number; cmessages
    mainland numbers as 11 national digits, others with their `+`."""
    if wire.startswith("+"):
        return wire
    return f"+86{wire}" if provider == "cmessages" else f"+{wire}"


def deliveries_of(provider: str, sandbox: SandboxServer, index: int, r: RecordedRequest) -> list[Delivery]:
    """What one sandbox request delivered: nothing unless the provider accepted it."""
    if r.status != 200 or not isinstance(r.body, dict):
        return []
    kind = "verification" if "verif" in r.path.lower() else "message"  # send_verify, verifCodeSend
    content = str(r.body.get("content") or r.body.get("code") or "")
    if provider == "230sms":
        answer = r.answer if isinstance(r.answer, dict) else {}
        data = answer.get("data") or answer.get("Data")
        task = getattr(sandbox, "tasks", {}).get(data.get("taskid")) if isinstance(data, dict) else None
        if task is None:
            return []
        return [
            Delivery(provider, e164_of(m, provider), task.content, kind, r.at, str(task.taskid), index)
            for m in task.mobiles
        ]
    if r.path not in ("/sms/send_message", "/sms/send_verify"):
        return []
    # cmessages answers a send with its messages: a list of {id, mobile} (a verify: one of them).
    sent = r.answer if isinstance(r.answer, list) else [r.answer]
    return [
        Delivery(provider, e164_of(str(m["mobile"]), provider), content, kind, r.at, str(m["id"]), index)
        for m in sent
        if isinstance(m, dict) and "id" in m and "mobile" in m
    ]


def masked_body(body: Any) -> Any:
    """A provider request's fields with its credentials and signature cut to their first 4 characters."""
    if not isinstance(body, dict):
        return body
    return {
        k: (f"{str(v)[:4]}…" if any(s in k.lower() for s in SECRET_FIELDS) and v else v)
        for k, v in body.items()
    }
