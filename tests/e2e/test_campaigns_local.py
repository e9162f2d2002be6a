"""Campaigns through the running local stack: the API over HTTP, the list uploaded to Moto's S3 with
the presigned URL the API gave, the planner and the sender fed by the stack's SQS pollers, a
`send_at` fired by its scheduler."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.client import RunningStack


def finished(stack: RunningStack, campaign_id: str, timeout: float = 90.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        answer = stack.api("GET", f"/sms/campaigns/{campaign_id}")
        assert answer.status == 200, answer.text
        seen: dict[str, Any] = answer.json()
        return seen if seen["state"] in ("done", "cancelled") else None

    result: dict[str, Any] = stack.wait_for(f"campaign {campaign_id}", done, timeout=timeout, every=0.5)
    return result


def outcomes_counted(stack: RunningStack, campaign_id: str, expected: int) -> dict[str, int]:
    def counted() -> dict[str, int] | None:
        counts: dict[str, int] = stack.api("GET", f"/sms/campaigns/{campaign_id}").json()["counts"]
        return counts if counts["delivered"] + counts["failed"] >= expected else None

    result: dict[str, int] = stack.wait_for(f"outcomes of {campaign_id}", counted, timeout=120, every=0.5)
    return result


def test_an_inline_campaign_and_an_uploaded_one_run_to_done(stack: RunningStack) -> None:
    before = stack.sent_requests()
    numbers = [f"1390000{n:04d}" for n in range(2500)]
    created = stack.api(
        "POST",
        "/sms/campaigns",
        {"content": "hi", "kind": "notification", "provider": "230sms", "to": numbers},
    )
    assert created.status == 202, created.text
    seen = finished(stack, created.json()["campaign_id"])
    assert seen["state"] == "done"
    assert seen["counts"]["submitted"] == 2500 and seen["provider_requests"] == 3
    assert stack.sent_requests() - before == 3
    # The sandbox pushes each number's receipt; the table's stream counts them on the campaign (the
    # first hundred are enough here: the pushes, one number each, take a while).
    settled = outcomes_counted(stack, created.json()["campaign_id"], 100)
    assert 100 <= settled["delivered"] + settled["failed"] <= 2500

    draft = stack.api(
        "POST", "/sms/campaigns", {"content": "hi", "kind": "notification", "provider": "cmessages"}
    )
    assert draft.status == 201, draft.text
    listing = "phone\n" + "\n".join(f"+86137000{n:05d}" for n in range(250)) + "\nnot-a-number\n"
    put = stack.request("PUT", draft.json()["upload_url"], listing, {"Content-Type": "text/csv"})
    assert put.status == 200, put.text
    assert stack.api("POST", f"/sms/campaigns/{draft.json()['campaign_id']}/start").status == 202
    seen = finished(stack, draft.json()["campaign_id"])
    assert seen["counts"]["submitted"] == 250 and seen["counts"]["invalid"] == 1
    settled = outcomes_counted(stack, draft.json()["campaign_id"], 250)  # statuses the poller found
    assert settled["delivered"] + settled["failed"] == 250
    assert seen["provider_requests"] == 3  # cmessages: 100 a request
    assert stack.request("GET", seen["invalid_url"]).text.splitlines()[1].startswith("252,")


def test_a_scheduled_campaign_starts_at_its_time(stack: RunningStack) -> None:
    send_at = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    created = stack.api(
        "POST",
        "/sms/campaigns",
        {"content": "hi", "kind": "notification", "to": ["13812345678"], "send_at": send_at.isoformat()},
    )
    assert created.status == 202 and created.json()["state"] == "scheduled", created.text
    seen = finished(stack, created.json()["campaign_id"], timeout=60)
    assert seen["state"] == "done" and seen["counts"]["submitted"] == 1
    assert datetime.fromisoformat(seen["finished_at"]) >= send_at


def test_four_senders_and_two_send_callers_keep_the_account_under_its_rate(stack: RunningStack) -> None:
    """The sandbox refuses (105) a 101st request within any second. Unheld, the campaign's four
    senders and two `/sms/send` callers could reach it: the account's slots keep them under."""
    requests_before = len(stack.sandbox("sms230", "GET", "/_sandbox/requests"))
    tasks_before = stack.sandbox("sms230", "GET", "/_sandbox/state")["tasks"]
    draft = stack.api(
        "POST", "/sms/campaigns", {"content": "hi", "kind": "notification", "provider": "230sms"}
    )
    listing = "\n".join(str(13_500_000_000 + i) for i in range(150_000))
    assert (
        stack.request("PUT", draft.json()["upload_url"], listing, {"Content-Type": "text/plain"}).status
        == 200
    )
    assert stack.api("POST", f"/sms/campaigns/{draft.json()['campaign_id']}/start").status == 202

    def caller(first: int) -> list[int]:
        body = {"content": "hi", "provider": "230sms"}
        statuses = []
        for k in range(4):  # 8,000 recipients in all: under the key's 10,000 a minute
            to = [str(first + 10_000 * k + i) for i in range(1000)]
            statuses.append(stack.api("POST", "/sms/send", {**body, "to": to}).status)
        return statuses

    with ThreadPoolExecutor(2) as pool:
        statuses = [s for batch in pool.map(caller, (13_600_000_000, 13_700_000_000)) for s in batch]
    assert set(statuses) == {200}, [s for s in statuses if s != 200][:2]
    seen = finished(stack, draft.json()["campaign_id"], timeout=120)
    assert seen["counts"]["submitted"] == 150_000
    sends = [
        r
        for r in stack.sandbox("sms230", "GET", "/_sandbox/requests")[requests_before:]
        if r["path"] == "/outauth/send"
    ]
    assert len(sends) == 150 + 2 * 4
    assert stack.sandbox("sms230", "GET", "/_sandbox/state")["tasks"] - tasks_before == len(sends)  # no 105
    arrivals = sorted(float(r["at"]) for r in sends)
    busiest = max(sum(1 for t in arrivals[i:] if t - start < 1.0) for i, start in enumerate(arrivals))
    assert busiest <= 100
