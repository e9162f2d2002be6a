"""The security review's findings, checked in template.yaml as CloudFormation reads it: each test
names the finding it keeps fixed (docs/security.md says what each choice protects)."""

import re
from typing import Any

import pytest

from local_stack import template as tpl

TEMPLATE = tpl.load()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
GLOBAL_ENV: dict[str, Any] = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
(API,) = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::Api"]
FUNCTIONS = {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
CALLBACK_PATH = "/callbacks/{provider}/{token}"


def statements(function: str) -> list[dict[str, Any]]:
    """The inline statements of a function's policies (SAM templates are named, not expanded)."""
    found = []
    for policy in FUNCTIONS[function].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found += policy["Statement"]
    return found


def refs_in(node: Any) -> set[str]:
    """Every resource a node names with Ref or GetAtt (or inside a Sub)."""
    if isinstance(node, dict):
        found = set()
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub" and isinstance(value, str):
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", value)}
            else:
                found |= refs_in(value)
        return found
    if isinstance(node, list):
        return set().union(*(refs_in(n) for n in node)) if node else set()
    return set()


# -- 1. the callback token and full numbers stay out of X-Ray -----------------------------------------


def test_the_stage_does_not_trace_request_urls() -> None:
    """API Gateway's trace records the whole URL: the callback token, a blocklisted number."""
    assert API.get("TracingEnabled", False) is False
    assert TEMPLATE["Globals"]["Function"]["Tracing"] == "Active"  # the functions still trace
    # Their segments carry no URL; answers (every number of a send) and errors stay out too.
    assert GLOBAL_ENV["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert GLOBAL_ENV["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"


# -- 2. the callback: its own throttle, an alarm on refusals, sources chosen at deploy ----------------


def test_the_callback_has_a_throttle_of_its_own_sized_for_receipt_bursts() -> None:
    encoded = CALLBACK_PATH.replace("/", "~1")
    (own,) = [m for m in API["MethodSettings"] if m["ResourcePath"] == "/" + encoded]
    assert own["HttpMethod"] == "POST"
    assert own["ThrottlingRateLimit"] == {"Ref": "CallbackThrottleRateLimit"}
    assert own["ThrottlingBurstLimit"] == {"Ref": "CallbackThrottleBurstLimit"}
    # A 1,000-number task's receipts arrive together; the API's own default is 100.
    assert PARAMETERS["CallbackThrottleBurstLimit"]["Default"] >= 1000
    assert PARAMETERS["CallbackThrottleRateLimit"]["Default"] > PARAMETERS["ApiThrottleRateLimit"]["Default"]


def test_refused_callbacks_raise_an_alarm() -> None:
    alarms = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    refused = [
        a
        for a in alarms
        if a.get("Namespace") == "AWS/ApiGateway"
        and a.get("MetricName") == "4XXError"
        and {"Name": "Resource", "Value": CALLBACK_PATH} in a["Dimensions"]
    ]
    assert len(refused) == 1
    assert {"Name": "Method", "Value": "POST"} in refused[0]["Dimensions"]
    assert refused[0]["AlarmActions"]


def test_the_callbacks_sources_are_a_deliberate_choice_at_deploy_time() -> None:
    """No silent open default: `sam deploy --guided` asks for them."""
    assert "Default" not in PARAMETERS["CallbackAllowedCidrs"]


# -- 3. opt-outs outlive the stack and key rotations -------------------------------------------------


def test_the_blocklist_has_a_table_of_its_own_that_is_retained_and_protected() -> None:
    table = RESOURCES["BlocklistTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert GLOBAL_ENV["BLOCKLIST_TABLE"] == {"Ref": "BlocklistTable"}


# -- 4. the internet-facing callback reads no provider's full credentials ----------------------------


def test_the_callback_function_reads_only_its_own_secret() -> None:
    policies = FUNCTIONS["CallbackFunction"]["Policies"]
    assert {"Ref": "ProviderSecretsReadPolicy"} not in policies
    secrets = {name for name in refs_in(policies) if RESOURCES[name]["Type"] == "AWS::SecretsManager::Secret"}
    assert secrets == {"CallbackTokenSecret"}


# -- 5. grants written out: nothing deletes what it never deletes ------------------------------------

# What may delete, and why: Powertools deletes an idempotency record when the work fails; the blocklist
# function removes an entry (DELETE /sms/blocklist/{number}).
MAY_DELETE = {("IdempotencyTable", "SendFunction"), ("IdempotencyTable", "VerifyCodeFunction")}
MAY_DELETE |= {("BlocklistTable", "BlocklistFunction"), ("WebhooksTable", "WebhooksFunction")}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_no_function_has_a_crud_grant_or_deletes_what_it_never_deletes(function: str) -> None:
    policies = FUNCTIONS[function].get("Policies", [])
    named = {next(iter(p)) for p in policies if isinstance(p, dict) and "Statement" not in p}
    assert not {"DynamoDBCrudPolicy", "S3CrudPolicy", "DynamoDBWritePolicy", "S3WritePolicy"} & named
    for statement in statements(function):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        # Data: a table's items, a bucket's objects (deleting a campaign's schedule is its cancel).
        data = [a for a in actions if a.split(":")[0] in ("dynamodb", "s3") or a == "*"]
        deleting = [a for a in data if "Delete" in a or a.endswith(":*") or a == "*"]
        for resource in refs_in(statement["Resource"]):
            if deleting:
                assert (resource, function) in MAY_DELETE, (function, resource, deleting)


# -- 7. numbers are keyed by an HMAC under a secret of the deployment's own ---------------------------

# The functions that key an item by a phone number (message ids, status items, limits, the blocklist,
# codes); the others never read the number key.
KEY_NUMBERS = {"Send", "VerifyCode", "VerifyCheck", "MessageStatus", "Blocklist", "Callback", "PollStatus"}
KEY_NUMBERS |= {"CampaignPlanner", "CampaignSender", "WebhookEvents"}
KEY_NUMBERS = {f"{name}Function" for name in KEY_NUMBERS}


def test_the_number_key_is_a_retained_secret_read_only_by_the_functions_that_key_numbers() -> None:
    secret = RESOURCES["NumberKeySecret"]
    assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"  # it finds the opt-outs
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert GLOBAL_ENV["NUMBER_KEY_SECRET_ID"] == {"Ref": "NumberKeySecret"}
    policy = RESOURCES["NumberKeyReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy == [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "NumberKeySecret"}}
    ]
    granted = {
        name for name, f in FUNCTIONS.items() if {"Ref": "NumberKeyReadPolicy"} in f.get("Policies", [])
    }
    assert granted == KEY_NUMBERS


def test_an_upgraded_stack_chooses_to_read_the_unkeyed_keys() -> None:
    assert PARAMETERS["LegacyNumberKeys"]["Default"] == "false"  # a new stack has none
    assert GLOBAL_ENV["LEGACY_NUMBER_KEYS"] == {"Ref": "LegacyNumberKeys"}


# -- 8. nothing is kept forever --------------------------------------------------------------------


def test_retention_is_capped() -> None:
    assert PARAMETERS["RetentionDays"]["MaxValue"] <= 400


# -- 11. providers are reached over TLS ------------------------------------------------------------


@pytest.mark.parametrize("name", ["CmessagesBaseUrl", "Sms230BaseUrl"])
def test_provider_base_urls_must_be_https(name: str) -> None:
    pattern = re.compile(PARAMETERS[name]["AllowedPattern"])
    assert pattern.fullmatch(PARAMETERS[name]["Default"])
    assert not pattern.fullmatch(PARAMETERS[name]["Default"].replace("https://", "http://"))
