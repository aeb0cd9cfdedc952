"""Events per second THE publisher sustains to 100 WebSocket subscribers on the local stack.

Starts the local stack, signs one user up over REST, opens SUBSCRIBERS real WebSocket
connections that each join `user:<id>` through the WebSocket function, then publishes EVENTS
status events with `publisher_from_env()` (exactly what producers use: one channel-index query
per event, post_to_connection to every subscriber on the send pool) and measures the time until
every subscriber has received every event. Repeated for several send-pool sizes; `ms/post` is
what is left of an event's time once the subscriber lookup is taken out, per subscriber.

Everything (moto, the gateway, the management API, the clients, the publisher) shares one
Python process and its GIL, so the figures are a floor for what the same code does against
AWS, where the sends go to API Gateway's endpoint and nothing else runs in the producer.

    .venv/bin/python bench/publisher_throughput.py [SUBSCRIBERS] [EVENTS]
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402

from adapters.publisher import publisher_from_env  # noqa: E402
from local.stack import LocalStack  # noqa: E402

WORKER_COUNTS = (1, 4, 16)
LOOKUP_SAMPLES = 50


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def sign_up(stack: LocalStack) -> tuple[str, str]:
    credentials = {"email": f"bench-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse battery"}
    _post(f"{stack.api_url}/api/v1/users", credentials | {"name": "Bench"})
    session = _post(f"{stack.api_url}/api/v1/sessions", credentials)
    return session["token"], session["user"]["id"]


class Subscribers:
    """`count` connections joined to one channel, counting what they receive, on their own loop."""

    def __init__(self, url: str, count: int, channel: str, token: str) -> None:
        self.url, self.count, self.channel, self.token = url, count, channel, token
        self.received = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),), daemon=True)

    def __enter__(self) -> Subscribers:
        self._thread.start()
        if not self._ready.wait(120):
            raise RuntimeError("subscribers did not join in time")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        sockets = []
        for _ in range(self.count):  # joined one by one: the WebSocket function runs 4 at a time locally
            socket = await websockets.connect(self.url, max_queue=None)
            await socket.send(json.dumps({"action": "join", "channel": self.channel, "token": self.token}))
            reply = json.loads(await socket.recv())
            if reply.get("event") != "joined":
                raise RuntimeError(f"join failed: {reply}")
            sockets.append(socket)
        readers = [asyncio.create_task(self._read(socket)) for socket in sockets]
        self._ready.set()
        await self._stop.wait()
        for socket in sockets:
            await socket.close()
        await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, socket: websockets.ClientConnection) -> None:
        async for _ in socket:
            with self._lock:
                self.received += 1

    def wait_for(self, total: int, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while self.received < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.received} of {total} messages arrived")
            time.sleep(0.002)


def main(subscribers: int = 100, events: int = 50) -> None:
    logging.disable(logging.WARNING)
    with LocalStack(api_port=0, ws_port=0) as stack:
        token, user_id = sign_up(stack)
        channel = f"user:{user_id}"
        with Subscribers(stack.ws_url, subscribers, channel, token) as clients:
            probe = publisher_from_env(workers=1)
            lookups = []
            for _ in range(LOOKUP_SAMPLES):
                started = time.perf_counter()
                found = probe.connections.subscribers(channel)
                lookups.append((time.perf_counter() - started) * 1000)
            probe.shutdown()
            assert len(found) == subscribers, f"{len(found)} subscribers in the index"
            lookup_ms = statistics.median(lookups)
            print(
                f"{subscribers} subscribers on {channel}; channel-index query through the local AWS endpoint: "
                f"median {lookup_ms:.1f} ms"
            )
            print(f"{'send workers':>12} {'events/s':>9} {'messages/s':>11} {'ms/event':>9} {'ms/post':>8}")
            for workers in WORKER_COUNTS:
                publisher = publisher_from_env(workers=workers)
                warm_up = clients.received + subscribers
                publisher.publish(channel, "status_update", {"status": "running", "progress": 0})  # fills the pool
                clients.wait_for(warm_up)
                expected = warm_up + subscribers * events
                started = time.perf_counter()
                for n in range(events):
                    delivery = publisher.publish(
                        channel, "backtest:status_update", {"backtest_id": "bench", "status": "running", "progress": n}
                    )
                    assert delivery.delivered == subscribers, delivery
                clients.wait_for(expected)
                elapsed = time.perf_counter() - started
                publisher.shutdown()
                per_event_ms = elapsed / events * 1000
                print(
                    f"{workers:>12} {events / elapsed:>9.1f} {events * subscribers / elapsed:>11.0f} "
                    f"{per_event_ms:>9.1f} {(per_event_ms - lookup_ms) / subscribers:>8.2f}"
                )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
