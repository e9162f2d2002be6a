"""A transaction DynamoDB cancels for contention alone is made again, and lands once
(smsgw.platform.transactions), proved against a Moto server with AWS's own cancellations injected
at botocore's boundary."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_stack.aws_faults import FaultPlan
from smsgw.platform.transactions import transact_write


def test_contention_is_retried_and_each_transaction_applies_once(table: str, client: Any) -> None:
    with FaultPlan.parse("dynamodb=0.3", seed=3).installed() as plan:
        dynamodb = client("dynamodb")
        for _ in range(30):
            transact_write(
                dynamodb,
                [
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": "n"}},
                            "UpdateExpression": "ADD hits :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    }
                ],
            )
    assert plan.injected["dynamodb TransactionCanceledException"] >= 5
    item = client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "n"}})["Item"]
    assert item["hits"] == {"N": "30"}


def test_a_failed_condition_is_an_answer_raised_at_once(table: str, client: Any) -> None:
    dynamodb = client("dynamodb")
    condition = {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": {"S": "absent"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    calls: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", lambda **_: calls.append("x"))
    with pytest.raises(ClientError) as refused:
        transact_write(dynamodb, [condition])
    assert refused.value.response["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed"
    assert len(calls) == 1
