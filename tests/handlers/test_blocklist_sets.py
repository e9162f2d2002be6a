"""A tenant's blocked numbers as one set item: a large send reads it once instead of a key per
recipient. Entries from before sets existed are indexed by the poller, after a wait; an overflowing
set, an unindexed table or a small send read each recipient's key, as before."""

from typing import Any

import boto3
import pytest

from smsgw import blocklist as bl
from smsgw.caller import tenant_of
from smsgw.limits import number_key
from smsgw.numbers import Recipient, parse_number
from tests.handlers.conftest import Invoke, Stack, body, event
from tests.handlers.test_tenants import as_key, block

NUMBERS = [f"+86138{n:08d}" for n in range(150)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def lists(stack: Stack, clock: Clock) -> bl.Blocklist:
    return bl.Blocklist(stack.env["LIMITS_TABLE"], clock)


def recipients(numbers: list[str] = NUMBERS) -> list[Recipient]:
    return [parse_number(n) for n in numbers]


def index(blocklist: bl.Blocklist, clock: Clock) -> None:
    assert (
        blocklist.index_existing() == "waiting"
    )  # first sight: containers of the old version may still write
    clock.now += bl.INDEX_AFTER_S - 1
    assert blocklist.index_existing() == "waiting"
    clock.now += 1
    assert blocklist.index_existing() == "done"


def legacy_entry(stack: Stack, number: str, tenant: str | None) -> None:
    """An entry as the version before sets wrote it: no set item."""
    key = number_key(parse_number(number))
    pk = f"block#{tenant}#{key}" if tenant else f"block#{key}"
    item = {"pk": {"S": pk}, "number_masked": {"S": "x"}, "reason": {"S": ""}, "blocked_at": {"N": "1"}}
    boto3.client("dynamodb").put_item(TableName=stack.env["LIMITS_TABLE"], Item=item)


def calls_of(blocklist: bl.Blocklist) -> list[str]:
    calls: list[str] = []
    blocklist.client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def set_item(stack: Stack, tenant: str | None) -> dict[str, Any]:
    key = f"blockset#{tenant}" if tenant else "blockset#"
    answer = boto3.client("dynamodb").get_item(TableName=stack.env["LIMITS_TABLE"], Key={"pk": {"S": key}})
    return dict(answer.get("Item", {}))


def test_a_large_send_reads_the_set_once(stack: Stack) -> None:
    clock = Clock()
    blocklist = lists(stack, clock)
    index(blocklist, clock)
    everyone = recipients()
    blocklist.block(everyone[7], "stop", "t1")
    blocklist.block(everyone[99], "stop", "t1")
    blocklist.block(everyone[3], "stop", "t2")  # another tenant's list
    calls = calls_of(blocklist)
    assert blocklist.blocked(everyone, "t1") == {everyone[7], everyone[99]}
    assert calls == ["BatchGetItem"]
    assert set(set_item(stack, "t1")["keys"]["SS"]) == {number_key(everyone[7]), number_key(everyone[99])}


def test_unblock_leaves_the_set_and_reports_what_it_removed(stack: Stack) -> None:
    clock = Clock()
    blocklist = lists(stack, clock)
    index(blocklist, clock)
    everyone = recipients()
    blocklist.block(everyone[1], "stop", None)
    blocklist.block(everyone[1], "again", None)  # re-blocking keeps one member
    blocklist.block(everyone[2], "stop", None)
    assert blocklist.unblock(everyone[1], None) is True
    assert blocklist.unblock(everyone[1], None) is False
    assert blocklist.blocked(everyone, None) == {everyone[2]}
    assert set_item(stack, None)["keys"]["SS"] == [number_key(everyone[2])]
    assert blocklist.unblock(everyone[2], None) is True
    assert blocklist.blocked(everyone, None) == set()
    assert "keys" not in set_item(stack, None)  # DynamoDB has no empty set


def test_entries_from_before_sets_are_honoured_before_and_after_indexing(stack: Stack) -> None:
    clock = Clock()
    blocklist = lists(stack, clock)
    everyone = recipients()
    legacy_entry(stack, NUMBERS[5], "t1")
    legacy_entry(stack, NUMBERS[6], None)
    blocklist.block(everyone[8], "stop", "t1")  # the new version, before indexing
    calls = calls_of(blocklist)
    # Not indexed yet: the set cannot be trusted, so each recipient's key is read.
    assert blocklist.blocked(everyone, "t1") == {everyone[5], everyone[8]}
    assert calls == ["BatchGetItem"] * 3  # the set and marker, then 150 keys in 2 reads
    index(blocklist, clock)
    calls.clear()
    assert blocklist.blocked(everyone, "t1") == {everyone[5], everyone[8]}
    assert blocklist.blocked(everyone, None) == {everyone[6]}
    assert calls == ["BatchGetItem"] * 2


def test_an_entry_unblocked_while_the_scan_ran_stays_out_of_the_set(stack: Stack) -> None:
    clock = Clock()
    blocklist = lists(stack, clock)
    legacy_entry(stack, NUMBERS[5], "t1")
    key = f"block#t1#{number_key(parse_number(NUMBERS[5]))}"
    boto3.client("dynamodb").delete_item(TableName=stack.env["LIMITS_TABLE"], Key={"pk": {"S": key}})
    blocklist._index_one(key)  # what the scan saw a moment before the unblock
    assert set_item(stack, "t1") == {}


def test_the_index_resumes_where_its_deadline_stopped_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    blocklist = lists(stack, clock)
    for number in NUMBERS[:30]:
        legacy_entry(stack, number, "t1")
    pages: list[int] = []
    scan = blocklist.client.scan

    def small_pages(**kwargs: Any) -> Any:
        answer = scan(Limit=10, **kwargs)
        pages.append(len(answer["Items"]))
        return answer

    monkeypatch.setattr(blocklist.client, "scan", small_pages)
    assert blocklist.index_existing() == "waiting"
    clock.now += bl.INDEX_AFTER_S
    assert blocklist.index_existing(deadline_s=0) == "indexing"  # one page, then the deadline
    assert len(pages) == 1
    fresh = lists(stack, clock)  # another container carries on from the stored cursor
    monkeypatch.setattr(fresh.client, "scan", small_pages)
    assert fresh.index_existing() == "done"
    assert sum(pages) == 30  # every entry scanned once
    assert len(set_item(stack, "t1")["keys"]["SS"]) == 30
    assert fresh.blocked(recipients(), "t1") == set(recipients()[:30])


def test_an_overflowing_set_falls_back_to_each_key(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bl, "SET_CAP", 3)
    clock = Clock()
    blocklist = lists(stack, clock)
    index(blocklist, clock)
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
    index(blocklist, clock)
    everyone = recipients()[: bl.PER_KEY_BELOW - 1]
    blocklist.block(everyone[0], "stop", None)
    calls = calls_of(blocklist)
    assert blocklist.blocked(everyone, None) == {everyone[0]}
    assert calls == ["BatchGetItem"]


def test_the_poller_indexes_and_a_send_honours_the_set(stack: Stack, invoke: Invoke) -> None:
    assert invoke("blocklist", block(NUMBERS[4], "key-a"))["statusCode"] == 200
    legacy_entry(stack, NUMBERS[9], tenant_of("key-a"))
    invoke("poll_status", {})
    marker = boto3.client("dynamodb").get_item(
        TableName=stack.env["LIMITS_TABLE"], Key={"pk": {"S": bl.INDEXED}}
    )["Item"]
    assert "first_seen" in marker and "done" not in marker
    answer = body(invoke("send", as_key(event("send", {"to": NUMBERS, "content": "hi"}), "key-a")))
    statuses = {m["to"]: m["status"] for m in answer["messages"]}
    assert statuses[NUMBERS[4]] == statuses[NUMBERS[9]] == "blocked"
    assert list(statuses.values()).count("blocked") == 2
