"""A moto server in its own process that applies one request at a time; prints its port, then serves.

Its own process: moto keeps its state in module globals, so a server in the test process would share
tables with the local stack and with the `aws` fixture's resets. One request at a time: DynamoDB
applies each write atomically, while moto's UpdateItem is a read-modify-write that two threads can
interleave (two concurrent first increments of a new counter both write 1), which would make the
rate limiter's concurrency tests test moto instead.
"""

from __future__ import annotations

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server


def main() -> None:
    dispatcher, lock = DomainDispatcherApplication(create_backend_app), threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            return list(dispatcher(environ, start_response))

    server = make_server("127.0.0.1", 0, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
