"""A Moto server for the tooling tests (as the local stack runs one), and clients of it."""

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_stack.moto_process import MotoProcess


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    moto = MotoProcess("127.0.0.1", 0)
    moto.start()
    yield moto.url
    moto.stop()


@pytest.fixture
def client(moto_url: str) -> Any:
    def make(service: str, config: Config | None = None) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    return make


@pytest.fixture
def table(client: Any) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name
