"""One file per patient from a batch's tables: the shared part of the FHIR and JSON exports.

A batch's committed tables (:func:`pgx.outputs.verify_run`) are split by sample; a render
function turns one sample's calls and recommendations (with the batch's provenance) into
the bytes of its file. File names come from the sample IDs exactly as the PDF reports'
do (:func:`pgx.sample_ids.report_file_names`: the ID itself when it is a short plain
name, else a slug and a hash), with ``index.tsv`` beside the files mapping each ID to its
file. The files are written into a hidden folder that then takes the place of the output
folder as a whole, so a folder never mixes files of two runs and a killed run leaves the
previous folder (or none), never half a folder or half a file.

The exports read a batch :data:`GROUP_SIZE` samples at a time (:class:`BatchGroups`: each
group's rows read row group by row group, :func:`pgx.scatter.rows_of_samples`), so their
memory follows the group, not the batch; what is made from a distinct row is kept for the
later groups (:class:`DistinctRows`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pgx.outputs import clean_stale_temporaries, make_folder, read_table, replace_folder, temporary_folder, verify_run, writing
from pgx.sample_ids import INDEX_NAME, report_file_names, write_file_index


def cell_value(x: object) -> object:
    """None for a missing table cell (None, NaN, NA), else the value."""
    if x is None or x is pd.NA:
        return None
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def cell_text(x: object) -> str:
    """A cell as text; '' when missing."""
    v = cell_value(x)
    return "" if v is None else str(v)


def cell_items(x: object) -> list[str]:
    """A list cell (None, list or numpy array) as a list of strings, missing items dropped."""
    v = cell_value(x)
    return [] if v is None else [str(i) for i in v if cell_value(i) is not None]


@dataclass(frozen=True)
class PatientData:
    """What one patient's file is made from: their rows (as dicts, the tables' columns)
    and the batch's facts."""

    sample_id: str
    calls: list[dict]
    recommendations: list[dict]
    provenance: Mapping[str, str]
    run_id: str

    @property
    def batch(self) -> str:
        return self.provenance.get("batch", "")

    @property
    def input_checksums(self) -> dict[str, str]:
        """Input file name -> sha256, from the provenance table."""
        prefix = "input_sha256:"
        return {k[len(prefix) :]: v for k, v in self.provenance.items() if k.startswith(prefix)}


def rows_by_sample(df: pd.DataFrame) -> dict[str, list[dict]]:
    """A table's rows as dicts, grouped by ``sample_id`` in table order (one conversion for
    the whole table: much faster than a frame per sample)."""
    out: dict[str, list[dict]] = {}
    for row in df.to_dict("records"):
        out.setdefault(row["sample_id"], []).append(row)
    return out


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as text for comparing rows: lists joined, nulls marked."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    if pa.types.is_list(col.type):
        if not pa.types.is_string(col.type.value_type):
            col = col.cast(pa.list_(pa.string()))
        col = pc.binary_join(col, "\x1f")
    elif not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    return pc.fill_null(col, "\x00")


def row_keys(table: pa.Table, exclude: tuple[str, ...] = ("sample_id",)) -> pa.ChunkedArray:
    """Per row, a text that two rows share exactly when they are equal in every column but
    ``exclude``."""
    cols = [_as_text(table.column(n)) for n in table.column_names if n not in exclude]
    return pc.binary_join_element_wise(*cols, "\x1e") if len(cols) > 1 else cols[0]


