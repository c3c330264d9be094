"""The batch's call and recommendation rows as the patient report reads them.

A report reads each row many times, so rows become named tuples once (``_records``): only
the columns the report reads, never the sample ID, list cells as tuples without missing
values and missing values as None (NaN is not equal to itself). Two patients' rows with
the same content are then equal, and what the report derives from a row is cached across
patients.

For a batch, :func:`sample_rows` makes every sample's rows at once: equal rows become one
shared object, and a sample's rows are a list taken for nothing. Made per sample from a
DataFrame slice, the rows cost about a tenth of a report (the slices themselves, a column
conversion per column per patient, a tuple per list cell).
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pgx import schema
from pgx.report_layout import _as_list, _is_missing

#: the call columns the report reads
CALL_COLUMNS = ("gene", "diplotype", "allele_1", "allele_2", "alternatives", "activity_score", "phenotype", "lookup_key",
                "call_status", "missing_positions", "assumed_reference_positions", "novel_variants", "alleles_found",
                "reason_codes", "warnings")  # fmt: skip

#: the recommendation columns the report reads
REC_COLUMNS = ("drug", "genes", "lookup_key", "phenotypes", "population", "indication", "age", "risk_factors",
               "other_conditions", "action", "other_actions", "dose_factor_min", "dose_factor_max", "dose_amount",
               "dose_caps", "alternatives", "strength", "text", "source", "guideline", "url", "pmid",
               "verbatim_text")  # fmt: skip


#: the row types of the two tables, module attributes so that rows pickle (a spawned pool)
CallRow = namedtuple("CallRow", CALL_COLUMNS)
RecRow = namedtuple("RecRow", REC_COLUMNS)


@functools.cache
def _row_type(columns: tuple[str, ...]) -> type:
    known = {CALL_COLUMNS: CallRow, REC_COLUMNS: RecRow}
    return known.get(columns) or namedtuple("Row", columns, rename=True)


@functools.cache
def _list_columns() -> frozenset[str]:
    return frozenset(f.name for table in (schema.CALLS, schema.RECOMMENDATIONS) for f in table
                     if pa.types.is_list(f.type) or pa.types.is_large_list(f.type))  # fmt: skip


def _as_tuple(value: object) -> tuple:
    """A list cell as a tuple without missing values (``_as_list``), fast for the usual
    array of strings."""
    if type(value) is np.ndarray:
        items = value.tolist()
        if all(type(x) is str for x in items):
            return tuple(items)
        return tuple(x for x in items if not _is_missing(x))
    return tuple(_as_list(value))


def _cells(df: pd.DataFrame, column: str) -> list:
    """One column's cells as the rows hold them (None where the column is absent)."""
    if column not in df.columns:
        return [None] * len(df)
    items = df[column].tolist()
    if column in _list_columns():
        return [_as_tuple(v) for v in items]
    # missing values as None: NaN is not equal to itself, which would defeat the caches
    return [v if type(v) is str else None if _is_missing(v) else v for v in items]


_SEPARATOR = "\x1f"  # joins a list cell's strings into one value to compare (when no string holds it)


def _column_codes(table: pa.Table, column: str) -> tuple[np.ndarray, list]:
    """A column as codes, one per row, and the cell of each code as the rows hold it
    (``_cells``: None for missing values, list cells as tuples): equal cells share a code.
    Arrow finds the distinct cells; only those become Python objects. The column's chunks
    are never merged (one text column of a large batch can pass Arrow's 2 GiB per array)."""
    n = table.num_rows
    if column not in table.column_names:
        return np.zeros(n, dtype=np.int64), [None]
    col = table.column(column)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if column in _list_columns():
        return _list_codes(col)
    codes, values = _dictionary_codes(col)
    return codes, [None if v is None or v != v else v for v in values]  # NaN as None


