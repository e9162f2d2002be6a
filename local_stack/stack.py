"""The local stack: Moto, the two sandbox providers, an API Gateway emulation and the poller, on loopback.

Everything comes from template.yaml: the tables and secrets created in Moto, each function's
environment, the routes served (and which need `x-api-key`), the callback's source-IP policy.
Handlers run in-process, one invocation at a time per function, as one warm Lambda container each.
"""

import base64
import contextlib
import copy
import fnmatch
import hmac
import inspect
import ipaddress
import json
import os
import secrets
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import boto3

from sandboxes import CMessagesSandbox, Sms230Sandbox

from . import lambdas, resources
from . import template as tpl
from .moto_process import MotoProcess

HOST = "127.0.0.1"
STAGE = "v1"
EVENTS = tpl.ROOT / "events"
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
POLLER = "PollStatusFunction"
STOP_GRACE_SECONDS = 10.0

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Process environment for boto3 and Powertools, set while the stack runs (restored by stop()).
AWS_ENV = {
    "AWS_DEFAULT_REGION": lambdas.REGION,
    "AWS_REGION": lambdas.REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 - Moto accepts any credentials
    "POWERTOOLS_TRACE_DISABLED": "true",
}
# Function environment a user may override from the shell (the template supplies the rest).
TUNABLE = (
    "DEFAULT_PROVIDER",
    "PROVIDER_ORDER",
    "RECEIPT_WINDOW_HOURS",
    "RETENTION_DAYS",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_DISABLED",
)


def _log(line: str) -> None:
    """One line to stderr, written at once so concurrent requests never interleave."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _sandbox_default(cls: type, name: str) -> str:
    return str(inspect.signature(cls).parameters[name].default)


def _seconds(env: Mapping[str, str], name: str, default: str) -> tuple[float, ...]:
    text = env.get(name) or default
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"{name} must be comma-separated seconds, not {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise ValueError(f"{name} must list seconds >= 0, not {text!r}")
    return values


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"{name} must be a port number (0 = any free port), not {text!r}")
    return int(text)


@dataclass(frozen=True)
class Settings:
    """The local stack's configuration, from environment variables (see DESIGN.md, "Local stack")."""

    port: int = 3000
    moto_port: int = 0
    cmessages_port: int = 0
    sms230_port: int = 0
    api_key: str = ""
    callback_token: str = ""
    poll_interval: float = 60.0
    cmessages_base_url: str | None = None
    sms230_base_url: str | None = None
    cmessages_app_id: str = ""
    cmessages_app_key: str = ""
    sms230_apikey: str = ""
    sms230_apisecret: str = ""
    receipt_intervals: tuple[float, ...] = (300.0, 900.0, 1800.0)
    status_delays: tuple[float, float] = (2.0, 5.0)
    callback_cidrs: tuple[IpNetwork, ...] = (ipaddress.IPv4Network("0.0.0.0/0"),)
    overrides: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        (poll_interval,) = _seconds(env, "POLL_INTERVAL_SECONDS", "60")
        if poll_interval <= 0:
            raise ValueError("POLL_INTERVAL_SECONDS must be positive")
        delays = _seconds(env, "CMESSAGES_STATUS_DELAYS", "2,5")
        if len(delays) != 2 or delays[0] > delays[1]:
            raise ValueError("CMESSAGES_STATUS_DELAYS must be two seconds, waiting,sending (e.g. 2,5)")
        try:
            cidrs = tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in (env.get("CALLBACK_ALLOWED_CIDRS") or "0.0.0.0/0").split(",")
                if part.strip()
            )
        except ValueError as error:
            raise ValueError(f"CALLBACK_ALLOWED_CIDRS: {error}") from None
        return cls(
            port=_port(env, "PORT", 3000),
            moto_port=_port(env, "MOTO_PORT", 0),
            cmessages_port=_port(env, "CMESSAGES_SANDBOX_PORT", 0),
            sms230_port=_port(env, "SMS230_SANDBOX_PORT", 0),
            api_key=env.get("API_KEY") or secrets.token_urlsafe(24),
            callback_token=env.get("CALLBACK_TOKEN") or secrets.token_urlsafe(30),
            poll_interval=poll_interval,
            cmessages_base_url=env.get("CMESSAGES_BASE_URL") or None,
            sms230_base_url=env.get("SMS230_BASE_URL") or None,
            cmessages_app_id=env.get("CMESSAGES_APP_ID") or _sandbox_default(CMessagesSandbox, "app_id"),
            cmessages_app_key=env.get("CMESSAGES_APP_KEY") or _sandbox_default(CMessagesSandbox, "app_key"),
            sms230_apikey=env.get("SMS230_APIKEY") or _sandbox_default(Sms230Sandbox, "apikey"),
            sms230_apisecret=env.get("SMS230_APISECRET") or _sandbox_default(Sms230Sandbox, "apisecret"),
            receipt_intervals=_seconds(env, "SMS230_RECEIPT_INTERVALS", "300,900,1800"),
            status_delays=(delays[0], delays[1]),
            callback_cidrs=cidrs,
            overrides=tuple((name, env[name]) for name in TUNABLE if env.get(name)),
        )


