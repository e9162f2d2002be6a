"""5: an SMS-pumping attack and legitimate users in one run, through the verify-code and check
handlers: the attack (one address, sequential numbers in a few ranges, codes never checked) should be
refused before any provider call; the users (random numbers, one address each) should get their
codes and have them approved."""

import json
import random
from dataclasses import asdict, dataclass
from typing import Any

from .stack import Stack, event

ATTACK_NUMBERS = 500  # sequential, in five ranges of 100
ATTACK_TARGET, LEGIT_TARGET = 0.95, 0.99


@dataclass
class Pumping:
    attack_requests: int
    attack_sent: int  # reached a provider
    legit_users: int
    legit_sent: int
    legit_approved: int

    @property
    def attack_refused_share(self) -> float:
        return 1 - self.attack_sent / self.attack_requests

    @property
    def legit_share(self) -> float:
        return self.legit_approved / self.legit_users

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "attack_refused_share": self.attack_refused_share,
            "legit_share": self.legit_share,
        }


def _code_request(number: str, ip: str) -> dict[str, Any]:
    sample = event("verify_code")
    sample["body"] = json.dumps({"to": number, "content": "code {code}"})
    sample["requestContext"]["identity"]["sourceIp"] = ip
    return sample


def _check_request(number: str, code: str) -> dict[str, Any]:
    sample = event("verify_check")
    sample["body"] = json.dumps({"to": number, "code": code})
    return sample


def measure(
    stack: Stack, attack_requests: int = 5_000, legit_users: int = 500, seed: int = 20261201
) -> Pumping:
    rng = random.Random(seed)
    ranges = [17000000000 + 10_000 * r for r in range(5)]  # five number ranges, 100 numbers each
    attack_numbers = [f"+86{ranges[i % 5] + i // 5}" for i in range(ATTACK_NUMBERS)]
    sent_before = len(stack.sms230.recorded("/outauth/verifCodeSend"))
    attack_sent = legit_sent = approved = 0
    for i in range(attack_requests):
        response = stack.invoke(
            "verify_code", _code_request(attack_numbers[i % ATTACK_NUMBERS], "198.51.100.66")
        )
        attack_sent += response["statusCode"] in (200, 202)
        if i % (attack_requests // legit_users) == 0:  # a legitimate user every so often
            number = f"+861{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            if stack.invoke("verify_code", _code_request(number, ip))["statusCode"] != 200:
                continue
            legit_sent += 1
            code = stack.sms230.recorded("/outauth/verifCodeSend")[-1].body["content"].removeprefix("code ")
            answer = json.loads(stack.invoke("verify_check", _check_request(number, code))["body"])
            approved += answer.get("status") == "approved"
    provider_calls = len(stack.sms230.recorded("/outauth/verifCodeSend")) - sent_before
    if provider_calls != attack_sent + legit_sent:  # every code answered as sent went out once
        raise RuntimeError(f"{provider_calls} provider calls for {attack_sent + legit_sent} codes sent")
    return Pumping(attack_requests, attack_sent, legit_users, legit_sent, approved)