def _dictionary_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Codes of a column's distinct values (nulls too) and the values, by Arrow's
    dictionary encoding. Arrow encodes a chunked column against one growing dictionary, so
    every chunk's dictionary is the start of the last one's; should a version not do so,
    the chunks are merged first."""
    encoded = pc.dictionary_encode(col, null_encoding="encode")
    if encoded.num_chunks == 0:
        return np.zeros(0, dtype=np.int64), []
    dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary
    if not all(c.dictionary.equals(dictionary.slice(0, len(c.dictionary))) for c in encoded.chunks):
        encoded = pa.chunked_array([pc.dictionary_encode(col.combine_chunks(), null_encoding="encode")])
        dictionary = encoded.chunk(0).dictionary
    codes = np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks])
    return codes.astype(np.int64), dictionary.to_pylist()


def _list_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """``_column_codes`` of a list column: its strings joined and its lengths compared in
    Arrow, unless an item is missing or holds the separator (then cell by cell)."""
    as_text = col
    if pa.types.is_integer(col.type.value_type):  # positions: their decimal texts compare the same
        as_text = col.cast(pa.large_list(pa.large_string()))
    flat = pc.list_flatten(as_text)
    joinable = (pa.types.is_string(flat.type) or pa.types.is_large_string(flat.type)) and flat.null_count == 0
    if joinable and not pc.any(pc.match_substring(flat, _SEPARATOR)).as_py():
        joined = _dictionary_codes(pc.binary_join(as_text, pa.scalar(_SEPARATOR, flat.type)))[0]
        lengths = pc.fill_null(pc.list_value_length(col), -1).to_numpy().astype(np.int64)
        codes = _combined([joined, lengths + 1])
        return codes, [_as_tuple(col[i].as_py()) for i in _first_rows(codes).tolist()]
    known: dict[tuple, int] = {}
    codes = [known.setdefault(_as_tuple(v), len(known)) for v in col.to_pylist()]
    return np.asarray(codes, dtype=np.int64), list(known)


def _combined(codes: list[np.ndarray]) -> np.ndarray:
    """One code per row for the rows' combinations of ``codes``, numbered 0, 1, ... in
    order of first appearance (hashed, not sorted: ``pd.factorize``)."""
    out = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
    for part in codes:
        out = pd.factorize(out * (int(part.max(initial=0)) + 1) + part)[0].astype(np.int64)
    return out


def _first_rows(codes: np.ndarray) -> np.ndarray:
    """The first row of each code of ``_combined`` (codes 0, 1, ... in order)."""
    first = np.empty(int(codes.max(initial=-1)) + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # the earliest row is written last
    return first


def _records(df: pd.DataFrame | list, columns: Iterable[str]) -> list:
    """Rows as named tuples of ``columns`` (absent and missing values are None, list cells
    tuples). A list is rows already made (by :func:`sample_rows`) and is returned as it is."""
    if isinstance(df, list):
        return df
    columns = tuple(columns)
    row = _row_type(columns)
    return [row(*v) for v in zip(*(_cells(df, c) for c in columns))]


def _shared_records(table: pa.Table, columns: tuple[str, ...]) -> list:
    """``_records`` of a whole table, equal rows one object: the distinct rows are found
    from the columns' codes, and only they become named tuples."""
    row = _row_type(columns)
    coded = [_column_codes(table, c) for c in columns]
    codes = _combined([c for c, _ in coded])
    made = [row(*(values[c[i]] for c, values in coded)) for i in _first_rows(codes).tolist()]
    return [made[k] for k in codes.tolist()]


def sample_rows(calls: pa.Table, recs: pa.Table) -> list[tuple[str, list, list]]:
    """(sample ID, its call rows, its recommendation rows) for each sample of a batch's
    calls and recommendations tables, in the calls table's order; the rows are
    ``_records``' named tuples, equal rows shared across samples. Made once per batch,
    before the reports are rendered (and before a pool forks, so its workers inherit them)."""
    recs_of = _rows_by_sample(recs, REC_COLUMNS)
    return [(sample_id, rows, recs_of.get(sample_id, [])) for sample_id, rows in _rows_by_sample(calls, CALL_COLUMNS).items()]


def _rows_by_sample(table: pa.Table, columns: tuple[str, ...]) -> dict[str, list]:
    """Each sample's rows (``_shared_records``), samples and rows in the table's order."""
    by_sample: dict[str, list] = {}
    for sample_id, row in zip(table.column("sample_id").to_pylist(), _shared_records(table, columns)):
        by_sample.setdefault(sample_id, []).append(row)
    return by_sample


def read_sample_rows(results_dir: Path, read: Callable[[Path, list[str]], pa.Table]) -> list[tuple[str, list, list]]:
    """:func:`sample_rows` of a committed run's calls and recommendations tables, read by
    ``read(path, columns)`` (all of a table's rows, or some samples'): only the columns the
    report reads, and Arrow's memory given back to the system once the rows are made, so
    that forked workers do not carry it (for 3,202 patients the process held 733 MB after
    the rows were made, 238 MB with this)."""
    calls, recs = (results_dir / "calls.parquet", results_dir / "recommendations.parquet")
    rows = sample_rows(read(calls, _present(calls, CALL_COLUMNS)), read(recs, _present(recs, REC_COLUMNS)))
    pa.default_memory_pool().release_unused()
    return rows


def _present(path: Path, columns: tuple[str, ...]) -> list[str]:
    """The sample ID and those of ``columns`` the Parquet file has (a missing one reads as None)."""
    names = set(pq.read_schema(path).names)
    return [c for c in ("sample_id", *columns) if c in names]
