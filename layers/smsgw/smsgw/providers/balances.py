"""Each provider's balance; one provider's failure is shown inline rather than failing the rest."""

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from smsgw.platform.errors import ProviderError
from smsgw.platform.observability import observe
from smsgw.providers.registry import classes, provider


@dataclass(frozen=True, slots=True)
class Balance:
    provider: str
    supported: bool
    balance: float | None = None
    error: ProviderError | None = None


def balances() -> list[Balance]:
    """Every provider's balance; each one read is also the `ProviderBalance` metric (a gauge in the
    provider's own unit), so the poller's ticks and the balance endpoint both feed its alarm."""
    result = []
    for name, cls in classes().items():
        if not cls.has_balance:
            result.append(Balance(name, supported=False))
            continue
        try:
            balance = provider(name).balance()
        except ProviderError as error:
            result.append(Balance(name, supported=True, error=error))
            continue
        observe("ProviderBalance", balance, MetricUnit.NoUnit, name)
        result.append(Balance(name, supported=True, balance=balance))
    return result
