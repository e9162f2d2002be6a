"""The local stack: Moto, the sandbox providers, an API Gateway emulation and the poller, on loopback.

Everything comes from template.yaml: the tables and secrets created in Moto, each function's
environment, the routes served (and which need `x-api-key`), the callback's source-IP policy.
Every function runs as Lambda runs it: in an execution environment of its own, a child process
started with exactly its template environment (lambdas.Container; the SQS event sources' in
queues.py), one invocation at a time, cut off at the function's Timeout. This module starts and
stops the parts: gateway.py is the emulation, api_server.py serves it over HTTP, poller.py is the
schedule, settings.py the configuration.
"""

import json
import os
import subprocess  # nosec B404 - only the type of the pollers' processes
from collections.abc import Mapping
from typing import Any, Self, cast

import boto3

from sandboxes import CMessagesSandbox, SandboxServer, Sms230Sandbox

from . import lambdas, poller, queues, resources, streams
from . import template as tpl
from .api_server import ApiServer
from .console.inbox import Console
from .console.page import PREFIX as CONSOLE
from .gateway import HOST, Gateway
from .log import log
from .moto_process import MotoProcess
from .poller import POLLER
from .settings import SANDBOXES, Settings

__all__ = ["LocalStack", "Settings"]

STOP_GRACE_SECONDS = 10.0


