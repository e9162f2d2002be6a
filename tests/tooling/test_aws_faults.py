"""The AWS fault switch (local_stack/aws_faults.py): faults answered at botocore's `before-send`,
so botocore's own retries and the caller's handling run as against AWS itself (a Moto server here,
as in the local stack: Moto's in-process mock answers at the same hook, before any other)."""

import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from local_stack.aws_faults import FaultPlan

ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1})


def test_every_kind_of_dynamodb_fault_is_what_aws_answers(table: str, client: Any) -> None:
    with FaultPlan.parse("dynamodb=1").installed() as plan:
        dynamodb = client("dynamodb", ONCE)
        with pytest.raises(ClientError) as throttled:
            dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}})
        first = throttled.value.response["Error"]["Code"]
        with pytest.raises(ClientError) as throttled_again:
            dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})
        second = throttled_again.value.response["Error"]["Code"]
        assert {first, second} == {"ProvisionedThroughputExceededException", "ThrottlingException"}
        put = {"PutRequest": {"Item": {"pk": {"S": "b"}}}}
        answer = dynamodb.batch_write_item(RequestItems={table: [put]})
        assert answer["UnprocessedItems"] == {table: [put]}
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:
            dynamodb.transact_write_items(
                TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "c"}}}}] * 2
            )
        assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == [
            "TransactionConflict"
        ] * 2
    assert sum(plan.injected.values()) == 4
    # Nothing was written, and sessions made after the block are answered by Moto again.
    assert client("dynamodb").scan(TableName=table)["Count"] == 0


def test_a_throttle_is_retried_by_botocore_and_the_write_lands(table: str, client: Any) -> None:
    with FaultPlan.parse("dynamodb=0.2", seed=7).installed() as plan:
        dynamodb = client("dynamodb")  # botocore's default retries, as the gateway has them
        for n in range(40):
            dynamodb.put_item(TableName=table, Item={"pk": {"S": str(n)}})
    assert sum(plan.injected.values()) > 5
    assert client("dynamodb").scan(TableName=table)["Count"] == 40


def test_secrets_manager_unreachable_at_a_cold_start_only(client: Any) -> None:
    with FaultPlan.parse("secretsmanager=cold").installed() as plan:
        secrets = client("secretsmanager", ONCE)
        with pytest.raises(EndpointConnectionError):
            secrets.list_secrets()
        secrets.list_secrets()  # the container's next read reaches it
    assert plan.injected == {"secretsmanager unreachable": 1}


def test_a_cold_start_read_is_retried_by_botocore(client: Any) -> None:
    name = f"s-{uuid.uuid4().hex[:8]}"
    client("secretsmanager").create_secret(Name=name, SecretString="{}")
    with FaultPlan.parse("secretsmanager=cold").installed() as plan:
        assert client("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == "{}"
    assert plan.injected == {"secretsmanager unreachable": 1}


def test_s3_and_sqs_answer_5xx(table: str, client: Any) -> None:
    with FaultPlan.parse("s3=1,sqs=1").installed():
        with pytest.raises(ClientError) as s3:
            client("s3", ONCE).list_buckets()
        assert s3.value.response["Error"]["Code"] == "SlowDown"
        with pytest.raises(ClientError) as sqs:
            client("sqs", ONCE).list_queues()
        assert sqs.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_a_plan_is_read_strictly(client: Any) -> None:
    assert FaultPlan.parse("dynamodb=0.1, s3=0.05,secretsmanager=cold").describe() == (
        "dynamodb=0.1,s3=0.05,secretsmanager=cold"
    )
    for wrong in ("lambda=0.1", "dynamodb=2", "dynamodb=often", "dynamodb"):
        with pytest.raises(ValueError, match="AWS_FAULTS"):
            FaultPlan.parse(wrong)
