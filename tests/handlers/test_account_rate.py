"""One requests-per-second limit per provider account across containers (DynamoDB slots of 125 ms):
counted in the limits table, shared by separate containers, and used by every paced request."""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from local_stack.lambdas import reset_caches
from smsgw.providers import account_rate
from smsgw.providers.account_rate import AccountRate
from smsgw.providers.pacing import RequestPacer
from tests.conftest import cn_numbers
from tests.handlers.conftest import Invoke, Stack, body, event
from tests.handlers.test_verification import OneCallAtATime


class Clock:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def asked(stack: Stack) -> dict[str, int]:
    """Per slot item: how many requests asked for a place in it."""
    table = boto3.resource("dynamodb").Table(stack.env["LIMITS_TABLE"])
    return {str(i["pk"]): int(i["asked"]) for i in table.scan()["Items"] if str(i["pk"]).startswith("rate#")}


def slots(stack: Stack, per_slot: int = 11) -> dict[str, int]:
    """Per slot item: the places it gave (the first `per_slot` askers)."""
    return {key: min(n, per_slot) for key, n in asked(stack).items()}


def rate(stack: Stack, client: Any, clock: Clock, per_second: float = 95) -> AccountRate:
    return AccountRate(
        client, stack.env["LIMITS_TABLE"], "230sms", "acct", per_second, clock=clock, sleep=clock.sleep
    )


def test_a_slot_holds_a_tenth_of_the_rate_and_the_next_request_waits_for_the_next(stack: Stack) -> None:
    clock = Clock()
    limit = rate(stack, boto3.client("dynamodb"), clock)
    for _ in range(30):
        limit.acquire()
    assert sorted(slots(stack).values()) == [8, 11, 11]  # 95/s: 11 per 125 ms
    assert sorted(asked(stack).values()) == [8, 11, 11]  # a full slot is known: no ask is refused
    assert 0.25 <= clock.now - 1_800_000_000.0 < 0.375  # waited two slot boundaries, no more


def test_requests_announced_together_cost_one_ask(stack: Stack) -> None:
    """A send's ten requests are announced before its threads start: the first to arrive asks for
    all ten places, and the other nine take theirs with no write. Unannounced, one after another,
    each would ask alone. Announced requests that never come are withdrawn from later asks."""
    clock = Clock()
    client = CountingClient(boto3.client("dynamodb"))
    pacer = RequestPacer(95, rate(stack, client, clock))
    with pacer.coming(10):
        for _ in range(10):
            pacer.wait()
    assert client.asks == [10] and list(asked(stack).values()) == [10]
    clock.sleep(0.125)  # the next slot
    with pacer.coming(10):
        for _ in range(4):  # the other six were refused before pacing, say
            pacer.wait()
    clock.sleep(0.125)
    pacer.wait()  # alone now: asks for itself only
    assert client.asks == [10, 10, 1]
    client.asks.clear()
    clock.sleep(0.125)
    for _ in range(3):
        pacer.wait()
    assert client.asks == [1, 1, 1]


