"""An S3 client wrapper that records what is read through it under a key prefix (default: all):
how many GETs, which objects are read (in the order first read), how many bytes come back from
each, and how many listings."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CountingS3:
    def __init__(self, client: Any, prefix: str = "") -> None:
        self.client, self.prefix = client, prefix
        self._lock = threading.Lock()  # pyarrow reads month objects from several threads
        self.gets = 0
        self.opened: list[str] = []
        self.bytes_read: Counter[str] = Counter()
        self.listings = 0

    def reset(self) -> None:
        with self._lock:
            self.gets, self.listings = 0, 0
            self.opened.clear()
            self.bytes_read.clear()

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_read.values())

    def get_object(self, **kwargs: Any) -> Any:
        response = self.client.get_object(**kwargs)
        if not kwargs["Key"].startswith(self.prefix):
            return response
        with self._lock:
            self.gets += 1
            key = f"{kwargs['Bucket']}/{kwargs['Key']}"
            if key not in self.bytes_read:
                self.opened.append(key)
            self.bytes_read[key] += response["ContentLength"]
        return response

    def list_objects_v2(self, **kwargs: Any) -> Any:
        self._listed(kwargs.get("Prefix", ""))
        return self.client.list_objects_v2(**kwargs)

    def get_paginator(self, name: str) -> Any:
        return _CountingPaginator(self, self.client.get_paginator(name))

    def _listed(self, prefix: str) -> None:
        if prefix.startswith(self.prefix) or self.prefix.startswith(prefix):  # a listing that reaches the prefix
            with self._lock:
                self.listings += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


class _CountingPaginator:
    def __init__(self, counter: CountingS3, inner: Any) -> None:
        self.counter, self.inner = counter, inner

    def paginate(self, **kwargs: Any) -> Any:
        self.counter._listed(kwargs.get("Prefix", ""))
        return self.inner.paginate(**kwargs)
