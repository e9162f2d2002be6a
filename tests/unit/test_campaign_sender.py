"""The campaign sender's accounting on in-memory parts (fakes.py): its chunks end sent, duplicate,
cancelled, unknown or waiting, and each lands in its campaign's counters exactly once. The DynamoDB
expressions behind the real table are proved against Moto in tests/handlers/test_campaigns.py."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from smsgw.campaigns.model import Chunk, Paused, StillSending
from smsgw.campaigns.sender import IN_FLIGHT_SECONDS, Sender
from smsgw.campaigns.table import TRANSACTION_ITEMS, chunk_counts, transactions
from smsgw.domain.numbers import Recipient
from smsgw.domain.statuses import CampaignKind, CampaignState, Kind, Status
from smsgw.platform.config import Settings
from smsgw.platform.errors import OutcomeUnknown, ProviderError, ProviderRejected
from smsgw.storage.messages import ProviderRequest
from tests.unit.fakes import FakeCampaignTable, providers

NOON_BEIJING = datetime(2026, 12, 1, 4, 0, tzinfo=UTC).timestamp()
NIGHT_BEIJING = datetime(2026, 12, 1, 14, 0, tzinfo=UTC).timestamp()  # 22:00 in Beijing
CONFIG = Settings(messages_table="messages", callback_token_secret_id="token")


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def numbers(first: int, count: int) -> list[str]:
    return [f"+86138{first + n:08d}" for n in range(count)]


def setup(
    behaviour: Any = None, kind: CampaignKind = CampaignKind.NOTIFICATION, at: float = NOON_BEIJING
) -> tuple[Sender, FakeCampaignTable, Any]:
    clock = Clock(at)
    table = FakeCampaignTable(lambda: datetime.fromtimestamp(clock(), UTC))
    fakes = providers(a=behaviour or (lambda chunk: None))
    sender = Sender(CONFIG, table, providers=fakes.__getitem__, clock=clock)  # type: ignore[arg-type]
    table.campaigns["cmp-1"] = {
        "state": str(CampaignState.RUNNING),
        "kind": str(kind),
        "content": "hello",
        "provider": "a",
        "tenant": "t",
        "chunks_done": 0,
        "chunks_total": 3,
    }
    return sender, table, fakes


def test_each_chunk_is_sent_once_and_counted_once() -> None:
    sender, table, fakes = setup()
    chunks = [Chunk("cmp-1", i, numbers(i * 10, 10)) for i in range(3)]
    copy = Chunk("cmp-1", 1, chunks[1].numbers, message_id="copy")  # SQS put it in the batch twice
    ended = sender.send_chunks([*chunks, copy])
    assert [ended[c] for c in chunks] == ["sent"] * 3
    assert next(o for c, o in ended.items() if c.message_id == "copy") == "duplicate"
    assert len(fakes["a"].calls) == 3
    campaign = table.campaigns["cmp-1"]
    assert (campaign["n_submitted"], campaign["chunks_done"], campaign["provider_requests"]) == (30, 3, 3)
    assert campaign["state"] == CampaignState.DONE
    assert all(r.request_id == "cmp-1" and r.tenant == "t" and r.kind is Kind.BULK for r in table.recorded)
    # Delivered again later (SQS at least once): nothing is sent or counted twice.
    assert set(sender.send_chunks(chunks).values()) == {"duplicate"}
    assert len(fakes["a"].calls) == 3 and table.campaigns["cmp-1"]["n_submitted"] == 30


def test_refused_numbers_and_an_unknown_chunk_are_counted_apart() -> None:
    bad = "+8613800000003"

    def answers(chunk: Sequence[Recipient]) -> ProviderError | None:
        if chunk[0].e164.endswith("20"):
            return OutcomeUnknown("a", "read timeout")
        if any(r.e164 == bad for r in chunk):
            return ProviderRejected("a", "invalid number", "1008", per_number=True)
        return None

    sender, table, _ = setup(answers)
    chunks = [Chunk("cmp-1", i, numbers(i * 10, 10)) for i in range(3)]
    assert set(sender.send_chunks(chunks).values()) == {"sent"}
    campaign = table.campaigns["cmp-1"]
    assert (campaign["n_submitted"], campaign["n_rejected"], campaign["n_unknown"]) == (19, 1, 10)
    unknown = [r for r in table.recorded if r.status is Status.UNKNOWN]
    assert [len(r.numbers) for r in unknown] == [10]


def test_a_cancelled_campaign_sends_nothing() -> None:
    sender, table, fakes = setup()
    table.campaigns["cmp-1"]["state"] = str(CampaignState.CANCELLED)
    assert sender.send_chunks([Chunk("cmp-1", 0, numbers(0, 5))]) == {Chunk("cmp-1", 0, []): "cancelled"}
    assert fakes["a"].calls == [] and table.recorded == []


def test_a_marketing_chunk_waits_for_the_window_and_pauses_its_campaign() -> None:
    sender, table, fakes = setup(kind=CampaignKind.MARKETING, at=NIGHT_BEIJING)
    (outcome,) = sender.send_chunks([Chunk("cmp-1", 0, numbers(0, 5))]).values()
    assert isinstance(outcome, Paused) and outcome.seconds == 10 * 3600  # 22:00 -> 08:00
    assert table.campaigns["cmp-1"]["state"] == CampaignState.PAUSED and fakes["a"].calls == []


def test_a_chunk_begun_by_a_sender_that_died_ends_unknown_never_sent_again() -> None:
    sender, table, fakes = setup()
    chunk = Chunk("cmp-1", 0, numbers(0, 5))
    table.intend([chunk])  # begun, then its sender died before recording
    (waiting,) = sender.send_chunks([chunk]).values()
    assert isinstance(waiting, StillSending)  # it may still be at work
    sender.clock.at += IN_FLIGHT_SECONDS + 1  # type: ignore[attr-defined]
    assert sender.send_chunks([chunk]) == {chunk: "unknown"}
    assert fakes["a"].calls == []
    assert table.campaigns["cmp-1"]["n_unknown"] == 5 and table.campaigns["cmp-1"]["chunks_done"] == 1


def test_a_chunk_counts_what_it_adds_to_its_campaign() -> None:
    submitted = ProviderRequest("a", "k1", numbers(0, 10), Status.SUBMITTED, "c", Kind.BULK, 1, taken=8)
    unknown = ProviderRequest("a", "k2", numbers(10, 5), Status.UNKNOWN, "c", Kind.BULK, 1)
    assert chunk_counts([submitted, unknown], refused=3) == {
        "n_submitted": 8,
        "n_unknown": 5,
        "n_rejected": 3 + 2,  # refused, and dropped by the provider
        "chunks_done": 1,
        "provider_requests": 1,  # an unknown request may not have reached the provider
    }


@pytest.mark.parametrize("requests_per_chunk", [1, 7, 49, 98])
def test_chunks_are_grouped_into_transactions_that_fit_and_never_split(requests_per_chunk: int) -> None:
    request = ProviderRequest("a", "k", ["+8613800000000"], Status.SUBMITTED, "c", Kind.BULK, 1)
    sent = [(Chunk("cmp-1", i, []), [request] * requests_per_chunk, 0) for i in range(20)]
    groups = transactions(sent)
    assert [entry for group in groups for entry in group] == sent
    assert all(sum(len(e[1]) + 2 for e in group) <= TRANSACTION_ITEMS for group in groups)
    assert all(len(group) >= 1 for group in groups)
