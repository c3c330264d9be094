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
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

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

_SLICE = 1 << 16  # rows converted at a time by sample_rows: bounds its passing memory


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


def _records(df: pd.DataFrame | list, columns: Iterable[str]) -> list:
    """Rows as named tuples of ``columns`` (absent and missing values are None, list cells
    tuples). A list is rows already made (by :func:`sample_rows`) and is returned as it is."""
    if isinstance(df, list):
        return df
    columns = tuple(columns)
    row = _row_type(columns)
    return [row(*v) for v in zip(*(_cells(df, c) for c in columns))]


def _row_slices(df: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(df), _SLICE):
        yield df.iloc[start : start + _SLICE]


def _shared_records(df: pd.DataFrame, columns: tuple[str, ...]) -> list:
    """``_records`` of a whole table, with equal rows one object (made a slice at a time)."""
    row, made, out = _row_type(columns), {}, []
    for part in _row_slices(df):
        for values in zip(*(_cells(part, c) for c in columns)):
            shared = made.get(values)
            if shared is None:
                shared = made[values] = row(*values)
            out.append(shared)
    return out


def sample_rows(calls: pd.DataFrame, recs: pd.DataFrame) -> list[tuple[str, list, list]]:
    """(sample ID, its call rows, its recommendation rows) for each sample of a batch's
    calls table, in the table's order; the rows are ``_records``' named tuples, equal rows
    shared across samples. Made once per batch, before the reports are rendered (and
    before a pool forks, so its workers inherit them)."""
    call_rows = _shared_records(calls, CALL_COLUMNS)
    rec_rows = _shared_records(recs, REC_COLUMNS)
    recs_of: dict[str, list] = {}
    for sample_id, r in zip(recs["sample_id"].tolist(), rec_rows):
        recs_of.setdefault(sample_id, []).append(r)
    calls_of: dict[str, list] = {}
    for sample_id, c in zip(calls["sample_id"].tolist(), call_rows):
        calls_of.setdefault(sample_id, []).append(c)
    return [(sample_id, rows, recs_of.get(sample_id, [])) for sample_id, rows in calls_of.items()]
