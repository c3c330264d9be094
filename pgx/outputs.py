"""Write output tables as Parquet with the declared schemas, atomically.

Every table is written with its schema from ``pgx.schema`` (never inferred), with the
schema version in the key-value metadata, to a temporary file in the target directory
that is renamed into place only when complete: a killed run leaves no half-written
table. No timestamps go into the files, so the same input gives byte-identical output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pgx import __version__
from pgx.schema import OUTPUT_SCHEMAS, SCHEMA_VERSION


def schema_for(name: str) -> pa.Schema:
    """The declared schema of output table ``name``, with pgx metadata attached."""
    return OUTPUT_SCHEMAS[name].with_metadata(
        {"pgx_table": name, "pgx_schema_version": SCHEMA_VERSION, "pgx_version": __version__}
    )


def to_arrow(df: pd.DataFrame, name: str) -> pa.Table:
    """``df`` as an Arrow table of the declared schema (missing columns are an error)."""
    schema = schema_for(name)
    missing = [f.name for f in schema if f.name not in df.columns]
    if missing:
        raise ValueError(f"{name}: columns missing from the frame: {missing}")
    arrays = [pa.array(_plain(df[f.name]), type=f.type, from_pandas=True) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _plain(col: pd.Series) -> list:
    """Python values with NaN/NA as None, numpy arrays as lists (Arrow-friendly)."""
    out = []
    for v in col.tolist():
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
            out.append(None)
        elif hasattr(v, "tolist") and not isinstance(v, str):
            out.append(v.tolist())
        else:
            out.append(v)
    return out


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_table(df: pd.DataFrame, name: str, path: Path) -> Path:
    """Write ``df`` as Parquet table ``name`` to ``path`` atomically."""
    table = to_arrow(df, name)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(path)


class ChunkedTableWriter:
    """Append frames of one table chunk by chunk (bounded memory), atomically."""

    def __init__(self, name: str, path: Path):
        self.name, self.path = name, Path(path)
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, schema_for(name), compression="zstd")

    def write(self, df: pd.DataFrame) -> None:
        self._writer.write_table(to_arrow(df, self.name))

    def close(self, ok: bool = True) -> None:
        self._writer.close()
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> "ChunkedTableWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


def read_table(path: Path) -> pd.DataFrame:
    """Read one of our Parquet tables back into pandas."""
    return pq.read_table(path).to_pandas()
