"""Write output tables as Parquet with the declared schemas, atomically.

Every table is written with its schema from ``pgx.schema`` (never inferred), with the
schema version in the key-value metadata, to a temporary file in the target directory
that is renamed into place only when complete: a killed run leaves no half-written
table. No timestamps go into the files, so the same input gives byte-identical output.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pgx import __version__
from pgx.schema import OUTPUT_SCHEMAS, SCHEMA_VERSION

COMPRESSION = "zstd"

#: rows per Parquet row group written by ChunkedTableWriter (a chunk is cast to the
#: declared types one row group at a time, so this bounds the materialised strings)
ROW_GROUP_ROWS = 1 << 18

#: rows per slice when casting a column (see _cast)
CAST_ROWS = 1 << 20

#: columns whose Parquet min/max statistics are written, per table (default: all).
#: For genotypes only the columns a reader filters on; min/max of alleles, ref, rsid,
#: source_file and kb_version prune nothing and cost ~15% of the write time.
STATISTICS = {"genotypes": ["sample_id", "gene", "chrom", "pos", "phased", "phase_set", "status"]}


def writer_options(name: str) -> dict:
    """Parquet writer options for table ``name`` (fixed, so output is reproducible)."""
    return {"compression": COMPRESSION, "write_statistics": STATISTICS.get(name, True)}


def schema_for(name: str) -> pa.Schema:
    """The declared schema of output table ``name``, with pgx metadata attached."""
    return OUTPUT_SCHEMAS[name].with_metadata(
        {"pgx_table": name, "pgx_schema_version": SCHEMA_VERSION, "pgx_version": __version__}
    )


def to_arrow(df: pd.DataFrame, name: str, *, conform_types: bool = True) -> pa.Table:
    """``df`` as an Arrow table of the declared schema (missing columns are an error).

    Columns are converted whole by Arrow (Arrow-backed columns are taken as they are);
    only a column Arrow cannot take directly (e.g. numpy arrays mixed with lists in an
    object column) goes value by value through :func:`_plain`. Either way the values
    are the same, so the Parquet bytes do not depend on how a frame was built. With
    ``conform_types=False`` Arrow-backed columns keep their own type (e.g. dictionary-encoded
    strings, see ``pgx.genotypes.genotype_frame``) and :func:`conform` casts them later.
    """
    schema = schema_for(name)
    missing = [f.name for f in schema if f.name not in df.columns]
    if missing:
        raise ValueError(f"{name}: columns missing from the frame: {missing}")
    arrays = [_column(df[f.name], f.type) for f in schema]
    table = pa.Table.from_arrays(arrays, names=schema.names)
    return conform(table, name) if conform_types else table


def as_table(data: pd.DataFrame | pa.Table, name: str, *, conform_types: bool = True) -> pa.Table:
    """``data`` (a frame or an Arrow table) as an Arrow table of table ``name``'s columns.

    With ``conform_types`` (the default) the result has exactly the declared schema.
    """
    if isinstance(data, pd.DataFrame):
        return to_arrow(data, name, conform_types=conform_types)
    schema = schema_for(name)
    missing = [f.name for f in schema if f.name not in data.column_names]
    if missing:
        raise ValueError(f"{name}: columns missing from the table: {missing}")
    table = data.select(schema.names)
    return conform(table, name) if conform_types else table


def conform(table: pa.Table, name: str) -> pa.Table:
    """``table`` (the columns of table ``name``, in order) cast to its declared schema."""
    schema = schema_for(name)
    if table.schema.remove_metadata().equals(schema.remove_metadata()):
        return table.replace_schema_metadata(schema.metadata)
    arrays = [_cast(table.column(i), f.type) for i, f in enumerate(schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _column(col: pd.Series, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(col.dtype, pd.ArrowDtype):
        return pa.array(col.array)
    try:
        return pa.array(col, type=type_, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array(_plain(col), type=type_, from_pandas=True)


def _cast(arr: pa.Array | pa.ChunkedArray, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """``arr`` as ``type_``, cast in slices of CAST_ROWS (a long string repeated on many
    rows could overflow the int32 offsets of one string array)."""
    if arr.type.equals(type_):
        return arr
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    if len(chunks) == 1 and len(chunks[0]) <= CAST_ROWS:
        return chunks[0].cast(type_)
    pieces = [c.slice(i, CAST_ROWS).cast(type_) for c in chunks for i in range(0, len(c), CAST_ROWS)]
    return pa.chunked_array(pieces, type=type_)


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


def _current_umask() -> int:
    """The process umask (reading it requires setting it; restored at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file owner-only (0600); give it the mode a plain open() would
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_table(df: pd.DataFrame | pa.Table, name: str, path: Path) -> Path:
    """Write ``df`` (a frame or an Arrow table) as Parquet table ``name`` to ``path`` atomically."""
    table = as_table(df, name)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **writer_options(name))
    return Path(path)


def write_arrow(table: pa.Table, name: str, path: Path) -> Path:
    """Write an Arrow ``table`` (e.g. ``pgx.genotypes.genotype_table``) as table ``name``."""
    return write_table(table, name, path)


class ChunkedTableWriter:
    """Append chunks of one table (frames or Arrow tables), atomically, in the background.

    Each chunk is converted to Arrow in the caller's thread and encoded + compressed by a
    writer thread (Parquet encoding releases the GIL), so writing overlaps the caller's
    next chunk on another core. Chunks are written one at a time in the order given,
    so the bytes are the same as a foreground write; at most ``max_pending`` chunks
    wait, which bounds memory. An error in the writer thread is raised by the next
    ``write`` or by ``close``, and the target file is then left untouched.
    """

    def __init__(self, name: str, path: Path, *, background: bool = True, max_pending: int = 1):
        self.name, self.path = name, Path(path)
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, schema_for(name), **writer_options(name))
        self._error: BaseException | None = None
        self._closed = False
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=max(1, max_pending))
            self._thread = threading.Thread(target=self._drain, name=f"pgx-write-{name}", daemon=True)
            self._thread.start()

    def write(self, data: pd.DataFrame | pa.Table) -> None:
        """Append one chunk, a frame or an Arrow table of this table's columns."""
        self._raise_error()
        table = as_table(data, self.name, conform_types=False)
        if self._queue is None:
            self._write_row_groups(table)
        else:
            self._queue.put(table)

    def _write_row_groups(self, table: pa.Table) -> None:
        """Cast to the declared schema and write, one row group of ROW_GROUP_ROWS at a time.

        Casting per row group keeps compact (dictionary-encoded) chunks compact until
        the moment they are encoded, so only one row group is ever materialised.
        """
        if table.num_rows == 0:
            self._writer.write_table(conform(table, self.name))
        for start in range(0, table.num_rows, ROW_GROUP_ROWS):
            self._writer.write_table(conform(table.slice(start, ROW_GROUP_ROWS), self.name))

    def _drain(self) -> None:
        while True:
            table = self._queue.get()
            if table is None:
                return
            if self._error is None:
                try:
                    self._write_row_groups(table)
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"writing {self.path.name} failed: {self._error}") from self._error

    def close(self, ok: bool = True) -> None:
        """Finish writing; with ``ok`` (and no error) move the file into place."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
            self._writer.close()
            if ok:
                self._raise_error()
        except BaseException:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
            raise
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
