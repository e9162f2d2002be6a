"""One requests-per-second limit per provider account, across every container (the document's
230sms code 105: "account default concurrency limit 100"): sends, verification codes and the
poller's queries of all Lambda containers count against the same slots.

Time is cut into slots of 125 ms, each allowing rate/8 requests (rounded down, at least one),
counted in one DynamoDB item per slot (limits table, `rate#<provider>#<account>#<slot>`): a request
adds one to its slot's `asked` and learns its place; the first rate/8 places go. Any one-second
window overlaps at most 9 slots, so at 95/s no second holds more than 9 x 11 = 99 requests. Eight
slots a second, not ten (9 places each, the same 99 at most): the largest API send, 10 requests,
fits in one slot and goes out at once instead of waiting for the next one for its last request.

Three things keep the writes few and the places used when many requests contend:
- A container asks once for all of its requests waiting at that moment, and for those announced
  as about to (the requests of a bulk send, the chunks of a campaign batch): the places it gets are
  used by those requests within the slot, and any left over when the slot ends are simply not used.
- A request over a full slot knows how many places were asked before it, so it waits for the slot
  where its turn comes (the 12th asker of an 11-place slot tries the next one, the 34th the one
  three on) instead of every loser asking the next slot together.
- Near the end of a slot, where the answer would arrive after the slot ends (asks are timed), the
  ask is for the next slot: places granted too late would be places lost. Likewise a request told
  its turn comes in a later slot asks for that slot at once (up to a second ahead), not when it
  begins: its answer is back by then, and the slot's first moments are used.
Slot items expire after a minute.
"""

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3

from smsgw.platform.config import settings
from smsgw.platform.observability import count
from smsgw.providers.pacing import use_shared_limit

SLOT_SECONDS = 0.125
ASK_AHEAD_SLOTS = 8  # a turn at most a second away is asked for at once; a later one when it nears


class AccountRate:
    def __init__(
        self,
        client: Any,
        table_name: str,
        provider: str,
        account: str,
        per_second: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.provider = provider
        # The account's public id, hashed: a key, not something to read back.
        self.key = f"rate#{provider}#{hashlib.sha256(account.encode()).hexdigest()[:16]}"
        self.per_slot = max(1, int(per_second * SLOT_SECONDS))
        self.clock = clock
        self.sleep = sleep
        self._asking = threading.Lock()  # one ask in flight per container; the others gather meanwhile
        self._counting = threading.Lock()
        self._waiting = 0  # this container's requests wanting a place now
        self._announced = 0  # and those about to (RequestPacer.coming)
        self._held = (0, 0)  # (slot, places) asked for together and not yet taken
        self._not_before = 0  # the slot where this container's turn comes next
        self._ask_seconds = 0.01  # how long an ask takes here, recently (a DynamoDB write, to start)

    def announce(self, requests: int) -> None:
        with self._counting:
            self._announced = max(0, self._announced + requests)

    def acquire(self, announced: list[int] | None = None) -> None:
        with self._counting:
            self._waiting += 1
            if announced and announced[0] > 0:  # it was asked for ahead: now it waits
                announced[0] -= 1
                self._announced = max(0, self._announced - 1)
        try:
            waited = False
            while (turn := self._take()) is not None:
                waited = True
                self.sleep(max(0.0, turn * SLOT_SECONDS - self.clock()))
            if waited:
                count("RateLimitWaits", 1, self.provider)
        finally:
            with self._counting:
                self._waiting -= 1

    def _take(self) -> int | None:
        """A place in the current slot (None): one held from this container's last ask, or one more
        ask for every request of this container waiting now (a batch's requests cost one write).
        Otherwise the slot to try again at."""
        with self._asking:
            now = self.clock()
            current = int(now / SLOT_SECONDS)
            held_slot, held = self._held
            if held and held_slot >= current:
                if held_slot > current:  # asked ahead: the places are for a slot still to come
                    return held_slot
                self._held = (current, held - 1)
                return None
            slot = max(current, self._not_before)
            if slot == current and (current + 1) * SLOT_SECONDS - now < self._ask_seconds:
                slot += 1  # the answer would come after this slot ends, with its places unusable
            while True:
                granted = self._ask_in(slot)
                now_slot = int(self.clock() / SLOT_SECONDS)
                if granted and slot == now_slot:
                    self._held = (slot, granted - 1)
                    return None
                if granted and slot > now_slot:  # granted for a slot to come: wait for it
                    return slot
                # No place (or one granted after its slot ended: lost). The turn comes at _not_before:
                # ask for it now, while it is ahead, so that the answer is back when it begins.
                slot = self._not_before
                if not now_slot < slot <= now_slot + ASK_AHEAD_SLOTS:
                    return slot

    def _ask_in(self, slot: int) -> int:
        """One ask for every request of this container waiting now: how many places it got in `slot`.
        Everyone in the slot's line so far comes first: this container's next turn is after them."""
        started = self.clock()
        wanted = min(self._waiting + self._announced, self.per_slot)
        last = self._ask(slot, wanted)
        self._ask_seconds = 0.8 * self._ask_seconds + 0.2 * max(0.0, self.clock() - started)
        first = last - wanted + 1
        granted = max(0, min(last, self.per_slot) - first + 1)
        self._not_before = slot + (last if granted else first - 1) // self.per_slot
        self._held = (slot, granted)
        return granted

    def _ask(self, slot: int, places: int) -> int:
        """Ask for `places` more places in `slot`: the last of them in the slot's line (1-based)."""
        answer = self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"{self.key}#{slot}"}},
            UpdateExpression="ADD asked :n SET expires_at = if_not_exists(expires_at, :expires)",
            ExpressionAttributeValues={
                ":n": {"N": str(places)},
                ":expires": {"N": str(int(slot * SLOT_SECONDS) + 60)},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["asked"]["N"])


def install() -> None:
    """Hold every paced provider account to its rate across containers (the limits table)."""
    table = settings().limits_table
    use_shared_limit(functools.partial(_account_rate, table) if table else None)


def _account_rate(table: str, provider: str, account: str, per_second: float) -> AccountRate:
    return AccountRate(boto3.client("dynamodb"), table, provider, account, per_second)
