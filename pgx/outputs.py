"""Write output tables as Parquet with the declared schemas, atomically, and commit a
run's tables as one unit.

Every table is written with its schema from ``pgx.schema`` (never inferred), with the
schema version in the key-value metadata, to a temporary file in the target directory
that is renamed into place only when complete: a killed run leaves no half-written
table. No timestamps go into the files, so the same input gives byte-identical output.

**A run is one unit** (:func:`commit_run`). A run's tables are written into a hidden
staging folder beside their final place (:class:`StagedRun`), each stamped with the run's
id (``pgx_run_id`` in the Parquet metadata; :func:`run_id` derives it from everything
that determines the output, so the same inputs give the same id and the same bytes).
The commit then removes the folder's run marker (``run.json``), moves the tables in and
writes the marker last, listing the run id and every table's size. A reader
(:func:`verify_run`: reports, QC, the cohort step) trusts a folder only when the marker is
there and every table carries its run id and size: a kill at any moment leaves either the
old run, or no marker (an incomplete folder that readers refuse), never tables of two
runs side by side that look complete. Outputs made from an earlier run's tables (the
reports folder, the QC page) are removed at the commit when the run id changes, so they
never look current beside the new tables. A scatter/gather workflow uses the same two
steps: each part is written with the run id, the gather writes the batch's tables into a
:class:`StagedRun` and calls :func:`commit_run`.

**Temporaries** are hidden and named after the process that made them
(:func:`temporary_name`: ``.calls.parquet.pgx@host@1234@x8f2.tmp``), so the next run in
the folder removes those of dead processes of this host (:func:`clean_stale_temporaries`)
and never touches a live one, here or on another node of a cluster.

**Errors writing** (disk full, quota, read-only file system, no permission, file too
large) become :class:`pgx.errors.OutputError` naming the folder and what to do
(:func:`output_error`); nothing is left half-written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pgx import __version__
from pgx.errors import IncompleteRunError, OutputError
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


def schema_for(name: str, run: str | None = None) -> pa.Schema:
    """The declared schema of output table ``name``, with pgx metadata attached (and the
    run id, ``pgx_run_id``, when ``run`` is given)."""
    meta = {"pgx_table": name, "pgx_schema_version": SCHEMA_VERSION, "pgx_version": __version__}
    if run is not None:
        meta["pgx_run_id"] = run
    return OUTPUT_SCHEMAS[name].with_metadata(meta)


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


# --- temporaries, and errors while writing ------------------------------------------------

_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
#: ``.<name>.pgx@<host>@<pid>@<random>.tmp``: who made a temporary, so stale ones can go
_TEMPORARY = re.compile(r"^\.(?P<name>.*)\.pgx@(?P<host>[^@/]+)@(?P<pid>\d+)@[^@/]*\.tmp$")


def temporary_name(path: Path | str) -> Path:
    """A hidden, unique temporary name beside ``path`` that names this host and process."""
    path = Path(path)
    return path.with_name(f".{path.name}.pgx@{_HOST}@{os.getpid()}@{secrets.token_hex(4)}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def clean_stale_temporaries(directory: Path | str) -> list[Path]:
    """Remove the temporaries (files or folders) that pgx processes of this host left in
    ``directory`` when they were killed (their process is gone); return what was removed.
    Temporaries of live processes, and of other hosts (a shared file system), stay."""
    directory = Path(directory)
    removed = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMPORARY.match(entry.name)
        if not m or m["host"] != _HOST or _alive(int(m["pid"])):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


#: errno -> what to do, for the errors that mean "this folder cannot take the output"
_WRITE_ADVICE = {
    errno.ENOSPC: "the disk is full: free space there, or write the results elsewhere (--out)",
    errno.EDQUOT: "your disk quota is used up: free space, or write the results elsewhere (--out)",
    errno.EROFS: "the folder is on a read-only file system: write the results to a writable folder (--out)",
    errno.EACCES: "you may not write there: write the results to a folder you can write to (--out), or fix its permissions",
    errno.EPERM: "the file system does not allow it: write the results to another folder (--out)",
    errno.EFBIG: "the file system (or a file-size limit, ulimit -f) refuses a file this large: write the results elsewhere (--out)",
    errno.ENAMETOOLONG: "a file name is too long for the file system: write the results elsewhere (--out)",
}
_ERRNO_IN_TEXT = re.compile(r"\[?errno (\d+)\]?", re.IGNORECASE)


def write_errno(exc: BaseException) -> int | None:
    """The errno of an exception raised while writing, when it is one that means the
    folder cannot take the output (pyarrow's I/O errors carry it only in their text)."""
    while exc is not None:
        code = getattr(exc, "errno", None)
        if code is None and isinstance(exc, OSError | RuntimeError):
            m = _ERRNO_IN_TEXT.search(str(exc))
            code = int(m.group(1)) if m else None
        if code in _WRITE_ADVICE:
            return code
        exc = exc.__cause__ or exc.__context__
    return None


def output_error(exc: BaseException, path: Path | str) -> OutputError | None:
    """``exc`` as an :class:`OutputError` naming the folder of ``path`` and what to do,
    or None when it is not an error of the folder (a bug keeps its traceback)."""
    code = write_errno(exc)
    if code is None:
        return None
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    return OutputError(
        f"cannot write {path.name} in {folder} ({os.strerror(code)}): {_WRITE_ADVICE[code]}. Nothing was half-written"
    )


@contextlib.contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn a write error of the folder into :class:`OutputError` (see :func:`output_error`)."""
    try:
        yield
    except OutputError:
        raise
    except (OSError, RuntimeError) as exc:
        error = output_error(exc, path)
        if error is None:
            raise
        raise error from exc


def make_folder(path: Path | str) -> Path:
    """``mkdir -p``, with :class:`OutputError` when the folder cannot be made."""
    path = Path(path)
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it only if the block succeeds."""
    path = Path(path)
    make_folder(path.parent)
    tmp = temporary_name(path)
    try:
        with writing(path):
            yield tmp
            if not tmp.exists():
                tmp.touch()
            os.chmod(tmp, 0o666 & ~_current_umask())
            os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_indexed(path: Path | str, index_suffix: str = ".tbi") -> Iterator[Path]:
    """:func:`atomic_path` for a file and its index (``path`` + ``index_suffix``, e.g. a
    bgzipped VCF and its ``.tbi``): the block writes both at the yielded path (in a
    temporary folder beside ``path``); on success the file, then its newer index, replace
    the targets. A killed run leaves neither half-written."""
    path = Path(path)
    clean_stale_temporaries(make_folder(path.parent))  # a killed run's staged copy goes
    with temporary_folder(path) as folder, writing(path):
        staged = Path(folder) / path.name
        yield staged
        os.replace(staged, path)
        os.replace(f"{staged}{index_suffix}", f"{path}{index_suffix}")


@contextlib.contextmanager
def temporary_folder(beside: Path | str) -> Iterator[Path]:
    """A hidden temporary folder beside ``beside`` (same file system: renames from it are
    atomic), removed when the block ends; named like :func:`temporary_name`."""
    folder = temporary_name(beside)
    with writing(folder):
        make_folder(folder.parent)
        folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def replace_folder(new: Path, target: Path) -> None:
    """Put the folder ``new`` in the place of ``target`` (whose old content goes)."""
    with writing(target):
        old = temporary_name(target) if target.exists() or target.is_symlink() else None
        if old is not None:
            os.rename(target, old)
        os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_table(df: pd.DataFrame | pa.Table, name: str, path: Path, *, run: str | None = None) -> Path:
    """Write ``df`` (a frame or an Arrow table) as Parquet table ``name`` to ``path``
    atomically (stamped with run id ``run`` when given)."""
    table = as_table(df, name)
    if run is not None:
        table = table.replace_schema_metadata(schema_for(name, run).metadata)
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

    def __init__(self, name: str, path: Path, *, background: bool = True, max_pending: int = 1, run: str | None = None):
        self.name, self.path = name, Path(path)
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        try:
            with writing(self.path):
                self._writer = pq.ParquetWriter(self._tmp, schema_for(name, run), **writer_options(name))
        except BaseException:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
            raise
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
            with writing(self.path):
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
            error = output_error(self._error, self.path)
            if error is not None:
                raise error from self._error
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
            with writing(self.path):
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


# --- a lock between processes ---------------------------------------------------------------


@contextlib.contextmanager
def locked(lock_file: Path | str, *, waiting: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (made if needed) for the block, waiting for
    another holder to finish. POSIX record locks (``fcntl.lockf``): they work between
    processes and hosts on local and NFS file systems, and the kernel drops them when the
    holder dies, so a killed run never leaves a stale lock. ``waiting`` is logged once
    when the lock is busy."""
    import fcntl
    import logging

    lock_file = Path(lock_file)
    make_folder(lock_file.parent)
    with writing(lock_file):
        fh = open(lock_file, "a+b")
    try:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if waiting:
                logging.getLogger(__name__).info(waiting)
            fcntl.lockf(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()  # releases the lock


# --- a run as one unit ---------------------------------------------------------------------

#: the marker a committed run writes last into its folder
RUN_MARKER = "run.json"

#: outputs made from a run's tables: removed when a run with another id is committed
DERIVED_OUTPUTS = ("reports", "qc_report.html", "fhir", "json")


def run_id(facts: Mapping[str, object]) -> str:
    """An id for a run from everything that decides its output (versions, inputs' checksums,
    options): the same facts give the same id, so repeating a run gives the same bytes."""
    text = json.dumps({str(k): str(v) for k, v in facts.items()}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class StagedRun:
    """A hidden staging folder beside a run's final folder, where its tables are written
    (each with the run id) before :meth:`commit` moves them in as one unit. Use it as a
    context manager: the staging folder is removed on the way out, committed or not."""

    def __init__(self, out_dir: Path | str, run: str):
        self.out_dir = make_folder(out_dir)
        self.run = run
        self._ctx = temporary_folder(self.out_dir / ".pgx-staging")
        self.dir: Path | None = None

    def __enter__(self) -> "StagedRun":
        self.dir = self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)

    def path(self, table: str) -> Path:
        """Where table ``table`` is staged."""
        return self.dir / f"{table}.parquet"

    def writer(self, table: str, **kw) -> ChunkedTableWriter:
        return ChunkedTableWriter(table, self.path(table), run=self.run, **kw)

    def write(self, data: pd.DataFrame | pa.Table, table: str) -> Path:
        return write_table(data, table, self.path(table), run=self.run)

    def commit(self, tables: list[str] | tuple[str, ...]) -> Path:
        return commit_run(self.out_dir, {t: self.path(t) for t in tables}, self.run)


def table_run_id(path: Path | str) -> str | None:
    """The run id a table was written with (``pgx_run_id``), or None."""
    meta = pq.read_schema(path).metadata or {}
    value = meta.get(b"pgx_run_id")
    return value.decode() if value else None


def commit_run(out_dir: Path | str, staged: Mapping[str, Path], run: str) -> Path:
    """Move a run's staged tables (``{table: staged file}``, each written with run id
    ``run``) into ``out_dir`` as one unit; return the marker's path.

    Order: the old marker goes first (from then on the folder holds no complete run), the
    outputs derived from another run's tables (``DERIVED_OUTPUTS``) go, each table is
    renamed into place, and the marker, written last, lists the run id and every table's
    file and size. A kill at any point leaves the old complete run or a folder without a
    marker, which :func:`verify_run` refuses."""
    out_dir = Path(out_dir)
    marker = out_dir / RUN_MARKER
    previous = _read_marker(marker)
    with writing(marker):
        if marker.exists():
            marker.unlink()
        if previous is None or previous.get("run_id") != run:
            for name in DERIVED_OUTPUTS:
                derived = out_dir / name
                if derived.is_dir() and not derived.is_symlink():
                    gone = temporary_name(derived)  # out of sight at once, then removed
                    os.rename(derived, gone)
                    shutil.rmtree(gone, ignore_errors=True)
                elif derived.exists() or derived.is_symlink():
                    derived.unlink()
        files = {}
        for table, src in staged.items():
            if table_run_id(src) != run:
                raise ValueError(f"{src}: staged for another run than {run}; stage it with that run id")
            dst = out_dir / f"{table}.parquet"
            os.replace(src, dst)
            files[table] = {"file": dst.name, "bytes": dst.stat().st_size}
    record = {"run_id": run, "pgx_version": __version__, "schema_version": SCHEMA_VERSION, "tables": files}
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return marker


def _read_marker(marker: Path) -> dict | None:
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def run_problem(out_dir: Path | str, tables: list[str] | tuple[str, ...] = tuple(OUTPUT_SCHEMAS)) -> str | None:
    """Why ``out_dir`` does not hold one complete run of ``tables`` (a phrase), or None."""
    out_dir = Path(out_dir)
    record = _read_marker(out_dir / RUN_MARKER)
    if record is None:
        return f"it has no readable {RUN_MARKER} (the run that wrote it was killed or failed, or is still running)"
    listed = record.get("tables") or {}
    for table in tables:
        path = out_dir / f"{table}.parquet"
        entry = listed.get(table)
        if entry is None or not path.is_file():
            return f"{table}.parquet is not part of its run ({RUN_MARKER} or the file is missing)"
        try:
            same = table_run_id(path) == record.get("run_id")
        except Exception:  # pyarrow raises several types for a damaged file
            same = False
        if not same or path.stat().st_size != entry.get("bytes"):
            return f"{table}.parquet was written by another run than the one {RUN_MARKER} names"
    return None


def verify_run(out_dir: Path | str, tables: list[str] | tuple[str, ...] = tuple(OUTPUT_SCHEMAS)) -> str:
    """The run id of the complete run in ``out_dir``; :class:`IncompleteRunError` when its
    tables are not one committed run (see :func:`commit_run`)."""
    problem = run_problem(out_dir, tables)
    if problem:
        raise IncompleteRunError(
            f"{out_dir}: does not hold one complete run: {problem}. Run the batch again (pgx run, or the workflow)"
        )
    return _read_marker(Path(out_dir) / RUN_MARKER)["run_id"]
