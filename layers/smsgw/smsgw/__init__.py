"""Shared layer of the SMS gateway: a package per capability (see docs/architecture.md)."""