def _first_rows(keys: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, numbered in order of first appearance; the first row of each code)."""
    codes = pc.dictionary_encode(keys).combine_chunks().indices.to_numpy(zero_copy_only=False).astype(np.int64)
    _, first = np.unique(codes, return_index=True)
    return codes, first


class DistinctRows:
    """The distinct rows of a batch's table, met group of samples by group
    (:class:`BatchGroups`): rows equal in every column but ``sample_id`` share a number
    for the whole batch. A cohort's patients share most of their rows (the same
    recommendation for the same result), so a per-row export is made once per number and
    serves every later group. Memory: the batch's distinct rows (as dicts, :attr:`rows`).

    ``pandas_values``: the values as :func:`read_patients` gives them (through pandas: an
    integer column with nulls as floats, a missing text as NaN, lists as arrays). An
    integer column that holds a null anywhere in the batch (``nullable``,
    :func:`columns_with_nulls`) is read as floats in every group, as pandas reads the whole
    table, also in a group (or a group's rows first met) without a null."""

    def __init__(self, nullable: set[str] = frozenset(), *, pandas_values: bool = False):
        self.rows: list[dict] = []
        self._numbers: dict[str, int] = {}
        self._nullable = set(nullable)
        self._pandas = pandas_values

    def number(self, table: pa.Table, exclude: tuple[str, ...] = ("sample_id",)) -> tuple[np.ndarray, list[int]]:
        """(the batch's number of each row of ``table``, the numbers first met here)."""
        if table.num_rows == 0:
            return np.zeros(0, dtype=np.int64), []
        if self._pandas:
            for i, field in enumerate(table.schema):
                if field.name in self._nullable and pa.types.is_integer(field.type):
                    table = table.set_column(i, field.name, table.column(i).cast(pa.float64()))
        keys = row_keys(table, exclude)
        codes, first = _first_rows(keys)
        first_keys = keys.take(pa.array(first)).to_pylist()
        new = [(k, i) for k, i in zip(first_keys, first.tolist()) if k not in self._numbers]
        added = list(range(len(self.rows), len(self.rows) + len(new)))
        if new:
            rows = table.take(pa.array([i for _, i in new]))
            self.rows.extend(rows.to_pandas().to_dict("records") if self._pandas else rows.to_pylist())
            self._numbers.update((k, n) for (k, _), n in zip(new, added))
        numbers = np.array([self._numbers[k] for k in first_keys], dtype=np.int64)
        return numbers[codes], added


def columns_with_nulls(path: Path | str) -> set[str]:
    """The integer columns of the Parquet file ``path`` that hold a null in some row
    (from the row groups' statistics; a row group without them is read)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    leaves = {parquet.metadata.schema.column(i).path: i for i in range(parquet.metadata.num_columns)}
    out = set()
    for field in parquet.schema_arrow:
        if not pa.types.is_integer(field.type):
            continue
        for k in range(parquet.num_row_groups):
            stats = parquet.metadata.row_group(k).column(leaves[field.name]).statistics
            nulls = stats.null_count if stats is not None and stats.has_null_count else None
            if nulls is None:
                nulls = parquet.read_row_group(k, columns=[field.name]).column(0).null_count
            if nulls:
                out.add(field.name)
                break
    return out


#: samples the exports read and write at a time: their memory follows this, not the batch
GROUP_SIZE = 1000


@dataclass(frozen=True)
class BatchGroups:
    """A committed batch read group of samples by group (:meth:`groups`)."""

    results_dir: Path
    run_id: str
    provenance: Mapping[str, str]
    samples: list[str]  # every sample, in the order of the calls table

    @classmethod
    def open(cls, results_dir: Path | str) -> BatchGroups:
        """The committed batch in ``results_dir`` (only the calls' ``sample_id`` column is read)."""
        from pgx.scatter import chunk_samples

        results_dir = Path(results_dir)
        run = verify_run(results_dir, ("calls", "recommendations", "provenance"))
        prov = read_table(results_dir / "provenance.parquet")
        samples, _ = chunk_samples(results_dir / "calls.parquet", 0, 1)
        return cls(results_dir, run, dict(zip(prov["key"], prov["value"])), samples)

    def groups(self, size: int = GROUP_SIZE) -> Iterator[tuple[list[str], pa.Table, pa.Table]]:
        """(samples, their calls, their recommendations) for each run of ``size`` samples, in
        order; each sample's rows in table order (:func:`pgx.scatter.rows_of_samples`)."""
        from pgx.scatter import rows_of_samples

        if size < 1:
            raise ValueError(f"a group of samples holds at least one, not {size}")
        for start in range(0, len(self.samples), size):
            group = self.samples[start : start + size]
            calls = rows_of_samples(self.results_dir / "calls.parquet", group)
            yield group, calls, rows_of_samples(self.results_dir / "recommendations.parquet", group)


def read_patients(results_dir: Path | str) -> list[PatientData]:
    """Every sample of a committed batch, in the order of its calls table."""
    results_dir = Path(results_dir)
    run = verify_run(results_dir, ("calls", "recommendations", "provenance"))
    calls = rows_by_sample(read_table(results_dir / "calls.parquet"))
    recs = rows_by_sample(read_table(results_dir / "recommendations.parquet"))
    prov = read_table(results_dir / "provenance.parquet")
    provenance = dict(zip(prov["key"], prov["value"]))
    return [PatientData(str(sample_id), rows, recs.get(sample_id, []), provenance, run) for sample_id, rows in calls.items()]


def write_documents(out_dir: Path | str, sample_ids: list[str], documents: Iterable[bytes], suffix: str) -> list[Path]:
    """Write ``documents`` (one per sample, in ``sample_ids`` order, consumed one at a
    time so they need not all be in memory) to ``out_dir/<file name><suffix>``, plus
    ``index.tsv``, replacing the folder as a whole; return the paths in ``sample_ids`` order."""
    out_dir = Path(out_dir)
    clean_stale_temporaries(make_folder(out_dir.parent))
    names = report_file_names(sample_ids, suffix=suffix)
    with temporary_folder(out_dir) as staging:
        with writing(staging):
            written = 0
            for sample_id, document in zip(sample_ids, documents):
                (staging / names[sample_id]).write_bytes(document)
                written += 1
            if written != len(sample_ids):
                raise RuntimeError(f"{written} documents for {len(sample_ids)} samples")
            write_file_index(names, staging / INDEX_NAME)
        replace_folder(staging, out_dir)
    return [out_dir / names[s] for s in sample_ids]


def write_patient_files(
    results_dir: Path | str, out_dir: Path | str, render: Callable[[PatientData], bytes], suffix: str
) -> list[Path]:
    """Write ``render(patient)`` for every patient of the batch in ``results_dir`` to
    ``out_dir/<file name><suffix>``, plus ``index.tsv``; return the paths in calls-table order."""
    patients = read_patients(results_dir)
    return write_documents(out_dir, [p.sample_id for p in patients], map(render, patients), suffix)


def in_pool(work: Callable[[list], list], items: list, workers: int | None = 1) -> Iterator:
    """``work`` over ``items`` in chunks, by ``workers`` forked processes (None: one per
    CPU; 1: in this process), yielding the results in the order of ``items`` as they are
    ready. ``work`` is a module-level function; what it needs besides its chunk is set in
    its module before the call (the workers are forked from this process), and the workers
    die with it."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from pgx.processes import die_with_parent

    workers = max(1, min(workers or os.cpu_count() or 1, len(items)))
    size = max(1, min(64, len(items) // (workers * 8)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        for chunk in chunks:
            yield from work(chunk)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        pending = [pool.submit(work, chunk) for chunk in chunks]
        pending.reverse()
        while pending:  # popped, so a chunk's documents are freed once they are written
            yield from pending.pop().result()
