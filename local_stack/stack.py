"""LocalStack: moto, the deployed template, the runtime, the HTTP servers, as one object.

    with LocalStack.start(clock="simulated", clock_start="2026-11-30T14:00:00Z") as stack:
        stack.request("GET", "/openapi.json")
        stack.advance(60)

One stack runs per process at a time (moto's state and the process environment are
per process); `stop()` gives both back as they were.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from moto.core.models import MockAWS

from local_stack import aws_requests, moto_hooks, schedules
from local_stack.aws_requests import InvocationCrashed
from local_stack.deploy import Deployer, Deployment, ScheduleRule
from local_stack.eventbus import EventTargets, iso_seconds, target_input
from local_stack.faults import Faults, install_serial_executor
from local_stack.http_api import RouteTable
from local_stack.lambdas import Functions, Throttled, triggered
from local_stack.latency import LatencyModel, latency_from_env
from local_stack.loop import EventLoop
from local_stack.moto_server import MotoServer
from local_stack.provider import ProviderSettings, SimulatedProvider
from local_stack.queues import QueueLedger
from local_stack.server import ApiApp, HttpServer, ProviderApp
from local_stack.streams import StreamPoller, StreamPollers, shard_of
from local_stack.template import DEFAULT_TEMPLATE, SamTemplate
from local_stack.write_log import Image

log = logging.getLogger("local_stack")

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DEFAULT_API_KEYS = {"dev-key": "tenant_dev"}
STACK_NAME = "batch-calls-local"

# Fake credentials, so nothing can reach a real account.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
# Local defaults the caller's environment may override: no X-Ray, no EMF on stdout.
ENV_DEFAULTS = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    # The simulated provider is on loopback: no point waiting half a second of real time
    # between the caller's retries to it (the simulated clock does not move meanwhile).
    "PROVIDER_RETRY_BACKOFF_SECONDS": "0.01",
}

_active_lock = threading.Lock()
_active: LocalStack | None = None


def parse_api_keys(text: str) -> dict[str, str]:
    """`key:tenant,key:tenant` -> {key: tenant}."""
    keys = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, tenant = item.partition(":")
        if not sep or not key.strip() or not tenant.strip():
            raise ValueError(f"API_KEYS entries are key:tenant, not {item!r}")
        keys[key.strip()] = tenant.strip()
    return keys


def parse_instant(value: str | datetime | None) -> datetime:
    if value is None or value == "":
        return datetime.now(UTC)
    if isinstance(value, datetime):
        instant = value
    else:
        instant = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


class _Session:
    """A boto3 session whose clients all talk to the local moto server.

    Clients are kept per process: making one costs tens of milliseconds (botocore reads
    its service models), and a later stack reuses moto's port (see `moto_server`).
    """

    _boto: Any = None
    _clients: dict[tuple[str, str], Any] = {}
    _lock = threading.Lock()

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def client(self, service: str) -> Any:
        with self._lock:
            cls = type(self)
            if cls._boto is None:
                cls._boto = boto3.session.Session(
                    aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
                )
            key = (service, self.endpoint_url)
            if key not in cls._clients:
                cls._clients[key] = cls._boto.client(service, endpoint_url=self.endpoint_url)
            return cls._clients[key]


@dataclass
class LocalResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Runtime:
    """What moto calls back (moto_hooks.Listener), dispatched to the runtime's parts."""

    stack: LocalStack
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    def owns_queue(self, queue_name: str) -> bool:
        return queue_name in self.stack.ledgers

    def message_sent(self, queue_name: str, message_id: str, delay_seconds: int) -> None:
        self.stack.ledgers[queue_name].message_sent(message_id, delay_seconds)

    def rule_matched(self, rule: Any, targets: list[dict[str, Any]], event: dict[str, Any]) -> None:
        self.stack.event_targets.rule_matched(rule, targets, event)

    def lambda_notified(self, function_arn: str, event: dict[str, Any]) -> None:
        function = self.stack.functions.by_arn(function_arn)
        if function is None:
            log.warning("an S3 notification names %s, which is not in the stack", function_arn)
            return
        self.stack.functions.invoke_async(function, event, "S3 notification")

    def stream_record_added(self, table_name: str, record: Any) -> None:
        self.stack.streams.record_added(table_name, record)

    def recording_writes(self) -> bool:
        return self.stack.faults.recording_writes()

    def item_written(
        self, table_name: str, key: dict[str, Any], before: dict[str, Any] | None
    ) -> None:
        self.stack.faults.item_written(table_name, key, before)

    def stale_images(self, table_name: str) -> dict[str, Image] | None:
        return self.stack.faults.stale_images(table_name)


