"""The report's rows made once per batch (pgx.report_rows.sample_rows) are the rows made
per sample from a DataFrame (_records), shared where equal and never merged where not."""

from __future__ import annotations

import math
import pickle

import pandas as pd
import pyarrow as pa

from pgx import schema
from pgx.report_rows import CALL_COLUMNS, REC_COLUMNS, _records, sample_rows
from tests.test_report import make_calls, make_recs

#: recommendation cells that look alike but differ, and missing values of every kind
ODD_RECS = [
    dict(drug="a", genes=["G1", "G2"], alternatives=[], dose_factor_min=0.5),
    dict(drug="a", genes=["G1\x1fG2"], alternatives=[""], dose_factor_min=float("nan")),  # the separator in a text
    dict(drug="a", genes=["G1", None], alternatives=None, dose_factor_min=None),  # a missing item: dropped
    dict(drug="a", genes=["G1"], alternatives=["x", "y"], action="avoid"),
    dict(drug="b", genes=["G1"], alternatives=["x,y"], action="standard_dose", text="ü ≥ 2"),
    # the same texts joined, the same lengths: told apart all the same
    dict(drug="c", genes=["G1"], dose_caps=["a\x1fb", "c"], other_actions=["x", None]),
    dict(drug="c", genes=["G1"], dose_caps=["a", "b\x1fc"], other_actions=["y", None]),
]


def arrow(df: pd.DataFrame, table: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(df, schema=table, preserve_index=False)


def batch() -> tuple[pd.DataFrame, pd.DataFrame]:
    calls = pd.concat([
        make_calls("S1", [dict(gene="G1", diplotype="*1/*2", missing_positions=[1, 2], activity_score=1.5),
                          dict(gene="G2", diplotype="*1/*1", missing_positions=[12])]),
        make_calls("S2", [dict(gene="G1", diplotype="*1/*2", missing_positions=[1, 2], activity_score=1.5),
                          dict(gene="G2", diplotype=None, call_status="no_call", missing_positions=[1, 2])]),
        make_calls("S3", [dict(gene="G1", diplotype="*1/*2", activity_score=float("nan"))]),
    ], ignore_index=True)  # fmt: skip
    recs = pd.concat([make_recs("S1", ODD_RECS), make_recs("S2", ODD_RECS[::-1])], ignore_index=True)
    recs["action"] = recs["action"].fillna("no_recommendation")
    return calls, recs


def test_rows_made_once_per_batch_equal_the_rows_made_per_sample():
    calls, recs = batch()
    made = sample_rows(arrow(calls, schema.CALLS), arrow(recs, schema.RECOMMENDATIONS))
    assert [sample_id for sample_id, _, _ in made] == ["S1", "S2", "S3"]  # the calls table's order
    for sample_id, call_rows, rec_rows in made:
        assert call_rows == _records(calls[calls["sample_id"] == sample_id], CALL_COLUMNS)
        assert rec_rows == _records(recs[recs["sample_id"] == sample_id], REC_COLUMNS)
    s1_recs = made[0][2]
    assert s1_recs[0].genes == ("G1", "G2") and s1_recs[1].genes == ("G1\x1fG2",) and s1_recs[2].genes == ("G1",)
    assert s1_recs[0].alternatives == () and s1_recs[1].alternatives == ("",) and s1_recs[2].alternatives == ()
    assert (s1_recs[5].dose_caps, s1_recs[5].other_actions) == (("a\x1fb", "c"), ("x",))
    assert (s1_recs[6].dose_caps, s1_recs[6].other_actions) == (("a", "b\x1fc"), ("y",))
    assert s1_recs[1].dose_factor_min is None and s1_recs[0].dose_factor_min == 0.5  # NaN is None: rows compare equal
    assert made[2][1][0].activity_score is None and not any(isinstance(v, float) and math.isnan(v) for v in made[2][1][0])
    positions = [c.missing_positions for _, rows, _ in made for c in rows]
    assert positions == [(1, 2), (12,), (1, 2), (1, 2), ()]


def test_equal_rows_are_one_object_and_rows_pickle():
    calls, recs = batch()
    (_, c1, r1), (_, c2, r2), (_, _, r3) = sample_rows(arrow(calls, schema.CALLS), arrow(recs, schema.RECOMMENDATIONS))
    assert c1[0] is c2[0]  # the same G1 call in S1 and S2
    assert c1[1] is not c2[1] and c1[1] != c2[1]
    assert all(any(a is b for b in r2) for a in r1)  # S2 has S1's rows in the other order
    assert r3 == []  # a sample without recommendation rows
    assert pickle.loads(pickle.dumps(r1)) == r1  # a spawned pool's tasks carry them


def test_a_column_missing_from_the_table_reads_as_none():
    calls, recs = batch()
    table = arrow(recs, schema.RECOMMENDATIONS).drop_columns(["verbatim_text", "dose_caps"])
    (_, _, rows), *_ = sample_rows(arrow(calls, schema.CALLS), table)
    assert all(r.verbatim_text is None and r.dose_caps is None for r in rows)


def large(table: pa.Table) -> pa.Table:
    """The table with large_string and large_list types (Arrow's 64-bit offsets)."""

    def widen(t: pa.DataType) -> pa.DataType:
        if pa.types.is_string(t):
            return pa.large_string()
        if pa.types.is_list(t):
            return pa.large_list(widen(t.value_type))
        return t

    return table.cast(pa.schema([pa.field(f.name, widen(f.type)) for f in table.schema]))


def test_rows_are_the_same_from_chunked_and_large_columns():
    """A batch's tables come in chunks (row groups), never merged: one text column of a
    large batch can pass Arrow's 2 GiB per array."""
    calls, recs = batch()
    calls_t, recs_t = arrow(calls, schema.CALLS), arrow(recs, schema.RECOMMENDATIONS)
    whole = sample_rows(calls_t, recs_t)
    half = len(recs) // 2
    chunked = pa.concat_tables([recs_t.slice(0, half), recs_t.slice(half)])  # two chunks per column
    assert chunked.column("text").num_chunks == 2
    assert sample_rows(calls_t, chunked) == whole
    assert sample_rows(large(calls_t), large(recs_t)) == whole
