"""The operator's scripts of the security review, against Moto's DynamoDB: attaching an API key to
an existing tenant, and moving an older release's blocklist into the retained BlocklistTable."""

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smsgw.guards.tenants import Tenants, default_tenant

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb")
        for name in ("limits", "blocklist"):
            client.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            )
        yield client


def test_a_new_key_attached_to_an_old_one_shares_its_tenant(dynamodb: Any, capsys: Any) -> None:
    attach = script("attach_api_key")
    assert attach.main(["--table", "blocklist", "--key", "new-key-id", "--same-as", "old-key-id"]) == 0
    assert Tenants("blocklist").of("new-key-id") == default_tenant("old-key-id")
    assert Tenants("blocklist").of("another-key") == default_tenant("another-key")  # not attached
    assert default_tenant("old-key-id") in capsys.readouterr().out
    # Rotated again: the newest key joins the tenant the old one joined, not the old one's own id.
    attach.main(["--table", "blocklist", "--key", "newest", "--same-as", "new-key-id"])
    assert Tenants("blocklist").of("newest") == default_tenant("old-key-id")


def test_a_key_attached_to_the_shared_tenant_reads_single_tenant_data(dynamodb: Any) -> None:
    script("attach_api_key").main(["--table", "blocklist", "--key", "k", "--shared"])
    assert Tenants("blocklist").of("k") is None  # as every key did under TENANCY=single


def test_the_blocklist_moves_whole_and_alone(dynamodb: Any) -> None:
    kept = [f"block#t1#{n:032x}" for n in range(60)] + ["block#" + "f" * 32, "blockset#t1", "blockset#"]
    others = ["rate#230sms#abc#1", "otp#x", "limit#key#day"]
    for pk in kept + others:
        dynamodb.put_item(TableName="limits", Item={"pk": {"S": pk}, "reason": {"S": "stop"}})
    move = script("move_blocklist")
    assert move.move("limits", "blocklist", dynamodb) == len(kept)
    assert move.move("limits", "blocklist", dynamodb) == len(kept)  # again: nothing doubles
    moved = {i["pk"]["S"] for i in dynamodb.scan(TableName="blocklist")["Items"]}
    assert moved == set(kept)
    assert len(dynamodb.scan(TableName="limits")["Items"]) == len(kept) + len(others)  # left in place


@pytest.mark.parametrize("name", ["attach_api_key", "move_blocklist"])
def test_each_script_runs_from_a_plain_shell(name: str) -> None:
    """No PYTHONPATH, another working folder: the script finds the layer itself."""
    run = subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), "--help"],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "--table" in run.stdout or "--from" in run.stdout