class _Actions:
    """What an interleaved fault runs in the middle of an invocation (faults.Actions)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def function_ids(self) -> set[str] | None:
        deployment = getattr(self.stack, "deployment", None)
        return set(deployment.functions) if deployment is not None else None

    def tick(self, name: str | None) -> str:
        """Every rate() schedule rule fires now (or those of one function or rule)."""
        stack = self.stack
        rules = [
            rule
            for rule in stack.deployment.schedules
            if (rule.expression.strip().startswith("rate(") if name is None else name == rule.name)
            or (name is not None and name in stack.rule_functions(rule))
        ]
        outcomes = []
        for rule in rules:
            outcomes += stack._deliver_scheduled(rule, stack.tick_event(rule, stack.now()), True)
        return "tick: " + (", ".join(outcomes) if outcomes else "no schedule rule")

    def invoke(self, function: str, event: Any, trigger: str) -> str:
        functions = self.stack.functions
        try:
            with triggered(trigger, wait=False):
                functions[function].invoke(event)
            return f"{function}: ok"
        except Throttled:
            functions.invoke_async(functions[function], event, trigger)
            return f"{function}: throttled, runs later"
        except InvocationCrashed:
            return f"{function}: crashed"
        except Exception as error:
            log.exception("%s failed on %s", function, trigger)
            return f"{function}: failed: {error!r}"


class LocalStack:
    def __init__(
        self,
        *,
        port: int = 0,
        provider_port: int | None = None,
        clock: str = "real",
        clock_start: str | datetime | None = None,
        api_keys: dict[str, str] | str | None = None,
        template: Path | str = DEFAULT_TEMPLATE,
        parameters: dict[str, str] | None = None,
        provider: ProviderSettings | None = None,
        provider_secret: str | None = None,
        host: str = "127.0.0.1",
        max_visibility_seconds: int | None = None,
        latency: str | Path | LatencyModel | None = None,
    ) -> None:
        """`max_visibility_seconds` caps the queues' visibility timeouts as the runtime
        applies them: a message a crashed invocation held comes back that soon at most
        (the fault suite's runs take simulated minutes instead of the planning queue's
        90 minutes); None keeps the template's. `latency` ("aws", "off", a latency file
        or a `LatencyModel`; None reads LOCAL_LATENCY, off by default) models each AWS
        request's time on AWS (latency.py): `stack.latency`, None when off."""
        if clock not in ("real", "simulated"):
            raise ValueError("clock is 'real' or 'simulated'")
        self.host = host
        self.port = port
        self.provider_port = (
            provider_port if provider_port is not None else (port + 1 if port else 0)
        )
        self.simulated = clock == "simulated"
        self.clock_start = parse_instant(clock_start)
        if isinstance(api_keys, str):
            api_keys = parse_api_keys(api_keys)
        self.api_keys = dict(api_keys) if api_keys else dict(DEFAULT_API_KEYS)
        self.template = SamTemplate(Path(template))
        self.parameter_overrides = dict(parameters or {})
        self.provider_secret = provider_secret or secrets.token_hex(24)
        self.provider_settings = provider or ProviderSettings.from_env(os.environ)
        self.max_visibility_seconds = max_visibility_seconds
        self.latency = latency if isinstance(latency, LatencyModel) else latency_from_env(latency)
        self.startup_seconds = 0.0
        self.ledgers: dict[str, QueueLedger] = {}
        self.streams = StreamPollers()
        # Faults injected into this stack (`stack.faults.add(kind=..., ...)`; faults.py).
        self.faults = Faults(self.now, _Actions(self))
        self._tag = uuid.uuid4().hex[:8]
        self._started = False
        self._saved_env: dict[str, str] | None = None
        self._in_process: MockAWS | None = None
        self._saved_clock: Any = None
        self._moto: MotoServer | None = None
        self._servers: list[HttpServer] = []
        self._functions: Functions | None = None

    @classmethod
    def options_from_env(cls, environ: dict[str, str] | None = None) -> dict[str, Any]:
        """`make local`'s settings: PORT, PROVIDER_PORT, API_KEYS, CLOCK, CLOCK_START,
        SIM_PROVIDER_SECRET and the SIM_PROVIDER_* of ProviderSettings.from_env."""
        env = dict(os.environ if environ is None else environ)
        port = int(env.get("PORT") or 3000)
        return {
            "port": port,
            "provider_port": int(env.get("PROVIDER_PORT") or port + 1),
            "clock": (env.get("CLOCK") or "real").lower(),
            "clock_start": env.get("CLOCK_START") or None,
            "api_keys": env.get("API_KEYS") or None,
            "provider": ProviderSettings.from_env(env),
            "provider_secret": env.get("SIM_PROVIDER_SECRET") or None,
        }

    # ================================================================= lifecycle
    @classmethod
    def active(cls) -> LocalStack | None:
        """The stack running in this process, if any."""
        with _active_lock:
            return _active

    @classmethod
    def start(cls, **options: Any) -> LocalStack:
        # Each stack has its own provider secret: forget one cached by an earlier stack.
        parameters.clear_caches()
        stack = cls(**options)
        stack._start()
        return stack

    def __enter__(self) -> LocalStack:
        if not self._started:
            self._start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _claim(self) -> None:
        global _active
        with _active_lock:
            if _active is not None:
                raise RuntimeError("a local stack already runs in this process; stop it first")
            _active = self

    def _start(self) -> None:
        began = time.monotonic()
        self._claim()
        try:
            self._boot()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _boot(self) -> None:
        # The template's layers are what Lambda mounts at /opt/python: the shared package
        # (which the runtime itself uses for the clock and settings, whatever the template).
        self.template.add_layers_to_path()
        if DEFAULT_TEMPLATE.is_file() and self.template.path != DEFAULT_TEMPLATE.resolve():
            SamTemplate(DEFAULT_TEMPLATE).add_layers_to_path()
        from batchcalls.clock import SimulatedClock, SystemClock, current_clock, use_clock

        self._started = True
        moto_hooks.install()
        self._saved_env = dict(os.environ)
        for name in UNSET:
            os.environ.pop(name, None)
        os.environ.update(FAKE_CREDENTIALS)
        for name, value in ENV_DEFAULTS.items():
            os.environ.setdefault(name, value)

        self._moto = MotoServer(self.host)
        self.moto_url = self._moto.start()
        # Presigned URLs (contact files) point at the server, so a client can PUT to them.
        os.environ["CONTACTS_BUCKET_URL_ENDPOINT"] = self.moto_url
        # The functions run in this process: their AWS calls go straight to the backends
        # the server holds, as under `mock_aws` (no socket, no HTTP server in between;
        # several times faster per call). Clients outside (the admin tool) and the
        # runtime's own session use the server's endpoint.
        self._in_process = mock_aws()
        self._in_process.start(reset=False)
        self.session = _Session(self.moto_url)

        self._saved_clock = current_clock()
        self.clock = SimulatedClock(self.clock_start) if self.simulated else SystemClock()
        use_clock(self.clock)
        self.loop = EventLoop(self.clock, simulated=self.simulated)
        self.provider = SimulatedProvider(
            self.loop, self.provider_secret, self.provider_settings, self.faults
        )
        aws_requests.add_listener(self.faults)
        if self.latency is not None:
            self.latency.start()
        install_serial_executor(lambda: self.faults.serial)

        self.api = ApiApp(self)
        api_server = HttpServer(self.host, self.port, self.api, "local-api")
        self._servers.append(api_server)
        provider_server = HttpServer(
            self.host, self.provider_port, ProviderApp(self), "local-provider"
        )
        self._servers.append(provider_server)
        self.port, self.provider_port = api_server.port, provider_server.port

        self._runtime = _Runtime(self)
        moto_hooks.set_listener(self._runtime)
        self.event_targets = EventTargets(
            self.loop, Functions({}, self.loop, self._tag), self.session
        )

        parameters = self._parameters()
        self._create_provider_secret(parameters)
        deployer = Deployer(self.session, REGION)
        self.deployment: Deployment = deployer.deploy(self.template, parameters, STACK_NAME)

        os.environ.update(self.deployment.environment(self.base_url))
        # Event destinations may point at the local sink (plain http), here only.
        os.environ["LOCAL_SINK_URL"] = f"{self.base_url}/_local/webhook-sink/"
        self._bind_storage()

        self._functions = Functions(self.deployment.functions, self.loop, self._tag, self.faults)
        self.event_targets.functions = self.functions
        self.routes = RouteTable(self.deployment.routes)
        sqs = self.session.client("sqs")
        for mapping in self.deployment.mappings:
            if self.max_visibility_seconds is not None:
                mapping.queue.visibility_timeout = min(
                    mapping.queue.visibility_timeout, self.max_visibility_seconds
                )
            if mapping.enabled:
                self.ledgers[mapping.queue.name] = QueueLedger(
                    mapping,
                    self.functions[mapping.function],
                    sqs,
                    self.loop,
                    REGION,
                    self._runtime.send_lock,
                    self.faults,
                )
        for stream in self.deployment.stream_mappings:
            if stream.enabled:
                self.streams.add(
                    StreamPoller(
                        stream,
                        self.functions[stream.function],
                        shard_of(stream.table, ACCOUNT_ID, REGION),
                        self.loop,
                        REGION,
                        sqs,
                        self.faults,
                    )
                )
        for ledger in self.ledgers.values():
            # Whatever reached the queue while the stack was deployed (S3's test event).
            self.loop.call_soon(f"receive {ledger.queue.name}", ledger.pull)
        for poller in self.streams.all():
            poller.schedule_poll()  # whatever was written while the stack was deployed
        for rule in self.deployment.schedules:
            self._schedule(rule)
        self._register_api_keys()

        for server in self._servers:
            server.start()
        self.loop.start()
        self.loop.drain_soon()

    def _parameters(self) -> dict[str, str]:
        local = {
            "Stage": "local",
            "ProviderUrl": self.provider_url,
            "EventsWebhookUrl": f"{self.base_url}/_local/webhook-sink/events",
            "EventsWebhookAuthValue": "local-webhook-token",
        }
        names = self.template.parameter_names()
        chosen = {k: v for k, v in local.items() if k in names}
        chosen.update(self.parameter_overrides)
        return chosen

    def _create_provider_secret(self, parameters: dict[str, str]) -> None:
        name = parameters.get("ProviderSecretParameter") or self.template.parameter_default(
            "ProviderSecretParameter"
        )
        if name:
            self.session.client("ssm").put_parameter(
                Name=name, Value=self.provider_secret, Type="SecureString", Overwrite=True
            )

    def _bind_storage(self) -> None:
        from batchcalls.adapters.tables import bind_tables
        from batchcalls.settings import StorageSettings, load_settings, reset_settings

        reset_settings()
        bind_tables(load_settings(StorageSettings))

    def _register_api_keys(self) -> None:
        from batchcalls.adapters.api_keys import register_api_key
        from batchcalls.settings import StorageSettings, load_settings

        table = load_settings(StorageSettings).api_keys_table
        if table not in self.deployment.of_type("AWS::DynamoDB::Table").values():
            log.info("no API keys table in the stack; keys not registered")
            return
        for key, tenant in self.api_keys.items():
            register_api_key(tenant, key, label="local")

    def _schedule(self, rule: ScheduleRule) -> None:
        try:
            schedule = schedules.parse(rule.expression)
        except ValueError as problem:
            log.warning("schedule rule %s is not run locally: %s", rule.name, problem)
            return

        def fire(due: datetime) -> Callable[[datetime], None]:
            def run(now: datetime) -> None:
                if not self.faults.skip_tick(rule.name, self.rule_functions(rule)):
                    self._deliver_scheduled(rule, self.tick_event(rule, due))
                following = schedule.next_after(due)
                self.loop.call_at(following, f"tick {rule.name}", fire(following))

            return run

        first = schedule.next_after(self.loop.now())
        self.loop.call_at(first, f"tick {rule.name}", fire(first))

    @staticmethod
    def tick_event(rule: ScheduleRule, due: datetime) -> dict[str, Any]:
        """The "Scheduled Event" a rule's targets receive for its firing at `due`."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": iso_seconds(due),
            "region": REGION,
            "resources": [rule.arn],
            "detail": {},
        }

    def rule_functions(self, rule: ScheduleRule) -> list[str]:
        """Logical ids of the functions a rule targets."""
        found = (self.functions.by_arn(t["Arn"]) for t in rule.targets)
        return [f.logical_id for f in found if f is not None]

    def _deliver_scheduled(
        self, rule: ScheduleRule, event: dict[str, Any], at_once: bool = False
    ) -> list[str]:
        outcomes = []
        for target in rule.targets:
            body = target_input(target, event)
            function = self.functions.by_arn(target["Arn"])
            if function is not None:
                source = f"schedule {rule.name}"
                payload = json.loads(body)
                outcome = self.functions.invoke_async(function, payload, source, at_once=at_once)
                outcomes.append(f"{function.logical_id} {outcome}")
                if self.faults.duplicate_delivery(function.logical_id, f"tick of {rule.name}"):
                    again = f"{source} (delivered twice)"
                    self.functions.invoke_async(function, payload, again, at_once=at_once)
            elif target["Arn"].startswith("arn:aws:sqs:"):
                sqs = self.session.client("sqs")
                url = sqs.get_queue_url(QueueName=target["Arn"].rsplit(":", 1)[-1])["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=body)
            else:
                log.warning(
                    "schedule rule %s: target %s is not run locally", rule.name, target["Arn"]
                )
        return outcomes

    def stop(self) -> None:
        """Stop every thread and server, free moto, give back the environment and clock."""
        global _active
        parameters.clear_caches()
        if hasattr(self, "api"):
            self.api.webhooks.released.set()  # a hanging sink lets go
        if hasattr(self, "loop"):
            self.loop.stop()
        for server in self._servers:
            server.stop()
        self._servers = []
        for ledger in self.ledgers.values():
            ledger.close()
        aws_requests.remove_listener(self.faults)
        if self.latency is not None:
            self.latency.stop()
        self.faults.serial = False
        moto_hooks.set_listener(None)
        if self._in_process is not None:
            self._in_process.stop(remove_data=False)
            self._in_process = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._functions is not None:
            self._functions.unload()
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None
            self._bind_storage()
        if self._saved_clock is not None:
            from batchcalls.clock import use_clock

            use_clock(self._saved_clock)
            self._saved_clock = None
        self._started = False
        with _active_lock:
            if _active is self:
                _active = None

    # ================================================================= use
    @property
    def functions(self) -> Functions:
        """The stack's functions by logical id (`stack.functions["ApiFunction"]`)."""
        if self._functions is None:
            raise RuntimeError("the stack is not started")
        return self._functions

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def provider_url(self) -> str:
        return f"http://{self.host}:{self.provider_port}"

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        return self.api.webhooks.list()

    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, seconds: float) -> datetime:
        """Simulated clock: move forward, running everything due on the way."""
        return self.loop.advance(seconds)

    def run_due(self) -> int:
        """Run what is due at the current time (after sending work from a test directly)."""
        return self.loop.run_due(self.now())

    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a function (logical id) synchronously, then run what it made due."""
        try:
            return self.functions[function].invoke(event)
        finally:
            self.loop.drain_soon()

    def resource(self, logical_id: str) -> str:
        """The physical id (table name, queue URL, bus name...) of a template resource."""
        return self.deployment.physical_id(logical_id)

    def client(self, service: str) -> Any:
        """A boto3 client on the local moto server."""
        return self.session.client(service)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> LocalResponse:
        """One HTTP request to the local API; `body` is sent as JSON unless bytes."""
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if api_key:
            sent["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=sent, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return LocalResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as failure:
            return LocalResponse(failure.code, dict(failure.headers), failure.read())

    def banner(self) -> str:
        key = next(iter(self.api_keys))
        keys = ", ".join(f"{k} (tenant {t})" for k, t in self.api_keys.items())
        mode = f"simulated, now {self.now().isoformat()}" if self.simulated else "real"
        lines = [
            f"Local stack ready in {self.startup_seconds:.1f}s",
            f"  API:       {self.base_url}",
            f"  API keys:  {keys}",
            f"  clock:     {mode}",
            f"  provider:  {self.provider_url} (simulated; calls at {self.base_url}/_local/provider/calls)",
            f"  webhooks:  {self.base_url}/_local/webhook-sink/... (listed at /_local/webhooks)",
            f"  functions: {', '.join(sorted(self.deployment.functions))}",
            f"  moto:      {self.moto_url} (stack {self.deployment.stack_name}; for tools.admin --endpoint-url)",
            "  try:",
            f"    curl -s -H 'Authorization: Bearer {key}' {self.base_url}/batch-calls",
        ]
        if self.simulated:
            lines.append(
                f"    curl -s -X POST -d '{{\"seconds\": 60}}' {self.base_url}/_local/clock/advance"
            )
        return "\n".join(lines)