# -- the API Gateway emulation -------------------------------------------------------------------


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


def _json_reply(status: int, payload: Any, request_id: str) -> Reply:
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    if status == 403:
        headers.append(("x-amzn-ErrorType", "ForbiddenException"))
    return Reply(status, headers, json.dumps(payload).encode())


class Gateway:
    """Routes a request to its function as API Gateway's REST proxy integration does."""

    def __init__(
        self,
        routes: list[tuple[tpl.Route, lambdas.LocalFunction]],
        api_key: str,
        callback_cidrs: tuple[IpNetwork, ...],
        restricted: list[str],
    ) -> None:
        self.routes = routes
        self.api_key = api_key
        self.callback_cidrs = callback_cidrs
        self.restricted = restricted  # glob patterns over STAGE/METHOD/path
        self.sample: dict[str, Any] = json.loads((EVENTS / "send.json").read_text())

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
                return _json_reply(403, {"Message": message}, request_id), route.path
            key = next((v for k, v in request.headers if k.lower() == "x-api-key"), None)
            if route.api_key_required and (
                key is None or not hmac.compare_digest(key.encode(), self.api_key.encode())
            ):
                return _json_reply(403, {"message": "Forbidden"}, request_id), route.path
            params = {name: urllib.parse.unquote(value) for name, value in params.items()}
            event = self.event(route, request, params, request_id)
            return self._invoke(function, event, request_id), route.path
        # API Gateway answers an unknown route (or method) like a request lacking a signature.
        return _json_reply(403, {"message": "Missing Authentication Token"}, request_id), "(no route)"

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

    def _invoke(self, function: lambdas.LocalFunction, event: dict[str, Any], request_id: str) -> Reply:
        try:
            result = function.invoke(event)
            return self._reply(result, request_id)
        except Exception:
            # Lambda failed or answered something API Gateway cannot map: it answers 502.
            _log(f"{function.logical_id} failed:\n{traceback.format_exc().rstrip()}")
            return _json_reply(502, {"message": "Internal server error"}, request_id)

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


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway | None) -> None:
        self.gateway = gateway
        self.connections: set[socket.socket] = set()
        self.active = 0  # requests being answered
        self.cond = threading.Condition()
        super().__init__(address, _ApiHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.cond:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.cond:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self, grace: float) -> None:
        """Let requests under way finish (up to `grace` seconds), then hang up idle keep-alives."""
        with self.cond:
            self.cond.wait_for(lambda: self.active == 0, grace)
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ApiServer

    def __getattr__(self, name: str) -> Any:
        # Every method is served (TRACE, QUERY …): API Gateway answers unknown ones 403, not 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        started = time.perf_counter()
        with self.server.cond:
            self.server.active += 1
        try:
            reply, template = self._answer()
            self._write(reply)
            elapsed = (time.perf_counter() - started) * 1000
            _log(f"{self.command} {template} {reply.status} {elapsed:.0f}")
        finally:
            with self.server.cond:
                self.server.active -= 1
                self.server.cond.notify_all()

    def _answer(self) -> tuple[Reply, str]:
        request_id = str(uuid.uuid4())
        try:
            body = self._read_body()
        except ValueError:  # a malformed chunk size
            self.close_connection = True
            return _json_reply(400, {"message": "Bad Request"}, request_id), "-"
        if body is None:
            self.close_connection = True
            return _json_reply(413, {"message": "Request Too Long"}, request_id), "-"
        if self.server.gateway is None:  # still starting
            return _json_reply(503, {"message": "Service Unavailable"}, request_id), "-"
        request = Request(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        try:
            return self.server.gateway.handle(request)
        except Exception:
            _log(f"the API emulation failed:\n{traceback.format_exc().rstrip()}")
            return _json_reply(500, {"message": "Internal server error"}, request_id), "-"

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked); None when beyond API Gateway's limit."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the one access line per request is written by _serve (no raw paths: tokens)


