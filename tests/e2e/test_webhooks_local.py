"""Webhooks through `make run`: a receiver written only on the reference `standardwebhooks` library
registers, and gets a verified `message.delivered` for every number of a send."""

from collections.abc import Iterator

import pytest

from tests.e2e.client import RunningStack, running_stack
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack({}) as running:
        yield running


def test_every_number_of_a_send_reaches_the_receiver_verified(stack: RunningStack) -> None:
    receiver = Receiver()
    try:
        made = stack.api(
            "POST", "/webhooks/endpoints", {"url": receiver.url, "event_types": ["message.delivered"]}
        )
        assert made.status == 201, made.text
        receiver.secrets.append(made.json()["secret"])
        numbers = [f"+8613700{i:06d}" for i in range(20)]
        sent = stack.api("POST", "/sms/send", {"to": numbers, "content": "hooks", "provider": "230sms"})
        assert sent.status == 200, sent.text
        ids = {m["message_id"] for m in sent.json()["messages"]}

        def all_in() -> bool:
            return {g["body"]["data"]["message_id"] for g in receiver.got} >= ids

        stack.wait_for("every message.delivered", all_in, timeout=60, every=0.5)
        mine = [g for g in receiver.got if g["body"]["data"]["message_id"] in ids]
        assert all(g["verified"] == receiver.secrets for g in mine)
        assert {g["body"]["type"] for g in mine} == {"message.delivered"}
        assert {g["body"]["data"]["to"] for g in mine} == set(numbers)
        assert len({g["id"] for g in mine}) == len(ids)  # one event id a message
        attempts = stack.api("GET", f"/webhooks/endpoints/{made.json()['endpoint_id']}/deliveries")
        assert attempts.status == 200 and {a["status_code"] for a in attempts.json()["deliveries"]} == {200}
    finally:
        receiver.close()


def test_the_consoles_own_receiver_shows_signed_events(stack: RunningStack) -> None:
    """The newcomer's path: register the console's built-in receiver and watch events arrive."""
    inbox = stack.info["console_url"] + "/webhooks/inbox"
    made = stack.api("POST", "/webhooks/endpoints", {"url": inbox, "event_types": ["message.delivered"]})
    assert made.status == 201, made.text
    numbers = [f"+8613711{i:06d}" for i in range(3)]
    sent = stack.api("POST", "/sms/send", {"to": numbers, "content": "console", "provider": "230sms"})
    ids = [m["message_id"] for m in sent.json()["messages"]]

    def shown() -> str | None:
        page = stack.request("GET", stack.info["console_url"] + "/webhooks")
        return page.text if all(i in page.text for i in ids) else None

    page = stack.wait_for("the console's receiver got every event", shown, timeout=60, every=0.5)
    assert page.count(f"verified: {made.json()['endpoint_id']}") >= len(ids)
    assert "NOT verified" not in page
    assert made.json()["endpoint_id"] in page  # the endpoints table, with its attempts
