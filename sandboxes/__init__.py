"""Strict local stand-ins for the cmessages and 230sms HTTP APIs (their protocols: docs/providers.md)."""

from .base import SandboxServer
from .cmessages import CMessage, CMessagesSandbox
from .faults import Fault, FaultSwitch
from .sms230 import ReceiptAttempt, Sms230Sandbox
from .wire import RecordedRequest

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
