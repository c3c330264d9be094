"""One file per patient from a batch's tables: the shared part of the FHIR and JSON exports.

A batch's committed tables (:func:`pgx.outputs.verify_run`) are split by sample; a render
function turns one sample's calls and recommendations (with the batch's provenance) into
the bytes of its file. File names come from the sample IDs exactly as the PDF reports'
do (:func:`pgx.sample_ids.report_file_names`: the ID itself when it is a short plain
name, else a slug and a hash), with ``index.tsv`` beside the files mapping each ID to its
file. The files are written into a hidden folder that then takes the place of the output
folder as a whole, so a folder never mixes files of two runs and a killed run leaves the
previous folder (or none), never half a folder or half a file.
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


def distinct_rows(table: pa.Table, exclude: tuple[str, ...] = ("sample_id",), *, pandas_values: bool = False) -> tuple[np.ndarray, list[dict]]:
    """(code per row, the distinct rows as dicts): rows equal in every column but
    ``exclude`` share a code. A cohort's patients share most of their rows (the same
    recommendation for the same result), so a per-row export is made once per code.
    ``pandas_values``: the values as :func:`read_patients` gives them (through pandas: an
    integer column with nulls as floats, a missing text as NaN, lists as arrays). That
    holds because the distinct rows hold a null in a column exactly when the table does."""
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.int64), []
    cols = [_as_text(table.column(n)) for n in table.column_names if n not in exclude]
    key = pc.binary_join_element_wise(*cols, "\x1e") if len(cols) > 1 else cols[0]
    codes = pc.dictionary_encode(key).combine_chunks().indices.to_numpy(zero_copy_only=False).astype(np.int64)
    _, first = np.unique(codes, return_index=True)
    rows = table.take(pa.array(first))
    return codes, rows.to_pandas().to_dict("records") if pandas_values else rows.to_pylist()


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
