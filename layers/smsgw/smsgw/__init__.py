"""Shared layer of the SMS gateway: signing, numbers, content, provider clients and the domain logic."""
