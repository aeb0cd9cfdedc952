"""The dashboard on `make dev`: the built app (web/dist) served as CloudFront serves it from S3,
with the `config.json` a deployment writes next to it pointing at this stack's REST and WebSocket
URLs. The page's origin (WEB_PORT) differs from the API's, as in production, so CORS is real."""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.template import ROOT

log = logging.getLogger("local.web")

DIST = ROOT / "web" / "dist"


class WebServer:
    def __init__(self, port: int, api_url: str, ws_url: str, directory: Path = DIST) -> None:
        if not (directory / "index.html").is_file():
            raise FileNotFoundError(
                f"{directory}/index.html is missing: build the dashboard (cd web && npm ci && npm run build)"
            )
        config = json.dumps({"apiUrl": api_url, "wsUrl": ws_url}).encode()
        handler = functools.partial(_Handler, config, directory=str(directory))
        self._server = _Server(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="web", daemon=True)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser closing a page mid-download is no error worth a traceback."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, config: bytes, *args: Any, **kwargs: Any) -> None:
        self._config = config
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(self._config)))
            self.end_headers()
            self.wfile.write(self._config)
            return
        super().do_GET()

    def end_headers(self) -> None:
        if not self.path.startswith("/assets/"):  # hashed asset names may be cached; the rest not
            self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)
