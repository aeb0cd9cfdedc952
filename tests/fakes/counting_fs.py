"""A pyarrow filesystem wrapper that records what is read through it: which files are opened,
how many bytes are read from each, and whether anything lists a directory."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs


class CountingHandler(pafs.FileSystemHandler):
    def __init__(self, inner: pafs.FileSystem) -> None:
        self.inner = inner
        self.opened: list[str] = []
        self.bytes_read: Counter[str] = Counter()
        self.listings = 0

    def reset(self) -> None:
        self.opened.clear()
        self.bytes_read.clear()
        self.listings = 0

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_read.values())

    # reads: counted
    def open_input_file(self, path: str) -> Any:
        self.opened.append(path)
        return pa.PythonFile(_CountingReader(self.inner.open_input_file(path), path, self.bytes_read), mode="r")

    def open_input_stream(self, path: str) -> Any:
        self.opened.append(path)
        return pa.PythonFile(_CountingReader(self.inner.open_input_stream(path), path, self.bytes_read), mode="r")

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        self.listings += 1
        return self.inner.get_file_info(selector)

    # everything else: passed through
    def get_type_name(self) -> str:
        return f"counting+{self.inner.type_name}"

    def equals(self, other: Any) -> bool:
        return other is self

    def normalize_path(self, path: str) -> str:
        return self.inner.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(paths)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.inner.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.inner.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.inner.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.inner.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path: str) -> None:
        self.inner.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.inner.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.inner.copy_file(src, dest)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        return self.inner.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        return self.inner.open_append_stream(path, metadata=metadata)


class _CountingReader:
    """A Python file object over a pyarrow file, adding each read's size to `counter[path]`."""

    def __init__(self, inner: Any, path: str, counter: Counter[str]) -> None:
        self.inner, self.path, self.counter = inner, path, counter

    def read(self, nbytes: int = -1) -> bytes:
        data = self.inner.read() if nbytes is None or nbytes < 0 else self.inner.read(nbytes)
        self.counter[self.path] += len(data)
        return data

    def seek(self, position: int, whence: int = 0) -> int:
        return self.inner.seek(position, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def size(self) -> int:
        return self.inner.size()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.inner.seekable()

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.inner.close()

    @property
    def closed(self) -> bool:
        return self.inner.closed


def counting_filesystem(inner: pafs.FileSystem) -> tuple[pafs.PyFileSystem, CountingHandler]:
    handler = CountingHandler(inner)
    return pafs.PyFileSystem(handler), handler
