"""Strict local stand-ins for the cmessages and 230sms HTTP APIs (their protocols: docs/providers.md)."""

from .base import Fault, FaultSwitch, RecordedRequest, SandboxServer
from .cmessages import CMessage, CMessagesSandbox
from .sms230 import ReceiptAttempt, Sms230Sandbox

__all__ = [
    "CMessage",
    "CMessagesSandbox",
    "Fault",
    "FaultSwitch",
    "ReceiptAttempt",
    "RecordedRequest",
    "SandboxServer",
    "Sms230Sandbox",
]
