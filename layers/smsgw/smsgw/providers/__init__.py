"""The providers behind one interface (`base.Provider`); one module per provider."""

from .base import Accepted, ChunkFailure, Provider, Receipts, SendOutcome, StatusUpdate

__all__ = ["Accepted", "ChunkFailure", "Provider", "Receipts", "SendOutcome", "StatusUpdate"]