# -- the stack -------------------------------------------------------------------------------------


class LocalStack:
    """The whole gateway on loopback. `with LocalStack() as stack:` or start()/stop()."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.settings = Settings.from_env(env)
        self.api_key = self.settings.api_key
        self.api_url = ""
        self.callback_url = ""
        self.moto_url = ""
        self.cmessages_url = ""
        self.sms230_url = ""
        self.functions: dict[str, lambdas.LocalFunction] = {}
        self.routes: list[tuple[tpl.Route, lambdas.LocalFunction]] = []
        self.cmessages: CMessagesSandbox | None = None
        self.sms230: Sms230Sandbox | None = None
        self._moto: MotoProcess | None = None
        self._api: _ApiServer | None = None
        self._api_thread: threading.Thread | None = None
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._saved_env: dict[str, str | None] = {}
        self._running = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._running:
            raise RuntimeError("local stack already started")
        self._running = True
        self._stopping.clear()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        lambdas.ensure_import_paths()
        settings = self.settings
        # Moto boots in its own process while the rest starts here.
        self._moto = MotoProcess(HOST, settings.moto_port)
        self._moto.launch()
        template = tpl.load()

        # The API's port first: the 230sms sandbox needs the callback URL. Requests wait for the
        # handlers (503) until everything is ready.
        self._api = _ApiServer((HOST, settings.port), None)
        self.api_url = f"http://{HOST}:{self._api.server_address[1]}"
        self.callback_url = f"{self.api_url}/callbacks/230sms/{settings.callback_token}"
        self._api_thread = threading.Thread(
            target=self._api.serve_forever, kwargs={"poll_interval": 0.1}, name="local-api", daemon=True
        )
        self._api_thread.start()

        self._start_sandboxes()
        self._moto.wait_ready()
        self.moto_url = self._moto.url
        refs = self._create_resources(template)
        self._set_environment(template, refs)
        lambdas.reset_caches()
        self._load_functions(template, refs)
        self._api.gateway = Gateway(
            self.routes, self.api_key, settings.callback_cidrs, tpl.source_ip_restrictions(template)
        )

        if POLLER in self.functions:
            self._poller = threading.Thread(target=self._poll_forever, name="local-poller", daemon=True)
            self._poller.start()

    def stop(self) -> None:
        """Stop everything (poller, sandboxes, API, Moto), restore the environment. Safe to repeat."""
        if not self._running:
            return
        self._stopping.set()
        if self._poller is not None:
            self._poller.join()
            self._poller = None
        # Sandboxes before the API: receipt pushes under way still find the callback answering.
        for sandbox in (self.sms230, self.cmessages):
            if sandbox is not None:
                sandbox.stop()
        self.sms230 = self.cmessages = None
        if self._api is not None:
            self._api.shutdown()
            if self._api_thread is not None:
                self._api_thread.join()
            self._api.close_connections(STOP_GRACE_SECONDS)
            self._api.server_close()
            self._api = None
            self._api_thread = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._restore_environment()
        lambdas.reset_caches()
        self.functions = {}
        self.routes = []
        self._running = False

    # -- parts -------------------------------------------------------------------------------

    def _start_sandboxes(self) -> None:
        settings = self.settings
        if settings.cmessages_base_url:
            self.cmessages_url = settings.cmessages_base_url
        else:
            self.cmessages = CMessagesSandbox(
                app_id=settings.cmessages_app_id,
                app_key=settings.cmessages_app_key,
                status_delays=settings.status_delays,
                host=HOST,
                port=settings.cmessages_port,
            ).start()
            self.cmessages_url = self.cmessages.url
        if settings.sms230_base_url:
            self.sms230_url = settings.sms230_base_url
        else:
            self.sms230 = Sms230Sandbox(
                apikey=settings.sms230_apikey,
                apisecret=settings.sms230_apisecret,
                callback_url=self.callback_url,
                receipt_intervals=settings.receipt_intervals,
                host=HOST,
                port=settings.sms230_port,
            ).start()
            self.sms230_url = self.sms230.url

    def _aws_client(self, service: str) -> Any:
        session: Any = boto3.session.Session()
        return session.client(
            service,
            endpoint_url=self.moto_url,
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def _create_resources(self, template: dict[str, Any]) -> dict[str, str]:
        settings = self.settings
        tables = resources.create_tables(template, self._aws_client("dynamodb"))
        secret_names = resources.create_secrets(
            template,
            self._aws_client("secretsmanager"),
            {
                "CmessagesSecret": {
                    "app_id": settings.cmessages_app_id,
                    "app_key": settings.cmessages_app_key,
                },
                "Sms230Secret": {"apikey": settings.sms230_apikey, "apisecret": settings.sms230_apisecret},
                "CallbackTokenSecret": {"token": settings.callback_token},
            },
        )
        refs = resources.references(template, tables, secret_names)
        refs.update(CmessagesBaseUrl=self.cmessages_url, Sms230BaseUrl=self.sms230_url)
        return refs

    def _set_environment(self, template: dict[str, Any], refs: dict[str, str]) -> None:
        """One process holds every function: their environments (all from Globals) are merged."""
        env: dict[str, str] = {}
        for function in tpl.functions(template).values():
            for name, value in tpl.environment(function, refs).items():
                if env.setdefault(name, value) != value:
                    _log(
                        f"warning: {name} differs between functions; {function.logical_id} gets {env[name]!r}"
                    )
        env.update(AWS_ENV)
        env["AWS_ENDPOINT_URL"] = self.moto_url
        env.update(self.settings.overrides)
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def _load_functions(self, template: dict[str, Any], refs: dict[str, str]) -> None:
        for function in tpl.functions(template).values():
            path = lambdas.handler_path(function)
            if not path.is_file():
                served = [
                    f"{r.method} {r.path}" for r in tpl.routes(template) if r.function == function.logical_id
                ]
                what = ", ".join(served) if served else "nothing"
                _log(
                    f"warning: {path.relative_to(tpl.ROOT)} not found; {function.logical_id} skipped ({what})"
                )
                continue
            self.functions[function.logical_id] = lambdas.local_function(template, function, refs)
        self.routes = [
            (route, self.functions[route.function])
            for route in tpl.routes(template)
            if route.function in self.functions
        ]

    # -- the schedule ------------------------------------------------------------------------

    def _poll_forever(self) -> None:
        """EventBridge's rate schedule: a tick every interval (the first one interval after start)."""
        while not self._stopping.wait(self.settings.poll_interval):
            self.poll_once()

    def poll_once(self) -> Any:
        """One scheduled invocation of the poller. Errors are logged, not raised: the next tick retries."""
        function = self.functions.get(POLLER)
        if function is None:
            return None
        event: dict[str, Any] = json.loads((EVENTS / "poll_status.json").read_text())
        event.update(id=str(uuid.uuid4()), time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        try:
            return function.invoke(event)
        except Exception:
            _log(f"{POLLER} failed:\n{traceback.format_exc().rstrip()}")
            return None

    # -- for printing ------------------------------------------------------------------------

    def ready_info(self) -> dict[str, str]:
        return {
            "api_url": self.api_url,
            "api_key": self.api_key,
            "callback_url": self.callback_url,
            "moto_url": self.moto_url,
            "cmessages_url": self.cmessages_url,
            "sms230_url": self.sms230_url,
        }