class LocalStack:
    """The whole gateway on loopback. `with LocalStack() as stack:` or start()/stop()."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.settings = Settings.from_env(env)
        self.api_key = self.settings.api_key
        self.api_url = ""
        self.callback_url = ""
        self.moto_url = ""
        self.console_url = ""
        self.provider_urls: dict[str, str] = {}  # provider -> its base URL (sandbox or real)
        self.sandboxes: dict[str, SandboxServer] = {}  # the running ones, by provider
        self.functions: dict[str, lambdas.Environments] = {}
        self.environments: dict[str, dict[str, str]] = {}  # logical id -> the function's environment
        self.deployed: dict[str, dict[str, str]] = {}  # ... less what Lambda sets (the env file's)
        self.routes: list[tuple[tpl.Route, lambdas.Environments]] = []
        self._moto: MotoProcess | None = None
        self._api: ApiServer | None = None
        self._schedule: poller.Every | None = None
        self._queues: queues.QueuePollers | None = None
        self._streams: streams.StreamPollers | None = None
        self._scheduler: poller.Every | None = None
        self._saved_env: dict[str, str | None] = {}
        self._running = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def cmessages(self) -> CMessagesSandbox | None:
        return cast(CMessagesSandbox | None, self.sandboxes.get("cmessages"))

    @property
    def sms230(self) -> Sms230Sandbox | None:
        return cast(Sms230Sandbox | None, self.sandboxes.get("sms230"))

    @property
    def cmessages_url(self) -> str:
        return self.provider_urls.get("cmessages", "")

    @property
    def sms230_url(self) -> str:
        return self.provider_urls.get("sms230", "")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._running:
            raise RuntimeError("local stack already started")
        self._running = True
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
        self._api = ApiServer((HOST, settings.port), None)
        self.api_url = f"http://{HOST}:{self._api.server_address[1]}"
        self.callback_url = f"{self.api_url}/callbacks/230sms/{settings.callback_token}"
        self._api.serve_in_thread("local-api", poll_interval=0.1)

        self._start_sandboxes()
        self._moto.wait_ready()
        self.moto_url = self._moto.url
        refs = self._create_resources(template)
        self._set_environment(template, refs)
        self._start_functions(template, refs)
        self._write_env_file()
        self._api.console = Console(lambda: self.sandboxes)
        self.console_url = f"{self.api_url}{CONSOLE}"
        self._api.gateway = Gateway(
            self.routes, self.api_key, settings.callback_cidrs, tpl.source_ip_restrictions(template)
        )

        if POLLER in self.functions:
            self._schedule = poller.schedule(self.functions[POLLER], settings.poll_interval)
            self._schedule.start()
        # Campaigns: the SQS event sources (planner, sender) and EventBridge Scheduler's send_at.
        self._queues = queues.QueuePollers(
            template, refs, self.environments, settings.function_timeout, settings.aws_faults
        )
        self._queues.start()
        self._queues.wait_ready()
        self._streams = streams.StreamPollers(template, refs, self.functions, self._aws_client)
        self._streams.start()
        self._scheduler = queues.scheduler(refs, self._aws_client)
        self._scheduler.start()

    def stop(self) -> None:
        """Stop everything (poller, sandboxes, API, Moto), restore the environment. Safe to repeat."""
        if not self._running:
            return
        if self._schedule is not None:
            self._schedule.stop()
            self._schedule = None
        for part in (self._scheduler, self._queues, self._streams):
            if part is not None:
                part.stop()
        self._scheduler, self._queues, self._streams = None, None, None
        for function in self.functions.values():
            function.stop()
        # Sandboxes before the API: receipt pushes under way still find the callback answering.
        for sandbox in reversed(self.sandboxes.values()):
            sandbox.stop()
        self.sandboxes = {}
        if self._api is not None:
            self._api.stop(STOP_GRACE_SECONDS)
            self._api = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._restore_environment()
        if self.environments:
            self.settings.env_file.unlink(missing_ok=True)
        self.functions = {}
        self.environments, self.deployed = {}, {}
        self.routes = []
        self._running = False

    @property
    def queue_processes(self) -> list["subprocess.Popen[str]"]:
        """The SQS event sources' execution environments, a process each (queues.QueuePollers)."""
        return self._queues.processes if self._queues is not None else []

    def poll_once(self) -> Any:
        """One scheduled invocation of the poller, if there is one (errors are logged, not raised)."""
        function = self.functions.get(POLLER)
        return None if function is None else poller.poll_once(function)

    # -- parts -------------------------------------------------------------------------------

    def _start_sandboxes(self) -> None:
        """Each provider's sandbox, unless a real base URL is configured for it."""
        for name, (sandbox_class, _) in SANDBOXES.items():
            base_url = self.settings.base_urls.get(name)
            if base_url:
                self.provider_urls[name] = base_url
                continue
            sandbox = sandbox_class(host=HOST, **self._sandbox_options(name)).start()
            self.sandboxes[name] = sandbox
            self.provider_urls[name] = sandbox.url

    def _sandbox_options(self, name: str) -> dict[str, Any]:
        """Keyword arguments for provider `name`'s sandbox (beyond its host)."""
        s = self.settings
        options: dict[str, dict[str, Any]] = {
            "cmessages": {
                "app_id": s.cmessages_app_id,
                "app_key": s.cmessages_app_key,
                "status_delays": s.status_delays,
                "port": s.cmessages_port,
            },
            "sms230": {
                "apikey": s.sms230_apikey,
                "apisecret": s.sms230_apisecret,
                "callback_url": self.callback_url,
                "receipt_intervals": s.receipt_intervals,
                "port": s.sms230_port,
            },
        }
        return options[name]

    def _aws_client(self, service: str) -> Any:
        session: Any = boto3.session.Session()
        return session.client(
            service,
            endpoint_url=self.moto_url,
            region_name=lambdas.REGION,
            aws_access_key_id=lambdas.LOCAL_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=lambdas.LOCAL_AWS["AWS_SECRET_ACCESS_KEY"],
        )

    def _create_resources(self, template: dict[str, Any]) -> dict[str, str]:
        settings = self.settings
        tables = resources.create_tables(template, self._aws_client("dynamodb"))
        resources.create_buckets(template, self._aws_client("s3"))
        resources.create_queues(template, self._aws_client("sqs"))
        resources.create_keys(template, self._aws_client("kms"))
        secret_names = resources.create_secrets(
            template,
            self._aws_client("secretsmanager"),
            {
                "CmessagesSecret": {
                    "app_id": settings.cmessages_app_id,
                    "app_key": settings.cmessages_app_key,
                },
                "Sms230Secret": {"apikey": settings.sms230_apikey, "apisecret": settings.sms230_apisecret},
                # The token, and what each pushed receipt is checked against (not the provider's secret).
                "CallbackTokenSecret": {
                    "token": settings.callback_token,
                    "receipts": {"230sms": {"apikey": settings.sms230_apikey}},
                },
            },
        )
        refs = resources.references(template, tables, secret_names)
        refs.update(CmessagesBaseUrl=self.cmessages_url, Sms230BaseUrl=self.sms230_url)
        refs.update(WebhookAllowLoopback="true")  # a receiver on this machine (plain http) may register
        return refs

    def _set_environment(self, template: dict[str, Any], refs: dict[str, str]) -> None:
        """This process's own environment, for the console (it reads the messages table through the
        layer, as the functions do): the template's Globals variables and the local AWS endpoint.
        The functions never see it: each gets its own (lambdas.lambda_environment)."""
        env = tpl.globals_environment(template, refs)
        env.update(lambdas.LOCAL_AWS)
        env["AWS_ENDPOINT_URL"] = self.moto_url
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

    def _start_functions(self, template: dict[str, Any], refs: dict[str, str]) -> None:
        """Every function's environment; a container each for those the stack invokes itself (the
        API's, the schedule's, the streams'), their init phases run side by side."""
        overrides = dict(self.settings.overrides)
        on_queues = {logical_id for logical_id, _ in tpl.events(template, "SQS")}
        for function in tpl.functions(template).values():
            path = lambdas.handler_path(function)
            if not path.is_file():
                served = [
                    f"{r.method} {r.path}" for r in tpl.routes(template) if r.function == function.logical_id
                ]
                what = ", ".join(served) if served else "nothing"
                log(
                    f"warning: {path.relative_to(tpl.ROOT)} not found; {function.logical_id} skipped ({what})"
                )
                continue
            spec = lambdas.function_spec(template, function, refs, self.settings.function_timeout)
            deployed = lambdas.deployed_environment(tpl.environment(function, refs), self.moto_url, overrides)
            self.environments[function.logical_id] = env = lambdas.lambda_environment(spec, deployed)
            self.deployed[function.logical_id] = deployed
            if function.logical_id not in on_queues:
                self.functions[function.logical_id] = lambdas.Environments(
                    spec, env, self.settings.aws_faults, self.settings.concurrency
                )
        for container in self.functions.values():
            container.start()
        for container in self.functions.values():
            container.wait_ready()
        self.routes = [
            (route, self.functions[route.function])
            for route in tpl.routes(template)
            if route.function in self.functions
        ]

    def _write_env_file(self) -> None:
        """Each function's environment, less what Lambda sets per invocation environment, in the
        shape `sam local invoke --env-vars` takes (logical id -> variables): `make invoke` runs a
        function against this stack with it."""
        path = self.settings.env_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.deployed, indent=2, sort_keys=True) + "\n")
        path.chmod(0o600)  # names and endpoints only, but a user's own

    # -- for printing ------------------------------------------------------------------------

    def ready_info(self) -> dict[str, str]:
        return {
            "api_url": self.api_url,
            "api_key": self.api_key,
            "callback_url": self.callback_url,
            "moto_url": self.moto_url,
            "console_url": self.console_url,
            **{f"{name}_url": self.provider_urls.get(name, "") for name in SANDBOXES},
        }
