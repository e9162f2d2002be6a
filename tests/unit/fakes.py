"""In-memory stand-ins for the send path's seams: providers (a real `Provider` subclass whose
requests go nowhere) and the campaign table. No Moto, no network: what these tests prove is the
logic around them (failover order, certainty, bad-number isolation, chunk accounting)."""

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from smsgw.campaigns.model import Chunk
from smsgw.campaigns.table import SentChunk, chunk_counts
from smsgw.domain.numbers import Recipient
from smsgw.domain.statuses import CampaignState
from smsgw.platform.errors import ProviderError
from smsgw.providers.base import NO_OPTIONS, Accepted, ChunkFailure, Provider, Receipts, SendOutcome, Task
from smsgw.providers.model import ProviderSettings
from smsgw.storage.items import now_iso
from smsgw.storage.messages import ProviderRequest

# What a fake provider does with one request: None (taken) or the error it answers.
Behaviour = Callable[[Sequence[Recipient]], ProviderError | None]
_ids = itertools.count(1)


def takes_all(chunk: Sequence[Recipient]) -> ProviderError | None:
    return None


class FakeProvider(Provider):
    """A provider whose every request is answered by `behaviour`, and remembered in `calls`."""

    env_prefix = "FAKE"
    default_base_url = "memory://"
    id_per_request = True
    batch_cap = 100
    receipts = Receipts.PUSHED
    codes: Mapping[str, Any] = {}

    def __init__(self, behaviour: Behaviour = takes_all, batch_size: int = 100) -> None:
        settings = ProviderSettings("memory://", "", batch_size, None, concurrency=1)
        super().__init__(settings, {})
        self.behaviour = behaviour
        self.calls: list[list[str]] = []

    def credentials(self, secret: Mapping[str, str]) -> str:
        return "account"

    def address(self, recipient: Recipient) -> str:
        return recipient.e164

    def send_chunk(
        self, chunk: Sequence[Recipient], content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> SendOutcome:
        self.calls.append([r.e164 for r in chunk])
        outcome = SendOutcome(self.name, requests=1)
        if (error := self.behaviour(chunk)) is not None:
            outcome.failures.append(ChunkFailure(list(chunk), error))
        else:
            outcome.tasks.append(Task(f"{self.name}-{next(_ids)}", list(chunk)))
        return outcome

    def send_verify(
        self, recipient: Recipient, content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> Accepted:
        self.calls.append([recipient.e164])
        if (error := self.behaviour([recipient])) is not None:
            raise error
        return Accepted(recipient, f"{self.name}-{next(_ids)}")


def providers(**behaviours: Behaviour) -> dict[str, FakeProvider]:
    """Fake providers by name, in order, each a class of its own (a provider's name is its class's)."""
    made = {}
    for name, behaviour in behaviours.items():
        cls = type(f"Fake_{name}", (FakeProvider,), {"name": name, "id_prefix": name})
        made[name] = cls(behaviour)
    return made


class FakeCampaignTable:
    """The campaign table's contract in memory: campaigns, intent markers, recorded requests."""

    def __init__(self, now: Callable[[], Any]) -> None:
        self.now = now
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.markers: dict[tuple[str, int], dict[str, Any]] = {}
        self.recorded: list[ProviderRequest] = []

    def get(self, campaign_id: str) -> dict[str, Any] | None:
        item = self.campaigns.get(campaign_id)
        return dict(item) if item else None

    def set_state(
        self,
        campaign_id: str,
        state: CampaignState,
        only_from: tuple[CampaignState, ...] = (),
        extra_condition: str = "",
        **extra: str,
    ) -> bool:
        item = self.campaigns[campaign_id]
        ended = (CampaignState.DONE, CampaignState.CANCELLED)
        if (only_from and item["state"] not in only_from) or (not only_from and item["state"] in ended):
            return False
        item.update(state=str(state), **extra)
        return True

    def close_if_done(self, campaign_id: str) -> None:
        item = self.campaigns[campaign_id]
        if "chunks_total" in item and item["chunks_done"] >= item["chunks_total"]:
            self.set_state(campaign_id, CampaignState.DONE, (CampaignState.RUNNING, CampaignState.PAUSED))

    def intend(self, chunks: list[Chunk]) -> list[str]:
        found = []
        for chunk in chunks:
            if self.campaigns[chunk.campaign_id]["state"] == CampaignState.CANCELLED:
                found.append("cancelled")
            elif (chunk.campaign_id, chunk.index) in self.markers:
                found.append("again")
            else:
                self.markers[(chunk.campaign_id, chunk.index)] = {
                    "state": "sending",
                    "started_at": now_iso(self.now()),
                }
                found.append("begun")
        return found

    def marker(self, chunk: Chunk) -> dict[str, Any]:
        return self.markers[(chunk.campaign_id, chunk.index)]

    def finish(self, sent: list[SentChunk]) -> None:
        for chunk, requests, refused in sent:
            self.recorded += requests
            self.markers[(chunk.campaign_id, chunk.index)]["state"] = "done"
            item = self.campaigns[chunk.campaign_id]
            for counter, value in chunk_counts(requests, refused).items():
                item[counter] = item.get(counter, 0) + value
        for campaign_id in dict.fromkeys(chunk.campaign_id for chunk, _, _ in sent):
            self.close_if_done(campaign_id)
