"""The provider interface: each provider states its capabilities; callers never ask for its name.

A provider module defines one subclass of `Provider` and names it `PROVIDER`; the registry builds it
from its settings (`ProviderSettings`, read from `<ENV_PREFIX>_*` variables) and its secret. The
types it exchanges are in `model`, and re-exported here for provider modules.
"""

import contextlib
import contextvars
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any, ClassVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from smsgw.domain.numbers import Recipient, number_key
from smsgw.platform.errors import ProviderError, ProviderRejected, ValidationError
from smsgw.platform.observability import observe
from smsgw.platform.transport import HttpReply, post_json
from smsgw.providers.model import (
    NOT_PROCESSED,
    Accepted,
    ChunkFailure,
    Code,
    Option,
    ProviderSettings,
    ReceiptRefused,
    Receipts,
    SendOutcome,
    StatusUpdate,
    Task,
    TaskAnswer,
    Verdict,
    not_processed,
    provider_error,
)
from smsgw.providers.pacing import RequestPacer, pacer_for
from smsgw.providers.signing import Clock, utc_now

__all__ = [
    "NOT_PROCESSED",
    "NO_OPTIONS",
    "Accepted",
    "ChunkFailure",
    "Code",
    "Option",
    "Provider",
    "ProviderSettings",
    "ReceiptRefused",
    "Receipts",
    "RequestPacer",
    "SendOutcome",
    "StatusUpdate",
    "Task",
    "TaskAnswer",
    "Verdict",
    "chunked",
    "not_processed",
    "pacer_for",
    "provider_error",
]

NO_OPTIONS: Mapping[str, str] = MappingProxyType({})

logger = Logger(child=True)