class CountingClient:
    """A DynamoDB client that notes how many places each rate ask asked for."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.asks: list[int] = []

    def update_item(self, **call: Any) -> Any:
        self.asks.append(int(call["ExpressionAttributeValues"][":n"]["N"]))
        return self.client.update_item(**call)


def test_two_containers_share_the_account_s_slots(stack: Stack) -> None:
    clock = Clock()
    first, second = (rate(stack, boto3.client("dynamodb"), clock) for _ in range(2))
    for _ in range(11):
        first.acquire()
    second.acquire()  # the slot is full: the other container's request goes in the next one
    assert sorted(slots(stack).values()) == [1, 11]
    assert clock.now > 1_800_000_000.0


def test_concurrent_containers_never_exceed_a_slot(stack: Stack) -> None:
    """Four "containers" (pacers of their own) send 40 requests at 20/s to the sandbox at once."""
    client = OneCallAtATime(boto3.client("dynamodb"))
    pacers = [
        RequestPacer(20, AccountRate(client, stack.env["LIMITS_TABLE"], "230sms", "a", 20)) for _ in range(4)
    ]
    sent = threading.Lock()
    count = [0]

    def container(pacer: RequestPacer) -> None:
        for _ in range(10):
            pacer.wait()
            with sent:
                count[0] += 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(container, pacers))
    used = slots(stack, per_slot=2)
    # Every request had a place; a place granted after its slot ended is lost, never used late.
    assert count[0] == 40 <= sum(used.values())
    assert max(used.values()) <= 2  # 20/s: 2 per 125 ms, whichever container asked
    assert len(used) >= 20


def test_a_request_behind_a_crowd_waits_for_its_own_turn_not_the_next_slot(stack: Stack) -> None:
    """33 requests asked this 11-place slot first: the 34th's turn is three slots on. It asks for that
    slot at once, before it begins (the answer is back when it starts), and sleeps until then,
    instead of asking every slot on the way with the whole crowd."""
    clock = Clock()
    limit = rate(stack, boto3.client("dynamodb"), clock)
    first = int(clock() / 0.125)
    for _ in range(33):
        limit._ask(first, 1)
    asks: list[tuple[int, float]] = []
    real_ask = limit._ask

    def timed_ask(slot: int, places: int) -> int:
        asks.append((slot, clock()))
        return real_ask(slot, places)

    limit._ask = timed_ask  # type: ignore[method-assign]
    limit.acquire()
    assert round(clock() / 0.125) == first + 3
    assert sorted(asked(stack).values()) == [1, 34]  # this slot and the one three on; none between
    assert [slot for slot, _ in asks] == [first, first + 3]
    assert asks[1][1] < (first + 1) * 0.125  # asked within the first slot, not when its own began


def test_a_container_asks_once_for_all_of_its_requests_waiting_together(stack: Stack) -> None:
    """Ten requests of one container (a campaign batch) want places at once: while one ask is in
    flight the others gather, and the next ask is for all of them. No slot gives more than 11."""
    client = OneCallAtATime(boto3.client("dynamodb"))
    asks: list[int] = []
    real_ask = AccountRate._ask

    class Counted(AccountRate):
        def _ask(self, slot: int, places: int) -> int:
            if not asks:  # the first ask is in flight until every other request waits (however slow
                # the machine is to start their threads): the point is what the next ask is for
                deadline = time.monotonic() + 10
                while self._waiting < 10 and time.monotonic() < deadline:
                    time.sleep(0.001)
            asks.append(places)
            return real_ask(self, slot, places)

        def _take(self) -> int | None:
            turn = super()._take()
            if turn is None:  # a place: the slot it was taken in, as the limiter saw it
                granted_in.append(int(self.clock() / 0.125))
            return turn

    limit = Counted(client, stack.env["LIMITS_TABLE"], "230sms", "batch", 95)
    gate = threading.Barrier(10)
    granted_in: list[int] = []

    def request(_: int) -> None:
        gate.wait()
        limit.acquire()

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(request, range(10)))
    assert len(granted_in) == 10
    assert max(Counter(granted_in).values()) <= 11
    assert sum(min(n, 11) for n in asked(stack).values()) >= 10
    assert len(asks) <= 4 and max(asks) > 1  # not one write per request


def test_every_230sms_request_takes_a_place_in_the_account_s_rate(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    serialised = OneCallAtATime(boto3.client("dynamodb"))  # the send's requests run in parallel

    def serialised_rate(table: str, provider: str, account: str, per_second: float) -> AccountRate:
        return AccountRate(serialised, table, provider, account, per_second)

    monkeypatch.setattr(account_rate, "_account_rate", serialised_rate)
    reset_caches()
    response = invoke("send", event("send", {"to": cn_numbers(2500), "content": "hi", "provider": "230sms"}))
    assert body(response)["summary"]["submitted"] == 2500
    # A place granted after its slot ended is lost, never used late: places >= requests.
    assert len(stack.sms230.recorded("/outauth/send")) == 3 <= sum(slots(stack).values())


def test_the_unpaced_provider_takes_no_place(stack: Stack, invoke: Invoke) -> None:
    invoke("send", event("send", {"to": cn_numbers(250), "content": "hi", "provider": "cmessages"}))
    assert slots(stack) == {}
