"""The sender (one batch of the chunk queue): each chunk sent once, at the provider account's rate,
inside the marketing window. A chunk's intent marker is written before its provider call, so a
redelivered chunk is never sent twice: one whose marker says it began but never finished reads
`unknown`. A batch's chunks are begun, sent and recorded together (a DynamoDB transaction each way).

The dispatch (providers) and the campaign table are arguments: a fake can stand in for either."""

import contextlib
import contextvars
import functools
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3

from smsgw.campaigns.model import Chunk, Paused, StillSending, Waiting, closed_for
from smsgw.campaigns.table import CampaignTable, SentChunk
from smsgw.domain.content import count_segments
from smsgw.domain.numbers import trusted_e164
from smsgw.domain.statuses import CampaignKind, CampaignState, Kind, Status
from smsgw.platform.config import ConfigError, Settings, settings
from smsgw.platform.errors import NothingSent, ValidationError
from smsgw.platform.observability import count, logger
from smsgw.providers.registry import order, provider
from smsgw.sending.dispatch import Providers, dispatch_and_describe
from smsgw.sending.request import SendRequest
from smsgw.storage.items import unknown_request_key
from smsgw.storage.messages import ProviderRequest, message_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

CHUNK_VIEW_SECONDS = 1.0  # how old a sender's view of its campaign's state may be
# Longer than a sender invocation can last (the template's Timeout, 60 s): an intent marker older
# than this, still not done, was left by a sender that died.
IN_FLIGHT_SECONDS = 90.0
MAX_VISIBILITY_S = 12 * 3600  # SQS's limit; a longer night is waited out in steps

Dispatcher = Callable[..., tuple[list[ProviderRequest], int]]  # dispatch_and_describe's shape


