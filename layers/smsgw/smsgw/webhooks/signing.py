"""Standard Webhooks signatures (standardwebhooks.com): what a receiver verifies with the reference
libraries (`standardwebhooks`, `svix`) and no code of ours.

- `webhook-id`: the event's id, the same on every retry (the receiver's idempotency key);
- `webhook-timestamp`: Unix seconds of this attempt (receivers refuse ones over 5 minutes off);
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under each live secret,
  space-separated while a rotated secret overlaps its successor.

A secret is `whsec_` and the base64 of 32 random bytes, as the specification's libraries expect.
"""

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.digest(secret_bytes(secret), f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest).decode()


def headers(live_secrets: list[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt, signed with every live secret (newest first)."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, event_id, timestamp, body) for s in live_secrets),
    }
