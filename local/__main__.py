"""`make dev`: run the whole service locally until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import threading

from local.stack import LocalStack
from local.template import parameter_overrides
from local.web import WebServer


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stack = LocalStack(
        api_port=int(os.environ.get("API_PORT", 3000)),
        ws_port=int(os.environ.get("WS_PORT", 3001)),
        market_replay=True,
        run_schedules=True,
        parameters=parameter_overrides(os.environ.get("PARAMETER_OVERRIDES", "")),
    )
    stack.start()
    api, ws = stack.api_url, stack.ws_url
    web = WebServer(int(os.environ.get("WEB_PORT", 3002)), api, ws).start()
    print(
        f"""
Backtest service running locally (embedded AWS: moto at {stack.aws.url})
  Dashboard  {web.url}
  REST API   {api}/api/v1      docs: {api}/api/docs
  WebSocket  {ws}

Try:
  curl {api}/api/v1/health
  python -m websockets {ws}        then send {{"action": "ping"}}

Ctrl-C stops everything.
""",
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    print("stopping...", flush=True)
    web.stop()
    stack.stop()


if __name__ == "__main__":
    main()
