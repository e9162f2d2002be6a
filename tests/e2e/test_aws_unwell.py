"""The local stack with AWS unwell (`AWS_FAULTS`: 10% of every function's DynamoDB, S3 and SQS calls
answered with a throttle, unprocessed items, a cancelled transaction or a 5xx; Secrets Manager
unreachable at each cold start): a send, a receipt flood, a campaign and verification checks lose
nothing and send nothing twice. `make bench` runs the same at full size (10,000 / 2,000 / 20,000 /
200)."""

import pytest

from bench.aws_faults import run

pytestmark = pytest.mark.e2e


def test_nothing_is_lost_or_sent_twice_while_aws_is_unwell() -> None:
    result = run(send=1_000, receipts=300, campaign=3_000, checks=50)

    assert sum(result.injected.values()) >= 20, result.injected  # the faults did happen
    assert result.injected.get("secretsmanager unreachable", 0) >= 1
    assert (result.send_status, result.send_answered, result.send_double) == (200, 1_000, 0)
    assert (result.receipts_lost, result.receipts_given_up) == (0, 0)
    # A 5xx from the callback is only ever a write that failed past the SDK's five attempts (about
    # one call in 100,000 here; 230sms pushes that receipt again), never a crash or a timeout.
    assert result.callback_5xx == result.callback_not_stored <= 2, result.callback_causes
    assert (result.campaign_state, result.campaign_lost, result.campaign_double) == ("done", 0, 0)
    assert (result.checks, result.checks_5xx, result.checks_wrong) == (50, 0, 0)
    assert result.api_5xx == 0