class Sender:
    def __init__(
        self,
        config: Settings,
        table: CampaignTable,
        *,
        providers: Providers = provider,
        dispatcher: Dispatcher = dispatch_and_describe,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.table, self.providers, self.dispatcher = config, table, providers, dispatcher
        self.clock = clock
        self._seen: dict[str, tuple[float, dict[str, Any]]] = {}  # see _campaign_for_chunk

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def send_chunks(self, chunks: list[Chunk]) -> dict[Chunk, "str | Exception"]:
        """One invocation's chunks: begun together (one transaction of intent markers), sent
        concurrently at the account's shared rate, recorded together (one transaction). Each chunk
        ends "sent", "duplicate", "unknown" or "cancelled", or waits (Paused outside a marketing
        window, StillSending while another sender may hold it): its message comes back later."""
        ended: dict[Chunk, str | Exception] = {}
        firsts: dict[tuple[str, int], Chunk] = {}
        for chunk in chunks:  # SQS may put two copies of one message in a batch: one goes
            if firsts.setdefault((chunk.campaign_id, chunk.index), chunk) is not chunk:
                ended[chunk] = "duplicate"
        ready: list[tuple[Chunk, dict[str, Any]]] = []
        for campaign_id, mine in _by_campaign(list(firsts.values())).items():
            item = self._campaign_for_chunk(campaign_id)
            if item is None or item["state"] == CampaignState.CANCELLED:
                ended |= dict.fromkeys(mine, "cancelled")
                continue
            if item["kind"] == CampaignKind.MARKETING and (
                wait := closed_for(self.now(), self.config.marketing_window)
            ):
                if self.table.set_state(
                    campaign_id, CampaignState.PAUSED, only_from=(CampaignState.RUNNING,)
                ):
                    logger.info("campaign paused for the night", extra={"campaign_id": campaign_id})
                ended |= dict.fromkeys(mine, Paused(wait))
                continue
            if item["state"] == CampaignState.PAUSED:
                self.table.set_state(campaign_id, CampaignState.RUNNING, only_from=(CampaignState.PAUSED,))
            ready += [(chunk, item) for chunk in mine]
        begun: list[tuple[Chunk, dict[str, Any]]] = []
        for (chunk, item), intent in zip(ready, self.table.intend([c for c, _ in ready]), strict=True):
            if intent == "begun":
                begun.append((chunk, item))
            elif intent == "again":
                ended[chunk] = self._redelivered(item, chunk)
            else:
                ended[chunk] = intent
        sent, broke = self._dispatch_all(begun)
        self.table.finish(sent)
        return ended | broke | dict.fromkeys((chunk for chunk, _, _ in sent), "sent")

    def _campaign_for_chunk(self, campaign_id: str) -> dict[str, Any] | None:
        """The campaign as its sender needs it, read at most once a CHUNK_VIEW_SECONDS per container:
        its content, kind and provider never change; its state may be that old (a cancel is still
        enforced exactly, by the intent's condition)."""
        now = self.clock()
        seen = self._seen.get(campaign_id)
        if seen is not None and 0 <= now - seen[0] < CHUNK_VIEW_SECONDS:
            return seen[1]
        item = self.table.get(campaign_id)
        if item is not None:
            if len(self._seen) >= 64:  # a container serves few campaigns at once
                self._seen.clear()
            self._seen[campaign_id] = (now, item)
        return item

    def _dispatch_all(
        self, begun: list[tuple[Chunk, dict[str, Any]]]
    ) -> tuple[list[SentChunk], dict[Chunk, Exception]]:
        """Send the begun chunks at once (the shared account rate paces them): per chunk, the
        provider requests to record and how many numbers were certainly not sent; apart, the chunks
        whose sending broke (their markers stay: a copy later reads them `unknown`)."""
        with contextlib.ExitStack() as coming:
            # Each provider's requests are announced: its account's rate is asked once for them all.
            # (A provider that cannot be named here fails its chunks' own dispatch, as it would have.)
            with contextlib.suppress(ValidationError, ConfigError):
                for name, chunks in Counter(item.get("provider") or order()[0] for _, item in begun).items():
                    if pacer := self.providers(name).pacer:
                        coming.enter_context(pacer.coming(chunks))
            context = contextvars.copy_context()  # the deadline, log keys and announcements reach the threads

            def attempt(pair: tuple[Chunk, dict[str, Any]]) -> Any:
                try:
                    return context.copy().run(self._send_chunk, *pair)
                except Exception as error:
                    logger.exception("campaign chunk broke", extra={"campaign_id": pair[0].campaign_id})
                    return pair[0], error

            if len(begun) <= 1:
                results = [attempt(pair) for pair in begun]
            else:
                with ThreadPoolExecutor(max_workers=len(begun)) as pool:
                    results = list(pool.map(attempt, begun))
        sent = [r for r in results if len(r) == 3]
        return sent, dict(r for r in results if len(r) == 2)

    def _send_chunk(self, chunk: Chunk, item: dict[str, Any]) -> SentChunk:
        recipients = [trusted_e164(n) for n in chunk.numbers]  # the planner checked each one
        request = SendRequest(
            recipients, str(item["content"]), item.get("provider"), dict(item.get("options", {}))
        )
        try:
            requests, refused = self.dispatcher(
                request, recipients, chunk.campaign_id, item.get("tenant"), self.providers
            )
        except NothingSent as error:
            requests, refused = [], len(recipients)
            logger.warning(
                "campaign chunk refused",
                extra={"campaign_id": chunk.campaign_id, "error": str(error.error)},
            )
        return chunk, requests, refused

    def _redelivered(self, item: dict[str, Any], chunk: Chunk) -> "str | Waiting":
        """The chunk was begun before. Finished: nothing to do. Not finished: its provider call may
        have gone out, so its numbers are recorded `unknown`, never sent again."""
        marker = self.table.marker(chunk)
        if marker["state"] == "done":
            return "duplicate"
        # SQS may hand the same message to two senders at once: a marker younger than any sender can
        # run is perhaps still being worked on. Only past that is the first sender certainly gone.
        age = (self.now() - datetime.fromisoformat(str(marker["started_at"]))).total_seconds()
        if age < IN_FLIGHT_SECONDS:
            return StillSending(IN_FLIGHT_SECONDS - age)
        unknown = ProviderRequest(
            provider=str(item.get("provider") or order()[0]),
            key=unknown_request_key(),
            numbers=chunk.numbers,
            status=Status.UNKNOWN,
            request_id=chunk.campaign_id,
            kind=Kind.BULK,
            segments=count_segments(str(item["content"])).count,
            tenant=item.get("tenant"),
        )
        self.table.finish([(chunk, [unknown], 0)])
        count("CampaignChunksUnknown", 1)
        return "unknown"


def _by_campaign(chunks: list[Chunk]) -> dict[str, list[Chunk]]:
    grouped: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        grouped.setdefault(chunk.campaign_id, []).append(chunk)
    return grouped


@functools.cache
def chunk_sender() -> Sender:
    table = CampaignTable(message_store(), lambda: datetime.now(UTC))
    result = Sender(settings(), table)
    table.now = result.now  # one clock for the sender and its table's timestamps
    return result


def chunk_batch(records: Iterable["SQSRecord"]) -> "PartialItemFailureResponse":
    """The chunk queue's batch (partial batch response): a chunk that must wait is hidden until it may
    go; it, and any chunk that failed, is reported for SQS to hand out again."""
    service = chunk_sender()
    chunks: list[Chunk] = []
    failed: list[str] = []
    for record in records:
        try:
            chunks.append(Chunk.from_record(record))
        except (ValueError, KeyError, TypeError):
            logger.exception("not a chunk", extra={"message_id": record.message_id})
            failed.append(record.message_id)
    ended = service.send_chunks(chunks)
    waiting = [(chunk, wait) for chunk, wait in ended.items() if isinstance(wait, Waiting)]
    if waiting:
        sqs().change_message_visibility_batch(
            QueueUrl=service.config.campaign_queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "ReceiptHandle": chunk.receipt_handle,
                    "VisibilityTimeout": min(MAX_VISIBILITY_S, max(1, int(wait.seconds) + 1)),
                }
                for i, (chunk, wait) in enumerate(waiting)
            ],
        )
    failed += [chunk.message_id for chunk, outcome in ended.items() if isinstance(outcome, Exception)]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


@functools.cache
def sqs() -> Any:
    return boto3.client("sqs")