def chunked[T](items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Provider(ABC):
    """A provider client. Class attributes state what it can do; the gateway reads nothing else."""

    name: ClassVar[str]
    env_prefix: ClassVar[str]  # its settings: <env_prefix>_BASE_URL, _SECRET_ID, _BATCH_SIZE, ...
    default_base_url: ClassVar[str]
    id_prefix: ClassVar[str]  # the gateway's message ids for it start with "<id_prefix>-"
    # One provider id per request (a task) rather than per number: that id keys the request's record.
    id_per_request: ClassVar[bool] = False
    batch_cap: ClassVar[int]  # most recipients one request may carry
    default_requests_per_second: ClassVar[float | None] = None
    default_concurrency: ClassVar[int | None] = None  # requests in flight per send (PROVIDER_CONCURRENCY)
    receipts: ClassVar[Receipts]
    has_balance: ClassVar[bool] = False
    options: ClassVar[tuple[Option, ...]] = ()
    codes: ClassVar[Mapping[str, Code]]  # the provider's error codes, classified
    backoff: tuple[float, ...] = (0.25, 0.5, 1.0)  # pauses after a BACK_OFF answer

    def __init__(
        self,
        settings: ProviderSettings,
        secret: Mapping[str, str],
        *,
        clock: Clock = utc_now,
        http: Any = None,
        backoff: tuple[float, ...] | None = None,
        read_secret: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.base_url = settings.base_url.rstrip("/")
        self.settings = settings
        self.batch_size = max(1, min(settings.batch_size, self.batch_cap))
        self.clock = clock
        self.http = http
        self.backoff = self.backoff if backoff is None else backoff
        self.account = self.credentials(secret)
        # The secret read afresh (no cache), for a provider that refuses the credentials it has.
        self.read_secret = read_secret
        self._secret, self._secret_version = dict(secret), 0
        self._secret_lock = threading.Lock()
        rate = settings.requests_per_second
        self.pacer = pacer_for(self.name, self.account, rate) if rate else None

    # -- what a provider module implements ------------------------------------------------------

    @abstractmethod
    def credentials(self, secret: Mapping[str, str]) -> str:
        """Keep the credentials from the secret; return the account's public id (pacing key). A
        receipt reader (registry.receipt_reader) gets only what receipts are checked against: the
        rest may be missing, and such a client never sends."""

    @abstractmethod
    def address(self, recipient: Recipient) -> str:
        """How the provider writes this number on the wire."""

    @classmethod
    def refuses(cls, recipient: Recipient) -> str | None:
        """Why this provider cannot send to the recipient, or None."""
        return None

    @abstractmethod
    def send_chunk(
        self, chunk: Sequence[Recipient], content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> SendOutcome:
        """One provider request (at most `batch_size` recipients); errors reported in the outcome."""

    @abstractmethod
    def send_verify(
        self, recipient: Recipient, content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> Accepted:
        """A verification code to one recipient; raises ProviderError."""

    def message_id(self, request_key: str, number: str) -> str:
        """The gateway's message id: its request's key and its number's, so that the request item and
        the status item follow from it (and from a receipt: task id and number) with no read."""
        return f"{self.id_prefix}-{request_key}-{number_key(number)}"

    def balance(self) -> float:
        raise NotImplementedError(f"{self.name} has no balance API")

    def parse_receipt(self, body: str | bytes) -> StatusUpdate:
        """A pushed receipt (Receipts.PUSHED); raises ReceiptRefused."""
        raise NotImplementedError(f"{self.name} does not push receipts")

    def query(self, provider_ids: Sequence[str]) -> list[StatusUpdate]:
        """Current statuses of these ids (Receipts.POLLED); ids the provider does not know are left out."""
        raise NotImplementedError(f"{self.name} is not polled")

    # -- shared behaviour -----------------------------------------------------------------------

    def send(
        self, recipients: Sequence[Recipient], content: str, options: Mapping[str, str] = NO_OPTIONS
    ) -> SendOutcome:
        """Send one content to many recipients: chunked at the batch size, chunks concurrently (bounded),
        the recipients' order kept in the result."""

        for recipient in recipients:  # every number is checked before any request
            if reason := self.refuses(recipient):
                raise ValidationError.single("to", reason)

        def one(chunk: Sequence[Recipient]) -> SendOutcome:
            return self._send_isolating(chunk, content, options)

        chunks = chunked(recipients, self.batch_size)
        outcome = SendOutcome(self.name)
        if len(chunks) <= 1 or self.settings.concurrency <= 1:
            results = [one(chunk) for chunk in chunks]
        else:
            with self.pacer.coming(len(chunks)) if self.pacer else contextlib.nullcontext():
                context = contextvars.copy_context()  # the deadline and the announcement reach the threads

                def in_context(chunk: Sequence[Recipient]) -> SendOutcome:
                    return context.copy().run(one, chunk)

                with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(chunks))) as executor:
                    results = list(executor.map(in_context, chunks))
        for result in results:
            outcome.merge(result)
        return outcome

    def with_current_credentials[T](self, request: Callable[[], T]) -> T:
        """`request`, made once more if the provider refused its credentials and the secret, read
        again past every cache, has changed since (rotated): a credential refusal proves that nothing
        was sent. Refused again, or with the secret unchanged, the refusal stands (another provider
        may take the message)."""
        version = self._secret_version
        try:
            return request()
        except ProviderRejected as error:
            if not error.credentials or not self._secret_renewed(since=version):
                raise
        return request()

    def _secret_renewed(self, since: int) -> bool:
        """Whether the credentials are newer than version `since`: renewed by another request's
        refusal already, or now from a secret that has changed."""
        if self.read_secret is None:
            return False
        with self._secret_lock:
            if self._secret_version != since:
                return True
            fresh = dict(self.read_secret())
            if fresh == self._secret:
                return False
            self.credentials(fresh)
            self._secret, self._secret_version = fresh, since + 1
            logger.warning(
                "provider refused its credentials; the renewed secret is used", extra={"provider": self.name}
            )
            return True

    def paced[T](self, call: Callable[[], T], outcome: SendOutcome | None = None) -> T:
        """One request within the account's pace, counted in `outcome`; a BACK_OFF answer (certainly
        not sent) is retried after each pause of `backoff`, then raised; a credentials refusal once,
        with a renewed secret (with_current_credentials)."""
        return self.with_current_credentials(lambda: self._paced(call, outcome))

    def _paced[T](self, call: Callable[[], T], outcome: SendOutcome | None) -> T:
        for delay in (*self.backoff, None):
            if self.pacer:
                self.pacer.wait()
            if outcome is not None:
                outcome.requests += 1
            try:
                return call()
            except ProviderRejected as error:
                if error.back_off:  # the account's rate was exceeded (230sms code 105)
                    observe("ProviderBackOffs", 1, provider=self.name)
                if not error.back_off or delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def one_id_for_all(self, chunk: Sequence[Recipient], request: Callable[[], TaskAnswer]) -> SendOutcome:
        """A chunk sent as one paced request whose answer is one id for all its recipients (a task
        or batch id); a failure is reported for the whole chunk."""
        outcome = SendOutcome(self.name)
        try:
            answer = self.paced(request, outcome)
        except ProviderError as error:
            outcome.failures.append(ChunkFailure(list(chunk), error))
        else:
            outcome.tasks.append(Task(answer.provider_id, list(chunk), answer.taken, answer.billed))
        return outcome

    def _send_isolating(
        self, chunk: Sequence[Recipient], content: str, options: Mapping[str, str]
    ) -> SendOutcome:
        outcome = self.send_chunk(chunk, content, options)
        refused = outcome.take_refused_number()
        if refused is not None:
            outcome.merge(self._isolate(refused, content, options))
        return outcome

    def _isolate(self, refused: ChunkFailure, content: str, options: Mapping[str, str]) -> SendOutcome:
        """The request was refused for a number in it: send its halves to find the refused numbers
        and send the rest. When the first half goes out whole, the refused number is in the second,
        which is split without being sent whole again: about 1.5·log2(n) requests per refused number."""
        numbers = refused.recipients
        if len(numbers) == 1:
            return SendOutcome(self.name, failures=[refused])
        half = (len(numbers) + 1) // 2
        first, second = numbers[:half], numbers[half:]
        result = self.send_chunk(first, content, options)
        culprit = result.take_refused_number()
        if culprit is None:
            result.merge(self._isolate(ChunkFailure(list(second), refused.error), content, options))
        else:
            result.merge(self._isolate(culprit, content, options))
            result.merge(self._send_isolating(second, content, options))
        return result

    def post(self, path: str, payload: dict[str, Any], *, idempotent: bool) -> HttpReply:
        """POST a JSON body to the provider (pooled, timeouts, no transport retries). Each answered
        request's time is the `ProviderLatency` metric (its sample count: the requests answered)."""
        started = time.monotonic()
        reply = post_json(
            self.name,
            self.base_url + path,
            payload,
            timeouts=self.settings.timeouts,
            idempotent=idempotent,
            http=self.http,
        )
        elapsed = (time.monotonic() - started) * 1000
        observe("ProviderLatency", round(elapsed, 1), MetricUnit.Milliseconds, self.name)
        return reply

    def classify(
        self, code: str | None, *, message: str | None = None, status: int | None = None, raw: str = ""
    ) -> ProviderError | None:
        """The error for a documented code, or None when the code is not in the table."""
        row = self.codes.get(code or "")
        return (
            provider_error(self.name, row, code=code, message=message, status=status, raw=raw)
            if row
            else None
        )
