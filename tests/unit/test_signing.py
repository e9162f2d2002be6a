import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from smsgw.providers.signing import BEIJING, beijing_timestamp, sign

CM_APP_ID, CM_APP_KEY = "dpnR9ekVE4TKmxBfuY", "22QGd7h8WRn9wkEar63xcDU8fLq4KTtv"

# Every worked example in the two seed documents. The send_message example is printed with a stray
# character ("...dabad09..."); the digest below is the correct one for its inputs.
VECTORS = [
    (CM_APP_ID, "20181109231202", CM_APP_KEY, "dced8a6315bebab0c8df0c7bab341919"),  # cmessages, 认证
    (CM_APP_ID, "20210818175100", CM_APP_KEY, "a2b987bc3d41fb8c8b838b874947fc19"),  # get_balance
    (CM_APP_ID, "20210818180300", CM_APP_KEY, "99207211244157e2b5506903b1c26507"),  # send_verify
    (CM_APP_ID, "20210818181900", CM_APP_KEY, "40eb8ed37a8c7bffdbad09bbfab3e220"),  # send_message
    (CM_APP_ID, "20210818182500", CM_APP_KEY, "e4f9e72162ef31a6e1d84916083bd160"),  # query
    ("230sms", "20200410081020", "abc", "3a81ae8d9525c1514500d7ce8a3e527a"),  # 230sms, 1.2 签名
]


@pytest.mark.parametrize(("key", "timestamp", "secret", "expected"), VECTORS)
def test_seed_document_vectors(key: str, timestamp: str, secret: str, expected: str) -> None:
    assert sign(key, timestamp, secret) == expected


def test_misprinted_digest_is_not_what_we_produce() -> None:
    assert sign(CM_APP_ID, "20210818181900", CM_APP_KEY) != "40eb8ed37a8c7bffdabad09bbfab3e220"


def test_timestamp_is_beijing_time_for_any_aware_clock() -> None:
    instant = datetime(2020, 4, 10, 0, 10, 20, tzinfo=UTC)  # 08:10:20 in Beijing
    assert beijing_timestamp(lambda: instant) == "20200410081020"
    los_angeles = instant.astimezone(timezone(timedelta(hours=-7)))
    assert beijing_timestamp(lambda: los_angeles) == "20200410081020"


def test_timestamp_crosses_the_date_line_into_beijing_tomorrow() -> None:
    instant = datetime(2021, 8, 18, 17, 30, 0, tzinfo=UTC)
    assert beijing_timestamp(lambda: instant) == "20210819013000"


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        beijing_timestamp(lambda: datetime(2021, 1, 1))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "UTC", "Pacific/Kiritimati"])
def test_real_clock_under_a_foreign_tz_is_still_beijing(tz: str) -> None:
    """Run the signer in a fresh process whose TZ is not Beijing's; its stamp must be Beijing time."""
    layer = Path(__file__).resolve().parents[2] / "layers" / "smsgw"
    code = (
        "from smsgw.providers.signing import beijing_timestamp; import time;"
        " print(beijing_timestamp(), time.tzname[0])"
    )
    env = {**os.environ, "TZ": tz, "PYTHONPATH": str(layer)}
    before = datetime.now(BEIJING)
    output = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    after = datetime.now(BEIJING)
    stamp = datetime.strptime(output[0], "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    assert before.replace(microsecond=0) <= stamp <= after
    assert output[1] not in {"CST", "+08"}  # the child really ran in another zone
