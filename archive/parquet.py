"""Records -> one Parquet file, written a row group at a time as records come, so that memory
stays bounded however many there are. Used by `scraper export --format parquet` and by
`scraper extract`'s shards. pyarrow is an extra (`pip install 'scraper[parquet]'`), imported
when a writer is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

INTEGERS = frozenset({"version", "word_count"})
LISTS = frozenset({"authors"})
"""Fields that are not text: the rest are strings (dates as ISO 8601, as in jsonl)."""
ROW_GROUP = 1000
"""Records a row group holds."""


def schema(fields: tuple[str, ...]) -> Any:
    import pyarrow as pa

    def kind(name: str) -> Any:
        return pa.int64() if name in INTEGERS else pa.list_(pa.string()) if name in LISTS else pa.string()

    return pa.schema([(name, kind(name)) for name in fields])


class ParquetRecords:
    """Writes records (dicts holding at least fields) to where, a path or a binary file object
    (a pipe will do: Parquet is written front to back)."""

    def __init__(self, where: Path | IO[bytes], fields: tuple[str, ...]) -> None:
        import pyarrow.parquet as pq

        self._fields = fields
        self._schema = schema(fields)
        self._writer = pq.ParquetWriter(where, self._schema)
        self._rows: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self._rows.append({name: record.get(name) for name in self._fields})
        if len(self._rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
        self._rows = []

    def close(self) -> None:
        if self._rows:
            self._flush()
        self._writer.close()
