"""Read-only use cases: balances and message status."""

from typing import Any

from . import store as st
from .config import PROVIDERS
from .errors import NotFound, ProviderError, describe
from .providers.registry import provider


def balances() -> dict[str, Any]:
    """Each provider's balance; a provider's failure is shown inline rather than failing the rest."""
    result = []
    for name in PROVIDERS:
        client = provider(name)
        if not client.supports_balance:
            result.append({"provider": name, "supported": False, "reason": f"{name} has no balance API"})
            continue
        try:
            result.append({"provider": name, "supported": True, "balance": client.balance()})
        except ProviderError as error:
            result.append({"provider": name, "supported": True, "error": describe(error)})
    return {"balances": result}


def message_status(message_id: str) -> dict[str, Any]:
    message = st.message_store().get(message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message
