"""The stack in-process: started, stopped and started again on the same ports; the callback's
source-IP policy. (The subprocess tests cannot call from outside loopback's allowed range.)"""

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from local_stack import queues
from local_stack import template as tpl
from local_stack.stack import LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=30.0)
    yield pool
    pool.clear()


ENV_FILE = Path(tempfile.gettempdir()) / f"local-stack-lifecycle-{os.getpid()}" / "env.json"


def env(**values: str) -> dict[str, str]:
    return {
        "PORT": "0",
        "API_KEY": "lifecycle-key",
        "CALLBACK_TOKEN": "lifecycle-token",
        "LOCAL_STACK_ENV_FILE": str(ENV_FILE),  # not the repository's: other stacks may be running
        **values,
    }


KEY = {"x-api-key": "lifecycle-key"}


def test_stop_then_start_again_on_the_same_ports(http: urllib3.PoolManager) -> None:
    saved = dict(os.environ)
    with LocalStack(env()) as first:
        ports = {"PORT": first.api_url.rsplit(":", 1)[1], "MOTO_PORT": first.moto_url.rsplit(":", 1)[1]}
        assert http.request("GET", f"{first.api_url}/sms/balance", headers=KEY).status == 200
    assert dict(os.environ) == saved  # the environment the stack set is restored

    with LocalStack(env(**ports)) as second:
        assert second.api_url == first.api_url
        assert second.moto_url == first.moto_url
        answer = http.request("GET", f"{second.api_url}/sms/balance", headers=KEY)
        assert answer.status == 200
        assert json.loads(answer.data)["balances"][0]["provider"] == "cmessages"
    assert dict(os.environ) == saved


def test_each_sqs_poller_is_a_process_of_its_own_and_ends_with_the_stack() -> None:
    template = tpl.load()
    refs = tpl.parameter_defaults(template)
    for name in tpl.resources_of_type(template, "AWS::SQS::Queue"):
        refs |= {name: f"https://queue/{name}", f"{name}.Arn": f"arn:{name}"}
    environments = sum(source.concurrency for source in queues.sources(template, refs))
    with LocalStack(env()) as stack:
        children = stack.queue_processes
        assert len(children) == environments >= 6  # the planner's 2 and the sender's 4, at least
        assert all(child.poll() is None for child in children)
        assert len({child.pid for child in children} - {os.getpid()}) == environments
    assert all(child.returncode == 0 for child in children)  # each stopped when asked, none killed
    assert stack.queue_processes == []


def test_callback_from_outside_the_allowed_cidrs_is_denied(http: urllib3.PoolManager) -> None:
    with LocalStack(env(CALLBACK_ALLOWED_CIDRS="10.0.0.0/8, 192.168.0.0/16")) as stack:
        receipt = {"apikey": "x", "taskid": "1", "mobile": "8613800000000", "status": "DELIVRD", "times": ""}
        denied = http.request("POST", stack.callback_url, body=json.dumps(receipt))
        # Other routes are not restricted by the policy.
        balance = http.request("GET", f"{stack.api_url}/sms/balance", headers=KEY)

    assert denied.status == 403
    message = json.loads(denied.data)["Message"]
    assert message.startswith("User: anonymous is not authorized to perform: execute-api:Invoke")
    assert "/v1/POST/callbacks/230sms/" in message
    assert balance.status == 200
