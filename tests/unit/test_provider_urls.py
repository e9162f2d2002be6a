"""Providers are reached over TLS: credentials and numbers travel in every request. Plain http is
allowed only to this machine (the sandboxes)."""

import pytest

from smsgw.platform.config import ConfigError, Settings
from smsgw.providers.model import provider_settings

CONFIG = Settings(messages_table="m", callback_token_secret_id="t")


def settings_for(url: str) -> str:
    env = {"FAKE_BASE_URL": url, "FAKE_SECRET_ID": "secret"}
    chosen = provider_settings(
        CONFIG, "FAKE", base_url="https://x.invalid", batch_size=1, requests_per_second=None, env=env
    )
    return chosen.base_url


@pytest.mark.parametrize("url", ["https://api.cmessages.com", "http://127.0.0.1:8081", "http://localhost:9"])
def test_https_or_this_machine_is_accepted(url: str) -> None:
    assert settings_for(url) == url


@pytest.mark.parametrize("url", ["http://api.cmessages.com", "http://10.0.0.5", "ftp://x", "api.example.com"])
def test_anything_else_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigError, match="FAKE_BASE_URL must be https://"):
        settings_for(url)
