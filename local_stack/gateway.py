"""The API Gateway emulation: a REST API's proxy integration, API keys and resource policy.

A request is routed as template.yaml declares; the handler gets a proxy event shaped like
events/*.json and its proxy response becomes the reply, as API Gateway maps them.
"""

import base64
import copy
import fnmatch
import hmac
import ipaddress
import json
import traceback
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import events, lambdas
from . import template as tpl
from .log import log

HOST = "127.0.0.1"  # the stack serves on loopback
STAGE = "v1"
INTEGRATION_TIMEOUT_SECONDS = 29.0  # API Gateway's limit on a REST API's Lambda integration

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as received
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# x-amzn-ErrorType of API Gateway's own 403 answers, by message (else ForbiddenException).
ERROR_TYPES = {"Missing Authentication Token": "MissingAuthenticationTokenException"}


def json_reply(status: int, payload: Any, request_id: str) -> Reply:
    """An answer of API Gateway's own, e.g. 403 `{"message": "Forbidden"}`."""
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    if status == 403:
        message = payload.get("message") if isinstance(payload, dict) else None
        headers.append(("x-amzn-ErrorType", ERROR_TYPES.get(str(message), "ForbiddenException")))
    return Reply(status, headers, json.dumps(payload).encode())


class Gateway:
    """Routes a request to its function as API Gateway's REST proxy integration does."""

    def __init__(
        self,
        routes: Sequence[tuple[tpl.Route, lambdas.Function]],
        api_key: str,
        callback_cidrs: tuple[IpNetwork, ...],
        restricted: list[str],
    ) -> None:
        self.routes = routes
        self.api_key = api_key
        self.callback_cidrs = callback_cidrs
        self.restricted = restricted  # glob patterns over STAGE/METHOD/path
        self.sample = events.sample("send")

    def handle(self, request: Request) -> tuple[Reply, str]:
        """The answer, and the route template to log (never the raw path: it may hold the token)."""
        request_id = str(uuid.uuid4())
        method = request.method
        raw_path = request.target.partition("?")[0]
        path = urllib.parse.unquote(raw_path)
        for route, function in self.routes:
            params = route.match(method, raw_path)
            if params is None:
                continue
            if not self._allowed(method, path, request.source_ip):
                arn = f"arn:aws:execute-api:{lambdas.REGION}:{lambdas.ACCOUNT}:local/{STAGE}/{method}{path}"
                message = (
                    "User: anonymous is not authorized to perform: execute-api:Invoke "
                    f"on resource: {arn} with an explicit deny"
                )
                return json_reply(403, {"Message": message}, request_id), route.path
            key = next((v for k, v in request.headers if k.lower() == "x-api-key"), None)
            if route.api_key_required and (
                key is None or not hmac.compare_digest(key.encode(), self.api_key.encode())
            ):
                return json_reply(403, {"message": "Forbidden"}, request_id), route.path
            params = {name: urllib.parse.unquote(value) for name, value in params.items()}
            event = self.event(route, request, params, request_id)
            return self._invoke(function, event, request_id), route.path
        # API Gateway answers an unknown route (or method) like a request lacking a signature.
        return json_reply(403, {"message": "Missing Authentication Token"}, request_id), "(no route)"

    def _allowed(self, method: str, path: str, source_ip: str) -> bool:
        """The template's resource policy: only the allowed CIDRs may call its restricted resources
        (the 230sms callback)."""
        resource = f"{STAGE}/{method}{path}"
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.restricted):
            return True
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            return False
        return any(address in network for network in self.callback_cidrs)

    def event(
        self, route: tpl.Route, request: Request, params: dict[str, str], request_id: str
    ) -> dict[str, Any]:
        """A REST API proxy event, shaped like events/*.json (`sam local generate-event`)."""
        path = urllib.parse.unquote(request.target.partition("?")[0])
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        names: dict[str, str] = {}  # lower-case -> the spelling first seen
        for sent_name, value in request.headers:
            name = names.setdefault(sent_name.lower(), sent_name)
            single[name] = value
            multi.setdefault(name, []).append(value)
        multi_query: dict[str, list[str]] = {}
        for name, value in urllib.parse.parse_qsl(request.target.partition("?")[2], keep_blank_values=True):
            multi_query.setdefault(name, []).append(value)
        now = datetime.now(UTC)
        event = copy.deepcopy(self.sample)
        context = event["requestContext"]
        context.update(
            accountId=lambdas.ACCOUNT,
            resourceId=f"{abs(hash(route.path)) % 0xFFFFFF:06x}",
            stage=STAGE,
            requestId=request_id,
            extendedRequestId=request_id,
            requestTime=now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            requestTimeEpoch=int(now.timestamp() * 1000),
            path=f"/{STAGE}{path}",
            resourcePath=route.path,
            httpMethod=request.method,
            apiId="local",
            protocol="HTTP/1.1",
            domainName=single.get(names.get("host", "Host"), HOST),
        )
        identity = context["identity"]
        identity.update(
            sourceIp=request.source_ip, userAgent=single.get(names.get("user-agent", "User-Agent"))
        )
        if route.api_key_required:
            identity.update(apiKey=self.api_key, apiKeyId="local-api-key-id")
        event.update(
            resource=route.path,
            path=path,
            httpMethod=request.method,
            headers=single or None,
            multiValueHeaders=multi or None,
            queryStringParameters={k: v[-1] for k, v in multi_query.items()} or None,
            multiValueQueryStringParameters=multi_query or None,
            pathParameters=params or None,
            stageVariables=None,
            body=request.body.decode("utf-8", errors="replace") if request.body else None,
            isBase64Encoded=False,
        )
        return event

    def _invoke(self, function: lambdas.Function, event: dict[str, Any], request_id: str) -> Reply:
        try:
            result = function.invoke(event, INTEGRATION_TIMEOUT_SECONDS)
            return self._reply(result, request_id)
        except lambdas.FunctionTimeout as timeout:
            # Past the deadline API Gateway stops waiting (the function may still be running).
            log(f"{timeout}; answered 504")
            return json_reply(504, {"message": "Endpoint request timed out"}, request_id)
        except Exception:
            # Lambda failed or answered something API Gateway cannot map: it answers 502.
            log(f"{function.logical_id} failed:\n{traceback.format_exc().rstrip()}")
            return json_reply(502, {"message": "Internal server error"}, request_id)

    @staticmethod
    def _reply(result: Any, request_id: str) -> Reply:
        if not isinstance(result, dict):
            raise TypeError(f"handler returned {type(result).__name__}, not a proxy response")
        status = int(result["statusCode"])
        raw = result.get("body") or ""
        if not isinstance(raw, str):
            raise TypeError("proxy response body must be a string")
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        # multiValueHeaders win where both name a header, as in API Gateway.
        merged: dict[str, tuple[str, list[str]]] = {}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            merged[name.lower()] = (name, [str(v) for v in values])
        for name, value in (result.get("headers") or {}).items():
            merged.setdefault(name.lower(), (name, [str(value)]))
        skip = {"content-length", "transfer-encoding", "connection"}
        headers = [
            (name, value) for key, (name, values) in merged.items() if key not in skip for value in values
        ]
        headers.append(("x-amzn-RequestId", request_id))
        return Reply(status, headers, data)
