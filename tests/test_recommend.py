"""recommend(): per-sample lookup of guideline rows, on small hand-made KB frames.

The KB here is a few rows written for these tests (texts in our own words); one test at
the end runs against tables built in memory from the shared CPIC export.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import pgx.recommend as rec
from pgx.kb import KnowledgeBase, _convert
from pgx.schema import KB_TABLES, RECOMMENDATIONS

_versions = itertools.count()

# (drug, lookup_key, population, action, dose_factor, alternatives, strength)
ROWS = [
    ("clopidogrel", "CYP2C19=Normal Metabolizer", "general", "standard_dose", "", "", "Strong"),
    ("clopidogrel", "CYP2C19=Poor Metabolizer", "general", "use_alternative", "", "prasugrel", "Strong"),
    ("celecoxib", "CYP2C9=2.0", "general", "standard_dose", "", "", "Strong"),
    ("celecoxib", "CYP2C9=1.0", "general", "reduce_dose", "0.5", "", "Moderate"),
    ("tca", "CYP2C19=Normal Metabolizer;CYP2D6=2.0", "general", "standard_dose", "", "", "Strong"),
    ("tca", "CYP2C19=Normal Metabolizer;CYP2D6=4.0", "general", "avoid", "", "", "Strong"),
    ("tca", "CYP2C19=Normal Metabolizer;CYP2D6=≥3.0", "general", "avoid", "", "", "Optional"),
    ("tca", "CYP2C19=Normal Metabolizer;CYP2D6=≥3.75", "general", "avoid", "", "", "Strong"),
    ("tca", "CYP2C19=Normal Metabolizer;CYP2D6=No Result", "general", "standard_dose", "", "", "Moderate"),
    ("voriconazole", "CYP2C19=Poor Metabolizer", "adults", "use_alternative", "", "", "Moderate"),
    ("voriconazole", "CYP2C19=Poor Metabolizer", "pediatrics", "use_alternative", "", "", "Moderate"),
]
DRUGS = [
    ("clopidogrel", "CYP2C19", "A"),
    ("celecoxib", "CYP2C9", "A"),
    ("tca", "CYP2C19", "A"),
    ("tca", "CYP2D6", "B"),
    ("voriconazole", "CYP2C19", "A"),
]


def _typed(name: str, records: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(records, columns=list(KB_TABLES[name]))
    for col, dtype in KB_TABLES[name].items():
        df[col] = _convert(df[col].astype(str), dtype)
    return df


def make_kb(rows=ROWS, drugs=DRUGS) -> KnowledgeBase:
    """A KnowledgeBase holding only drugs + recommendations, with a fresh version."""
    recs = [
        {
            "recommendation_id": f"T:{i}", "source": "CPIC", "drug": d,
            "genes": ";".join(sorted(p.split("=")[0] for p in key.split(";"))), "lookup_key": key,
            "population": pop, "action": action, "dose_factor": factor, "alternatives": alts,
            "strength": strength, "text": f"our words for {d} {action}", "guideline": f"{d} guideline",
            "url": f"https://example.org/{d}", "pmid": "1",
        }
        for i, (d, key, pop, action, factor, alts, strength) in enumerate(rows)
    ]  # fmt: skip
    drug_rows = [
        {"source": "CPIC", "drug": d, "drug_id": f"X:{d}", "gene": g, "cpic_level": lvl,
         "guideline": f"{d} guideline", "url": "", "pmid": "1"}
        for d, g, lvl in drugs
    ]  # fmt: skip
    tables = {"recommendations": _typed("recommendations", recs), "drugs": _typed("drugs", drug_rows)}
    return KnowledgeBase(root=Path("."), manifest={"kb_version": f"test-{next(_versions)}"}, tables=tables)


def calls_frame(*rows: tuple) -> pd.DataFrame:
    """Calls from (sample, gene, lookup_key, phenotype[, call_status])."""
    out = []
    for r in rows:
        sample, gene, key, phenotype = r[:4]
        status = r[4] if len(r) > 4 else "called"
        out.append(dict(sample_id=sample, gene=gene, lookup_key=key, phenotype=phenotype, call_status=status))
    return pd.DataFrame(out)


def for_drug(out: pd.DataFrame, sample: str, drug: str) -> pd.DataFrame:
    return out[(out["sample_id"] == sample) & (out["drug"] == drug)]


def test_cyp2c19_poor_metabolizer_clopidogrel_use_alternative() -> None:
    out = rec.recommend(calls_frame(("S1", "CYP2C19", "Poor Metabolizer", "Poor Metabolizer")), make_kb())
    row = for_drug(out, "S1", "clopidogrel").iloc[0]
    assert (row["action"], row["alternatives"], row["strength"]) == ("use_alternative", ["prasugrel"], "Strong")
    assert (row["lookup_key"], row["phenotypes"], row["genes"]) == (
        "CYP2C19=Poor Metabolizer", ["CYP2C19: Poor Metabolizer"], ["CYP2C19"],
    )  # fmt: skip
    assert (row["cpic_level"], row["guideline"], row["recommendation_id"]) == ("A", "clopidogrel guideline", "T:1")


def test_cyp2c9_activity_score_1_0_matches_its_row() -> None:
    out = rec.recommend(calls_frame(("S1", "CYP2C9", "1.0", "Intermediate Metabolizer")), make_kb())
    row = for_drug(out, "S1", "celecoxib").iloc[0]
    assert (row["action"], row["dose_factor"], row["lookup_key"]) == ("reduce_dose", 0.5, "CYP2C9=1.0")
    assert row["phenotypes"] == ["CYP2C9: Intermediate Metabolizer"]


def test_bound_key_matches_a_score_at_or_above_it_tightest_bound_only() -> None:
    calls = calls_frame(
        ("S1", "CYP2C19", "Normal Metabolizer", "Normal Metabolizer"),
        ("S1", "CYP2D6", "3.5", "Ultrarapid Metabolizer"),
        ("S2", "CYP2C19", "Normal Metabolizer", "Normal Metabolizer"),
        ("S2", "CYP2D6", "5.0", "Ultrarapid Metabolizer"),
    )
    out = rec.recommend(calls, make_kb())
    assert for_drug(out, "S1", "tca")["recommendation_id"].tolist() == ["T:6"]  # ≥3.0 (3.5 < 3.75)
    assert for_drug(out, "S2", "tca")["recommendation_id"].tolist() == ["T:7"]  # ≥3.75, not also ≥3.0


def test_exact_key_wins_over_a_bound() -> None:
    calls = calls_frame(("S1", "CYP2C19", "Normal Metabolizer", "NM"), ("S1", "CYP2D6", "4.0", "UM"))
    assert for_drug(rec.recommend(calls, make_kb()), "S1", "tca")["recommendation_id"].tolist() == ["T:5"]


def test_bound_key_written_by_the_caller_matches_itself() -> None:
    calls = calls_frame(("S1", "CYP2C19", "Normal Metabolizer", "NM"), ("S1", "CYP2D6", "≥3.0", "UM"))
    assert for_drug(rec.recommend(calls, make_kb()), "S1", "tca")["recommendation_id"].tolist() == ["T:6"]


def test_gene_without_a_call_is_looked_up_as_no_result() -> None:
    out = rec.recommend(calls_frame(("S1", "CYP2C19", "Normal Metabolizer", "Normal Metabolizer")), make_kb())
    row = for_drug(out, "S1", "tca").iloc[0]
    assert row["lookup_key"] == "CYP2C19=Normal Metabolizer;CYP2D6=No Result"
    assert row["phenotypes"] == ["CYP2C19: Normal Metabolizer", "CYP2D6: No Result"]
    assert (row["action"], row["cpic_level"]) == ("standard_dose", "CYP2C19: A; CYP2D6: B")


def test_no_call_is_no_result_and_gets_no_guideline_match() -> None:
    calls = calls_frame(("S1", "CYP2C19", None, None, "no_call"), ("S1", "CYP2C9", "2.0", "Normal Metabolizer"))
    out = rec.recommend(calls, make_kb())
    row = for_drug(out, "S1", "clopidogrel").iloc[0]
    assert (row["action"], row["lookup_key"]) == ("no_guideline_match", "CYP2C19=No Result")
    assert "CYP2C19 No Result (not called)" in row["text"]
    assert row["recommendation_id"] is None and row["population"] is None
    assert row["guideline"] == "clopidogrel guideline"


def test_result_without_a_row_names_the_result() -> None:
    calls = calls_frame(("S1", "CYP2C9", "0.5", "Poor Metabolizer"))
    row = for_drug(rec.recommend(calls, make_kb()), "S1", "celecoxib").iloc[0]
    assert row["action"] == "no_guideline_match"
    assert "celecoxib" in row["text"] and "CYP2C9 0.5" in row["text"]


def test_every_population_row_is_shown() -> None:
    out = rec.recommend(calls_frame(("S1", "CYP2C19", "Poor Metabolizer", "Poor Metabolizer")), make_kb())
    vori = for_drug(out, "S1", "voriconazole")
    assert vori["population"].tolist() == ["adults", "pediatrics"]


def test_every_drug_appears_once_per_sample_at_least() -> None:
    out = rec.recommend(calls_frame(("S1", "CYP2C19", "Normal Metabolizer", "NM")), make_kb())
    assert sorted(set(out["drug"])) == ["celecoxib", "clopidogrel", "tca", "voriconazole"]


def test_samples_with_the_same_key_are_looked_up_once(monkeypatch) -> None:
    kb = make_kb()
    seen = []
    real = rec.match_rows

    def counting(entry, key):
        seen.append((entry.drug, key))
        return real(entry, key)

    monkeypatch.setattr(rec, "match_rows", counting)
    rows = []
    for i in range(2000):
        rows.append((f"S{i:04d}", "CYP2C19", "Poor Metabolizer" if i % 2 else "Normal Metabolizer", "x"))
        rows.append((f"S{i:04d}", "CYP2C9", "1.0", "Intermediate Metabolizer"))
    out = rec.recommend(calls_frame(*rows), kb)
    assert len(seen) == len(set(seen))  # no key looked up twice for one drug
    assert len(seen) == 2 + 1 + 2 + 2  # clopidogrel, celecoxib, tca, voriconazole: distinct keys each
    assert out["sample_id"].nunique() == 2000


def test_output_columns_order_and_kb_version() -> None:
    kb = make_kb()
    calls = calls_frame(("S2", "CYP2C19", "Poor Metabolizer", "PM"), ("S1", "CYP2C19", "Normal Metabolizer", "NM"))
    out = rec.recommend(calls, kb)
    assert list(out.columns) == [f.name for f in RECOMMENDATIONS]
    assert (out["kb_version"] == kb.version).all()
    ordered = out.sort_values(["sample_id", "drug", "population"], kind="stable", na_position="first")
    assert out.index.equals(ordered.index)


def test_output_writes_with_the_declared_schema(tmp_path) -> None:
    from pgx.outputs import write_table

    calls = calls_frame(("S1", "CYP2C19", "Poor Metabolizer", "PM"), ("S1", "CYP2C9", "0.5", "PM"))
    path = write_table(rec.recommend(calls, make_kb()), "recommendations", tmp_path / "r.parquet")
    assert pq.read_schema(path).remove_metadata().equals(RECOMMENDATIONS)


def test_empty_calls_give_an_empty_frame() -> None:
    out = rec.recommend(calls_frame(), make_kb())
    assert out.empty and list(out.columns) == [f.name for f in RECOMMENDATIONS]


def test_index_is_built_once_per_kb_version() -> None:
    kb = make_kb()
    assert rec.lookup_index(kb) is rec.lookup_index(kb)


def test_duplicate_calls_are_an_input_error() -> None:
    from pgx.errors import InputError

    calls = calls_frame(("S1", "CYP2C19", "Poor Metabolizer", "PM"), ("S1", "CYP2C19", "Normal Metabolizer", "NM"))
    with pytest.raises(InputError, match="S1"):
        rec.recommend(calls, make_kb())


@pytest.mark.parametrize(("key", "bound"), [("≥3.75", 3.75), (">=6.0", 6.0), ("3.75", None), ("No Result", None)])
def test_parse_bound(key: str, bound: float | None) -> None:
    assert rec.parse_bound(key) == bound


@pytest.mark.shared_data
def test_against_tables_built_from_the_cpic_export(shared_data) -> None:
    from pgx.kb_build.recommendations import build_recommendation_tables

    built, _ = build_recommendation_tables(shared_data, ("CYP2C19", "CYP2C9", "TPMT"))
    tables = {name: _typed(name, df.to_dict("records")) for name, df in built.items()}
    kb = KnowledgeBase(root=Path("."), manifest={"kb_version": f"test-{next(_versions)}"}, tables=tables)
    calls = calls_frame(
        ("S1", "CYP2C19", "Poor Metabolizer", "Poor Metabolizer"),
        ("S1", "CYP2C9", "1.0", "Intermediate Metabolizer"),
        ("S1", "TPMT", "Normal Metabolizer", "Normal Metabolizer"),
    )
    out = rec.recommend(calls, kb)
    clop = for_drug(out, "S1", "clopidogrel")
    assert len(clop) == 3 and set(clop["action"]) == {"use_alternative"}  # three populations
    assert set(for_drug(out, "S1", "amitriptyline")["lookup_key"]) == {"CYP2C19=Poor Metabolizer;CYP2D6=No Result"}
    assert set(for_drug(out, "S1", "azathioprine")["action"]) == {"standard_dose"}  # NUDT15 No Result row
    assert set(for_drug(out, "S1", "celecoxib")["action"]) == {"reduce_dose"}
    assert "no_guideline_match" not in set(out["action"])
