"""The whole service on one machine: moto as AWS, the template's resources, both APIs.

`LocalStack` is what `make dev` runs and what the smoke and end-to-end tests start on free
ports. It reads everything from template.yaml and hosts the template's handlers: in-process,
but for the CPU-bound Map workers, each environment of which is a process of its own.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from dataclasses import dataclass, field

from moto.server import ThreadedMotoServer

from local.aws_front import AwsFront
from local.events import LocalEventBridge
from local.faults import Faults
from local.functions import PROCESS_FUNCTIONS, LocalFunction, merged_environment, template_functions
from local.resources import provision
from local.rest_gateway import GatewayResponses, RestGateway, template_cors, template_routes
from local.template import REGION, TEMPLATE_PATH, Template
from local.ws_gateway import WebSocketGateway, template_websocket_routes

log = logging.getLogger("local")

REST_API = "RestApi"
WEBSOCKET_API = "WebSocketApi"


@dataclass
class LocalStack:
    api_port: int = 3000
    ws_port: int = 3001
    template_path: os.PathLike = TEMPLATE_PATH
    seed_sample_data: bool = True
    market_replay: bool = False  # replay stored candles to market channels (the `make dev` demo feed)
    # Fire the template's Schedule events on their rate (`make dev`); tests fire them by hand.
    run_schedules: bool = False
    # Template parameter overrides, as `sam deploy --parameter-overrides` takes them (e.g. raised rate limits).
    parameters: dict[str, str] = field(default_factory=dict)
    # The functions whose execution environments are processes of their own (local/functions.py);
    # a test that patches one of these functions' module runs it in-process instead.
    process_functions: frozenset[str] = PROCESS_FUNCTIONS
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    # Errors the local AWS answers instead of the real thing, armed by fault tests (local/faults.py).
    faults: Faults = field(default_factory=Faults)
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    def start(self) -> LocalStack:
        self.template = Template.load(self.template_path, **self.parameters)
        stage = self.template.parameters["Stage"]
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.functions = template_functions(self.template, self.process_functions)
        self.aws = AwsFront(f"http://{host}:{port}", self.functions, REGION, self.faults)
        self.aws.start()
        ws_api_id = self.template.physical_name(WEBSOCKET_API)
        self.ws = WebSocketGateway(
            template_websocket_routes(self.template, self.functions, WEBSOCKET_API),
            stage,
            self.ws_port,
            ws_api_id,
            self.faults,
        )
        # The deployed functions reach the management API at the WebSocket API's execute-api URL.
        deployed_endpoint = f"https://{ws_api_id}.execute-api.{REGION}.amazonaws.com/{stage}"
        self.template.overrides[deployed_endpoint] = self.ws.management_url
        self._set_environment(
            {
                **merged_environment(self.template),
                "AWS_ENDPOINT_URL": self.aws.url,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                # moto's Step Functions interpreter invokes Lambda tasks at localhost:$MOTO_PORT.
                "MOTO_PORT": str(self.aws.port),
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        # moto's backends live in this process: a stack started after another one (tests) starts empty.
        self._moto_post("/moto-api/reset", None)
        # Before provisioning: moto keeps executable state machines in a separate backend.
        self._moto_post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        provision(self.template, self.aws.url)
        if self.seed_sample_data:
            self._seed_sample_data()
        state_machines = [self.template.arn(name) for name in self.template.of_type("AWS::Serverless::StateMachine")]
        self.events = LocalEventBridge(self.template, self.functions, self.aws, state_machines)
        # The market replay stands in for MarketFeedFunction locally (its schedule would poll Binance).
        self.events.start(self.run_schedules, frozenset({"MarketFeedFunction"}) if self.market_replay else frozenset())
        self.rest = RestGateway(
            template_routes(self.template, self.functions, REST_API),
            stage,
            self.api_port,
            self.template.physical_name(REST_API),
            template_cors(self.template, REST_API),
            GatewayResponses.from_template(self.template, REST_API),
        )
        self.rest.start()
        self.ws.start()
        if self.market_replay:
            from local.market_replay import MarketReplay

            self.replay = MarketReplay.from_env()
            self.replay.start()
        return self

    def stop(self) -> None:
        for part in ("replay", "events", "rest", "ws", "aws"):
            if hasattr(self, part):
                getattr(self, part).stop()
        for function in self.functions.values():
            function.shutdown()
        if hasattr(self, "moto"):
            self.moto.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return self.rest.url

    @property
    def ws_url(self) -> str:
        return self.ws.url

    def _seed_sample_data(self) -> None:
        """A new user can run a backtest at once: synthetic BTCUSDT/ETHUSDT candles (README, Market data)."""
        import boto3

        from adapters.candle_store import S3CandleStore
        from shared.market_data.sample import import_sample_data

        store = S3CandleStore(boto3.client("s3", endpoint_url=self.aws.url), os.environ["CANDLES_BUCKET"])
        import_sample_data(store, int(time.time() * 1000))

    def _set_environment(self, variables: dict[str, str]) -> None:
        for key, value in variables.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _moto_post(self, path: str, body: dict | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(
            f"{self.aws.url}{path}", data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        # the embedded moto, on loopback
        urllib.request.urlopen(request).read()  # nosec B310
