"""Handlers run in-process against Moto (tables and secrets built from template.yaml) and the sandboxes."""

import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack import resources
from local_stack import template as tpl
from local_stack.lambdas import LambdaContext, reset_caches
from sandboxes import CMessagesSandbox, Sms230Sandbox
from smsgw.storage.items import RequestItem

EVENTS = Path(__file__).resolve().parents[2] / "events"
TOKEN = "local-callback-token"


def context(timeout_seconds: float = 29.0) -> LambdaContext:
    return LambdaContext("test", timeout_seconds=timeout_seconds)


@dataclass
class Stack:
    template: dict[str, Any]
    env: dict[str, str]
    cm: CMessagesSandbox
    sms230: Sms230Sandbox
    dynamodb_calls: list[str] = field(default_factory=list)

    def table(self) -> Any:
        return boto3.resource("dynamodb").Table(self.env["MESSAGES_TABLE"])

    def all_items(self) -> list[dict[str, Any]]:
        return list(self.table().scan()["Items"])

    def items(self) -> list[dict[str, Any]]:
        """The messages' items: one per provider request, and a status item per message that had news."""
        return [i for i in self.all_items() if str(i["pk"]).startswith(("req#", "num#"))]

    def requests(self) -> list[dict[str, Any]]:
        """The provider requests' items."""
        return [i for i in self.all_items() if str(i["pk"]).startswith("req#")]

    def recorded_numbers(self) -> list[str]:
        """Every number recorded in a provider request's item."""
        return [n for i in self.requests() for n in RequestItem.from_item(i).numbers]


def event(name: str, body: Any = ..., **changes: Any) -> dict[str, Any]:
    """A sample event from events/, with its body (and any top-level field) replaced."""
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    if body is not ...:
        loaded["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    loaded.update(changes)
    return loaded


def api_event(
    method: str,
    resource: str,
    path: str,
    params: dict[str, str] | None = None,
    body: Any = None,
    **headers: str,
) -> dict[str, Any]:
    """Any route's event, shaped like the samples (which `sam local generate-event` made)."""
    sample = event("send")
    sample.update(httpMethod=method, resource=resource, path=path, pathParameters=params, body=None)
    if body is not None:
        sample["body"] = body if isinstance(body, str) else json.dumps(body)
    sample["requestContext"].update(httpMethod=method, resourcePath=resource, path=f"/v1{path}")
    sample["headers"].update(headers)
    sample["multiValueHeaders"].update({k: [v] for k, v in headers.items()})
    return sample


def load_handler(function: str) -> ModuleType:
    """Each function's app.py under a distinct module name (they all share the name `app`)."""
    path = Path(__file__).resolve().parents[2] / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"handler_{function}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "SmsGateway",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with (
        mock_aws(),
        CMessagesSandbox(status_delays=(0.05, 0.1)) as cm,
        Sms230Sandbox(receipt_intervals=(0.05, 0.05, 0.05)) as sms230,
    ):
        template = tpl.load()
        tables = resources.create_tables(template, boto3.client("dynamodb"))
        resources.create_queues(template, boto3.client("sqs"))
        resources.create_keys(template, boto3.client("kms"))
        secrets = resources.create_secrets(
            template,
            boto3.client("secretsmanager"),
            {
                "CmessagesSecret": {"app_id": cm.app_id, "app_key": cm.app_key},
                "Sms230Secret": {"apikey": sms230.apikey, "apisecret": sms230.apisecret},
                "CallbackTokenSecret": {"token": TOKEN, "receipts": {"230sms": {"apikey": sms230.apikey}}},
            },
        )
        refs = resources.references(template, tables, secrets)
        refs.update(CmessagesBaseUrl=cm.url, Sms230BaseUrl=sms230.url)
        env = tpl.environment(tpl.functions(template)["SendFunction"], refs)
        env["PROVIDER_READ_TIMEOUT"] = "1"
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_caches()
        stack = Stack(template, env, cm, sms230)
        yield stack
        reset_caches()


@pytest.fixture
def count_dynamodb_calls(stack: Stack) -> Iterator[list[str]]:
    """Every DynamoDB API call made through boto3 from now on, by operation name."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    session = boto3.DEFAULT_SESSION or boto3.Session()
    boto3.DEFAULT_SESSION = session
    session.events.register("before-call.dynamodb", record)
    reset_caches()  # clients made from here on carry the hook
    yield calls
    session.events.unregister("before-call.dynamodb", record)


Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture
def invoke(stack: Stack) -> Invoke:
    handlers: dict[str, ModuleType] = {}

    def run(function: str, lambda_event: dict[str, Any]) -> dict[str, Any]:
        if function not in handlers:
            handlers[function] = load_handler(function)
        result: dict[str, Any] = handlers[function].lambda_handler(lambda_event, context())
        return result

    return run


def header(response: dict[str, Any], name: str) -> str | None:
    """A response header, wherever the resolver put it (REST proxy answers use multiValueHeaders)."""
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return str(values[0])
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
