"""A tenant's blocked numbers as one set item: a large send reads it once instead of a key per
recipient, from a fresh table's first moment; an overflowing set or a small send reads each
recipient's key."""

from typing import Any

import boto3
import pytest

from smsgw.domain.numbers import Recipient, parse_number, recipient_hash
from smsgw.guards import blocklist as bl
from tests.handlers.conftest import Invoke, Stack, body, event
from tests.handlers.test_tenants import as_key, block

NUMBERS = [f"+86138{n:08d}" for n in range(150)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def lists(stack: Stack, clock: Clock) -> bl.Blocklist:
    return bl.Blocklist(stack.env["BLOCKLIST_TABLE"], clock)


def recipients(numbers: list[str] = NUMBERS) -> list[Recipient]:
    return [parse_number(n) for n in numbers]


def calls_of(blocklist: bl.Blocklist) -> list[str]:
    calls: list[str] = []
    blocklist.client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def set_item(stack: Stack, tenant: str | None) -> dict[str, Any]:
    key = f"blockset#{tenant}" if tenant else "blockset#"
    answer = boto3.client("dynamodb").get_item(TableName=stack.env["BLOCKLIST_TABLE"], Key={"pk": {"S": key}})
    return dict(answer.get("Item", {}))


def test_a_large_send_reads_the_set_once(stack: Stack) -> None:
    clock = Clock()
    blocklist = lists(stack, clock)
    everyone = recipients()
    blocklist.block(everyone[7], "stop", "t1")
    blocklist.block(everyone[99], "stop", "t1")
    blocklist.block(everyone[3], "stop", "t2")  # another tenant's list
    calls = calls_of(blocklist)
    assert blocklist.blocked(everyone, "t1") == {everyone[7], everyone[99]}
    assert calls == ["BatchGetItem"]
    assert set(set_item(stack, "t1")["keys"]["SS"]) == {
        recipient_hash(everyone[7]),
        recipient_hash(everyone[99]),
    }


def test_unblock_leaves_the_set_and_reports_what_it_removed(stack: Stack) -> None:
    clock = Clock()
    blocklist = lists(stack, clock)
    everyone = recipients()
    blocklist.block(everyone[1], "stop", None)
    blocklist.block(everyone[1], "again", None)  # re-blocking keeps one member
    blocklist.block(everyone[2], "stop", None)
    assert blocklist.unblock(everyone[1], None) is True
    assert blocklist.unblock(everyone[1], None) is False
    assert blocklist.blocked(everyone, None) == {everyone[2]}
    assert set_item(stack, None)["keys"]["SS"] == [recipient_hash(everyone[2])]
    assert blocklist.unblock(everyone[2], None) is True
    assert blocklist.blocked(everyone, None) == set()
    assert "keys" not in set_item(stack, None)  # DynamoDB has no empty set


def test_an_overflowing_set_falls_back_to_each_key(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bl, "SET_CAP", 3)
    clock = Clock()
    blocklist = lists(stack, clock)
    everyone = recipients()
    for r in everyone[:5]:
        blocklist.block(r, "stop", "t1")
    assert set_item(stack, "t1")["overflow"] == {"BOOL": True}
    assert "keys" not in set_item(stack, "t1")
    calls = calls_of(blocklist)
    assert blocklist.blocked(everyone, "t1") == set(everyone[:5])
    assert calls == ["BatchGetItem"] * 3


def test_small_sends_read_their_own_keys(stack: Stack) -> None:
    clock = Clock()
    blocklist = lists(stack, clock)
    everyone = recipients()[: bl.PER_KEY_BELOW - 1]
    blocklist.block(everyone[0], "stop", None)
    calls = calls_of(blocklist)
    assert blocklist.blocked(everyone, None) == {everyone[0]}
    assert calls == ["BatchGetItem"]


def test_a_send_honours_the_set_from_a_fresh_tables_first_moment(stack: Stack, invoke: Invoke) -> None:
    assert invoke("blocklist", block(NUMBERS[4], "key-a"))["statusCode"] == 200
    assert invoke("blocklist", block(NUMBERS[9], "key-a"))["statusCode"] == 200
    answer = body(invoke("send", as_key(event("send", {"to": NUMBERS, "content": "hi"}), "key-a")))
    statuses = {m["to"]: m["status"] for m in answer["messages"]}
    assert statuses[NUMBERS[4]] == statuses[NUMBERS[9]] == "blocked"
    assert list(statuses.values()).count("blocked") == 2
