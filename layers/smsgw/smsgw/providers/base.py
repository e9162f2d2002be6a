"""What every provider client offers, and what a send returns."""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import ProviderError
from ..numbers import Recipient


@dataclass(frozen=True, slots=True)
class SendOptions:
    """230sms' optional extras; cmessages has none."""

    sender_id: str | None = None
    template_id: str | None = None
    sign_name: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A recipient the provider accepted. `provider_id` is cmessages' message id or 230sms' taskid."""

    recipient: Recipient
    provider_id: str


@dataclass(frozen=True, slots=True)
class ChunkFailure:
    recipients: list[Recipient]
    error: ProviderError


@dataclass(slots=True)
class SendOutcome:
    """A bulk send is chunked: some chunks may be accepted while others fail. Both are reported, so
    nothing accepted is lost and nothing failed is recorded as sent."""

    provider: str
    accepted: list[Accepted] = field(default_factory=list)
    failures: list[ChunkFailure] = field(default_factory=list)
    requests: int = 0

    def merge(self, other: "SendOutcome") -> None:
        self.accepted.extend(other.accepted)
        self.failures.extend(other.failures)
        self.requests += other.requests


class Provider(Protocol):
    name: str
    supports_balance: bool

    def send(self, recipients: Sequence[Recipient], content: str, options: SendOptions = ...) -> SendOutcome:
        """Send one content to many recipients, in chunks."""

    def send_verify(self, recipient: Recipient, content: str, options: SendOptions = ...) -> Accepted:
        """Send a verification code to one recipient through the provider's verification endpoint."""

    def balance(self) -> float:
        """The account balance (only where `supports_balance`)."""


def chunked[T](items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def send_chunks(
    provider: str,
    chunks: list[Sequence[Recipient]],
    send_chunk: Callable[[Sequence[Recipient]], SendOutcome],
    concurrency: int,
) -> SendOutcome:
    """Send chunks concurrently (bounded), keeping the recipients' order in the result."""
    outcome = SendOutcome(provider)
    if len(chunks) == 1 or concurrency <= 1:
        results = [send_chunk(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(chunks))) as executor:
            results = list(executor.map(send_chunk, chunks))
    for result in results:
        outcome.merge(result)
    return outcome
