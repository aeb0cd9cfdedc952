"""Parquet in S3, read one way: through `S3Objects.range_file`, i.e. ranged GETs of the injected
boto3 client, with pyarrow deciding which ranges.

Why this path and not pyarrow's own S3 filesystem as well: a read needs only the footer and the
row groups its predicate keeps, and both the candle store (predicate pushdown on `ts` row-group
statistics across month objects) and the trade store (a page's row groups by row number) get
exactly that from pyarrow over a seekable file; the bytes come through the same client, retries,
endpoint (`AWS_ENDPOINT_URL` locally), credentials and request counting as every other S3 call,
and nothing reads the environment or starts the AWS C++ SDK behind the composition root's back.
`pre_buffer` coalesces the column chunks of the chosen row groups into few ranged GETs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from adapters.s3_objects import S3Objects


def parquet_file(objects: S3Objects, key: str, size: int | None = None) -> pq.ParquetFile | None:
    """The Parquet object at `key` (its footer read, nothing else), None when there is none."""
    source = objects.range_file(key, size)
    return None if source is None else pq.ParquetFile(source, pre_buffer=True)


def read_table(
    objects: S3Objects,
    keys_and_sizes: Sequence[tuple[str, int]],
    schema: pa.Schema,
    condition: ds.Expression | None = None,
) -> pa.Table:
    """The rows of the named objects (in that order) that satisfy `condition`: no listing, no HEAD
    (sizes are given), row groups whose statistics rule the condition out are never read."""
    parquet = ds.ParquetFileFormat()
    fragments = [parquet.make_fragment(objects.range_file(key, size), file_size=size) for key, size in keys_and_sizes]
    dataset = ds.FileSystemDataset(fragments, schema=schema, format=parquet, filesystem=None)
    return dataset.to_table(filter=condition)
