"""SnapStart: after a restore, no client, pool, setting or secret from before the snapshot is used."""

import sys
import types
from collections.abc import Callable

import pytest

from smsgw.platform import config, snapstart


def test_without_runtime_hooks_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as outside Lambda
    assert snapstart.register() is False


def test_the_restore_hook_drops_every_cached_client_and_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks: list[Callable[[], None]] = []
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_after_restore = hooks.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    monkeypatch.setenv("MESSAGES_TABLE", "before")
    for name in ("CALLBACK_TOKEN_SECRET_ID", "IDEMPOTENCY_TABLE", "LIMITS_TABLE", "BLOCKLIST_TABLE"):
        monkeypatch.setenv(name, name.lower())
    config.settings.cache_clear()
    assert snapstart.register() is True
    before = config.settings()
    monkeypatch.setenv("MESSAGES_TABLE", "after")
    assert config.settings() is before  # cached, as in a warm container
    (hook,) = hooks
    hook()  # what Lambda runs after restoring the snapshot
    assert config.settings().messages_table == "after"
    config.settings.cache_clear()
