"""Each provider's balance; one provider's failure is shown inline rather than failing the rest."""

from dataclasses import dataclass

from .errors import ProviderError
from .providers.registry import classes, provider


@dataclass(frozen=True, slots=True)
class Balance:
    provider: str
    supported: bool
    balance: float | None = None
    error: ProviderError | None = None


def balances() -> list[Balance]:
    result = []
    for name, cls in classes().items():
        if not cls.has_balance:
            result.append(Balance(name, supported=False))
            continue
        try:
            result.append(Balance(name, supported=True, balance=provider(name).balance()))
        except ProviderError as error:
            result.append(Balance(name, supported=True, error=error))
    return result
