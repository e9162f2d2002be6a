"""Our webhook signatures, checked by the reference Standard Webhooks library (no code of ours on the
receiving side); endpoint URLs and the addresses they resolve to."""

import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from smsgw.platform.errors import ValidationError
from smsgw.webhooks.dispatch import RETRY_DELAYS, UnsafeAddress, resolve_safely
from smsgw.webhooks.endpoints import EndpointSpec, url_problem
from smsgw.webhooks.signing import headers, new_secret, secret_bytes

BODY = json.dumps({"type": "message.delivered", "data": {"message_id": "230-1-ab"}}).encode()


def test_a_delivery_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret_bytes(secret)) >= 24
    signed = headers([secret], "evt_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, signed) == json.loads(BODY)


def test_during_a_rotation_either_secret_verifies_and_a_stranger_does_not() -> None:
    new, old = new_secret(), new_secret()
    signed = headers([new, old], "evt_2", int(time.time()), BODY)
    assert len(signed["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(BODY, signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, signed)


def test_a_changed_body_id_or_old_timestamp_fails() -> None:
    secret = new_secret()
    signed = headers([secret], "evt_3", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"delivered", b"failed"), signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**signed, "webhook-id": "evt_4"})
    stale = headers([secret], "evt_3", int(time.time()) - 600, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, stale)


@pytest.mark.parametrize(
    ("url", "loopback", "problem"),
    [
        ("https://hooks.example.com/sms", False, None),
        ("http://hooks.example.com/sms", False, "must be an https URL"),
        ("http://127.0.0.1:9000/in", False, "must be an https URL"),
        ("http://127.0.0.1:9000/in", True, None),
        ("https://10.0.0.5/in", False, "must not be a private, loopback or link-local address"),
        ("https://169.254.169.254/latest", False, "must not be a private, loopback or link-local address"),
        ("https://[fd00::1]/in", False, "must not be a private, loopback or link-local address"),
        ("https://user:pw@hooks.example.com/", False, "must name a host, with no credentials or fragment"),
    ],
)
def test_endpoint_urls(url: str, loopback: bool, problem: str | None) -> None:
    assert url_problem(url, loopback) == problem


def test_a_bad_endpoint_names_each_field() -> None:
    with pytest.raises(ValidationError) as refused:
        EndpointSpec.parse({"url": "ftp://x", "event_types": ["message.lost"], "colour": 1})
    assert {e.field for e in refused.value.errors} == {"url", "event_types", "colour"}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "[::1]"])
def test_addresses_inside_are_refused_at_delivery(host: str) -> None:
    with pytest.raises(UnsafeAddress):
        resolve_safely(f"https://{host}/in", allow_loopback=False)


def test_this_machine_only_where_the_local_stack_allows_it() -> None:
    resolve_safely("http://127.0.0.1:9/in", allow_loopback=True)
    with pytest.raises(UnsafeAddress):
        resolve_safely("http://10.1.2.3/in", allow_loopback=True)


def test_the_retry_schedule_is_svixs() -> None:
    assert RETRY_DELAYS == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
