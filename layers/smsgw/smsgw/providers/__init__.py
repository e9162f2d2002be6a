"""The providers behind one small interface; one module per provider."""

from .base import Accepted, ChunkFailure, Provider, SendOptions, SendOutcome

__all__ = ["Accepted", "ChunkFailure", "Provider", "SendOptions", "SendOutcome"]
