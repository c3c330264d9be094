"""recommend(): per-sample lookup of guideline rows.

The first tests use a few hand-made KB rows (texts in our own words). The ``shared_data``
tests build the CPIC and DPWG tables in memory from the shared export and check every
lookup kind end to end: phenotype, activity score (incl. ``≥`` keys), HLA allele status
from an outside call, every multi-gene combination, DPWG genotype keys and the DPYD
phenotyping keys; and that every row of every drug is reachable from some result.
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
    df = pd.DataFrame(records, columns=list(KB_TABLES[name])).fillna("")
    for col, dtype in KB_TABLES[name].items():
        df[col] = _convert(df[col].astype(str).replace("None", ""), dtype)
    return df


def make_kb(rows=ROWS, drugs=DRUGS) -> KnowledgeBase:
    """A KnowledgeBase holding only drugs + recommendations, with a fresh version."""
    recs = [
        {
            "recommendation_id": f"T:{i}", "source": "CPIC", "drug": d,
            "genes": ";".join(sorted(p.split("=")[0] for p in key.split(";"))), "lookup_key": key,
            "population": pop, "action": action, "dose_factor_min": factor, "dose_factor_max": factor,
            "alternatives": alts, "strength": strength, "text": f"our words for {d} {action}",
            "guideline": f"{d} guideline", "url": f"https://example.org/{d}", "pmid": "1", "branch": 1,
            "clauses": "1:action;2:-evidence",
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
    """Calls from (sample, gene, lookup_key, phenotype[, call_status[, diplotype]])."""
    out = []
    for r in rows:
        sample, gene, key, phenotype = r[:4]
        status = r[4] if len(r) > 4 else "called"
        diplotype = r[5] if len(r) > 5 else None
        a1, _, a2 = (diplotype or "").partition("/")
        out.append(
            dict(sample_id=sample, gene=gene, lookup_key=key, phenotype=phenotype, call_status=status,
                 diplotype=diplotype, allele_1=a1 or None, allele_2=a2 or None)
        )  # fmt: skip
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
    assert (row["action"], row["dose_factor_min"], row["lookup_key"]) == ("reduce_dose", 0.5, "CYP2C9=1.0")
    assert (row["branch"], row["clauses_not_represented"]) == (1, 1)
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


def test_a_later_chunk_reuses_the_lookups_of_an_earlier_one(monkeypatch) -> None:
    kb = make_kb()
    seen = []
    real = rec.match_rows
    monkeypatch.setattr(rec, "match_rows", lambda entry, key: seen.append(entry.drug) or real(entry, key))
    first = calls_frame(("S1", "CYP2C19", "Poor Metabolizer", "PM"), ("S1", "CYP2C9", "1.0", "IM"))
    later = calls_frame(("S2", "CYP2C19", "Poor Metabolizer", "PM"), ("S2", "CYP2C9", "1.0", "IM"))
    a = rec.recommend(first, kb)
    n_first = len(seen)
    b = rec.recommend(later, kb)
    assert n_first > 0 and len(seen) == n_first  # the second chunk looked nothing up again
    pd.testing.assert_frame_equal(a.drop(columns="sample_id"), b.drop(columns="sample_id"))
    assert set(b["sample_id"]) == {"S2"}


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


def test_recommendation_table_is_the_frame_as_arrow(tmp_path) -> None:
    """The writers' Arrow table (distinct rows converted once, then taken) has exactly
    the frame's rows, values and order, and writes the same Parquet bytes; also with no
    calls."""
    from pgx.outputs import as_table, write_table

    kb = make_kb()
    calls = calls_frame(
        ("S3", "CYP2C19", "Poor Metabolizer", "Poor Metabolizer"),  # two populations, alternatives
        ("S3", "CYP2C9", "1.0", "Intermediate Metabolizer"),  # a dose factor
        ("S1", "CYP2C19", None, None, "no_call"),  # no result: no_guideline_match, nulls
        ("S1", "CYP2D6", "3.5", "Ultrarapid Metabolizer"),
        ("S2", "CYP2C19", "Normal Metabolizer", "Normal Metabolizer"),
        ("S2", "CYP2D6", "5.0", "Ultrarapid Metabolizer"),  # a bound
    )
    for frame in (calls, calls_frame()):
        expected = as_table(rec.recommend(frame, kb), "recommendations")
        table = rec.recommendation_table(frame, kb)
        assert table.schema.equals(RECOMMENDATIONS) and table.num_rows == expected.num_rows
        assert as_table(table, "recommendations").equals(expected)
    a = write_table(rec.recommend(calls, kb), "recommendations", tmp_path / "a.parquet")
    b = write_table(rec.recommendation_table(calls, kb), "recommendations", tmp_path / "b.parquet")
    assert a.read_bytes() == b.read_bytes()
    assert expected.num_rows == 0 and a.stat().st_size > 0


def test_index_is_built_once_per_kb() -> None:
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


def test_a_result_that_is_itself_a_bound_meets_lower_bounds_only() -> None:
    calls = calls_frame(("S1", "CYP2C19", "Normal Metabolizer", "NM"), ("S1", "CYP2D6", "≥4.5", "UM"))
    assert for_drug(rec.recommend(calls, make_kb()), "S1", "tca")["recommendation_id"].tolist() == ["T:7"]  # ≥3.75


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Poor Metabolizer", "exact"),
        ("No Result", "exact"),
        ("≥3.75", "bound"),
        ("*57:01 positive", "status"),
        ("*15:02 positive + *15:11 positive", "status"),
        ("*3/*1", "genotype"),
        ("*80+*28/*80+*28", "genotype"),
        ("0.5 (Phenotyping)", "qualified"),
        ("-1639 AA", "exact"),
    ],
)
def test_key_grammar(text: str, kind: str) -> None:
    part = rec.parse_key_part(text)
    assert part.kind == kind
    if kind == "genotype":
        assert part.text == "/".join(sorted(text.split("/"), key=lambda a: (a != "*1", a)))  # canonical order


# --- HLA allele status (the pure function) --------------------------------------------------


@pytest.mark.parametrize(
    ("allele", "result", "status"),
    [
        ("*57:01", dict(diplotype="*57:01/*08:01"), "positive"),
        ("*58:01", dict(diplotype="*57:01/*08:01"), "negative"),
        ("*57:01", dict(diplotype="HLA-B*57:01:01/HLA-B*08:01:01"), "positive"),  # higher resolution
        ("*57:01", dict(alleles=("*57:03", "*44:02")), "negative"),
        ("*57:01", dict(alleles=("*57", "*44:02")), None),  # too coarse to tell
        ("*57:01", dict(diplotype="*57:01"), "positive"),  # one allele listed
        ("*58:01", dict(diplotype="*57:01"), None),
        ("*57:01", dict(statements="*57:01 positive"), "positive"),
        ("*58:01", dict(statements="*57:01 positive"), None),  # says nothing about *58:01
        ("*15:02", dict(statements="*57:01 negative; *15:02 positive"), "positive"),
        ("*57:01", dict(statements="*57 negative"), "negative"),  # no *57 at all
        ("*57:01", dict(statements="*57:01:01 positive"), "positive"),
        ("*57:01", dict(diplotype="*57:01/*08:01", statements="*57:01 negative"), None),  # contradiction
        ("*31:01", dict(diplotype="A*31:01/A*02:01"), "positive"),
    ],
)
def test_hla_allele_status(allele: str, result: dict, status: str | None) -> None:
    assert rec.hla_allele_status(allele, **result) == status


def test_allele_status_key_spells_cpic_keys() -> None:
    assert rec.allele_status_key("*58:01", diplotype="*57:01/*08:01") == "*58:01 negative"
    assert rec.allele_status_key("*57:01", diplotype="*57:01/*08:01") == "*57:01 positive"
    assert rec.allele_status_key("*58:01", statements="*57:01 positive") == "No Result"


HLA_ROWS = [
    ("abacavir", "HLA-B=*57:01 negative", "general", "standard_dose", "", "", "Strong"),
    ("abacavir", "HLA-B=*57:01 positive", "general", "avoid", "", "", "Strong"),
    ("allopurinol", "HLA-B=*58:01 negative", "general", "standard_dose", "", "", "Strong"),
    ("allopurinol", "HLA-B=*58:01 positive", "general", "avoid", "", "", "Strong"),
    ("cbz", "HLA-B=*15:02 positive", "general", "use_alternative", "", "", "N/A"),
    ("cbz", "HLA-B=*15:11 positive", "general", "monitor", "", "", "N/A"),
    ("cbz", "HLA-B=*15:02 positive + *15:11 positive", "general", "no_recommendation", "", "", "N/A"),
]


def test_one_hla_genotype_answers_every_allele_status_key() -> None:
    kb = make_kb(HLA_ROWS, [("abacavir", "HLA-B", "A"), ("allopurinol", "HLA-B", "A"), ("cbz", "HLA-B", "A")])
    calls = calls_frame(
        ("S1", "HLA-B", "*57:01/*08:01", None, "outside_call", "*57:01/*08:01"),
        ("S2", "HLA-B", "*57:01 positive", None, "outside_call"),
        ("S3", "HLA-B", "*15:02/*15:11", None, "outside_call", "*15:02/*15:11"),
        ("S4", "HLA-B", "*15:02/*07:02", None, "outside_call", "*15:02/*07:02"),
    )
    out = rec.recommend(calls, kb)
    assert for_drug(out, "S1", "abacavir")["action"].tolist() == ["avoid"]
    allo = for_drug(out, "S1", "allopurinol").iloc[0]
    assert (allo["action"], allo["lookup_key"]) == ("standard_dose", "HLA-B=*58:01 negative")
    assert allo["phenotypes"] == ["HLA-B: *58:01 negative (*57:01/*08:01)"]
    assert for_drug(out, "S2", "abacavir")["action"].tolist() == ["avoid"]
    allo2 = for_drug(out, "S2", "allopurinol").iloc[0]  # a bare "*57:01 positive" says nothing about *58:01
    assert (allo2["action"], allo2["lookup_key"]) == ("no_guideline_match", "HLA-B=No Result")
    assert for_drug(out, "S3", "cbz")["action"].tolist() == ["no_recommendation"]  # both: the conjunction wins
    assert for_drug(out, "S4", "cbz")["action"].tolist() == ["use_alternative"]


GENOTYPE_ROWS = [
    ("sipo", "CYP2C9=*1/*3", "", "reduce_dose", "0.5", "", "N/A"),
    ("sipo", "CYP2C9=*3/*3", "", "avoid", "", "", "N/A"),
    ("sipo", "CYP2C9=Intermediate Metabolizer", "", "reduce_dose", "0.6", "", "N/A"),
    ("sipo", "CYP2C9=Poor Metabolizer", "", "avoid", "", "", "N/A"),
    ("fu", "DPYD=1.0", "", "reduce_dose", "0.5", "", "N/A"),
    ("fu", "DPYD=1.0 (Phenotyping)", "", "no_recommendation", "", "", "N/A"),
    ("fu", "DPYD=0.5 (Phenotyping)", "", "no_recommendation", "", "", "N/A"),
]


def test_genotype_keys_beat_phenotype_keys_and_need_one_genotype() -> None:
    kb = make_kb(GENOTYPE_ROWS, [("sipo", "CYP2C9", ""), ("fu", "DPYD", "")])
    calls = calls_frame(
        ("S1", "CYP2C9", "1.0", "Intermediate Metabolizer", "called", "*1/*3"),
        ("S2", "CYP2C9", "1.0", "Intermediate Metabolizer", "called", "*3/*1"),  # allele order does not matter
        ("S3", "CYP2C9", "1.0", "Intermediate Metabolizer", "called", "*1/*8"),  # no genotype row
        ("S4", "CYP2C9", "1.0", "Intermediate Metabolizer", "ambiguous", "*1/*3"),  # not one genotype
        ("S5", "CYP2C9", "0.0", "Poor Metabolizer", "called", "*3/*3"),
    )
    out = rec.recommend(calls, kb)
    ids = {s: for_drug(out, s, "sipo")["recommendation_id"].tolist() for s in ("S1", "S2", "S3", "S4", "S5")}
    assert ids == {"S1": ["T:0"], "S2": ["T:0"], "S3": ["T:2"], "S4": ["T:2"], "S5": ["T:1"]}


def test_phenotyping_keys_apply_only_when_the_score_has_no_row_of_its_own() -> None:
    kb = make_kb(GENOTYPE_ROWS, [("sipo", "CYP2C9", ""), ("fu", "DPYD", "")])
    calls = calls_frame(
        ("S1", "DPYD", "1.0", "Intermediate Metabolizer"),
        ("S2", "DPYD", "0.5", "Poor Metabolizer"),
        ("S3", "DPYD", "1.0 (Phenotyping)", None, "outside_call"),
    )
    out = rec.recommend(calls, kb)
    assert for_drug(out, "S1", "fu")["recommendation_id"].tolist() == ["T:4"]
    assert for_drug(out, "S2", "fu")["recommendation_id"].tolist() == ["T:6"]
    assert for_drug(out, "S3", "fu")["recommendation_id"].tolist() == ["T:5"]


def test_one_drug_with_two_single_gene_guidelines_gets_a_row_for_each() -> None:
    rows = [
        ("warf", "CYP2C9=Poor Metabolizer", "", "reduce_dose", "0.2", "", "N/A"),
        ("warf", "VKORC1=-1639 AA", "", "reduce_dose", "0.6", "", "N/A"),
    ]
    kb = make_kb(rows, [("warf", "CYP2C9", ""), ("warf", "VKORC1", "")])
    calls = calls_frame(("S1", "CYP2C9", "0.0", "Poor Metabolizer"), ("S1", "VKORC1", "-1639 AA", "-1639 AA"))
    out = for_drug(rec.recommend(calls, kb), "S1", "warf")
    assert out["genes"].tolist() == [["CYP2C9"], ["VKORC1"]] and out["dose_factor_min"].tolist() == [0.2, 0.6]


# --- against the tables built from the shared CPIC export and DPWG files ------------------------

ALL_GENES = (
    "ABCG2", "CACNA1S", "CFTR", "CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6", "CYP3A4", "CYP3A5", "CYP4F2",
    "DPYD", "G6PD", "IFNL3", "NAT2", "NUDT15", "RYR1", "SLCO1B1", "TPMT", "UGT1A1", "VKORC1",
    "HLA-A", "HLA-B", "MT-RNR1",
)  # fmt: skip


@pytest.fixture(scope="module")
def real_kb(shared_data) -> KnowledgeBase:
    from pgx.kb_build.recommendations import build_recommendation_tables

    built, _ = build_recommendation_tables(shared_data, ALL_GENES)
    tables = {name: _typed(name, df.to_dict("records")) for name, df in built.items()}
    return KnowledgeBase(root=Path("."), manifest={"kb_version": f"test-{next(_versions)}"}, tables=tables)


def _pick(out: pd.DataFrame, sample: str, drug: str, source: str = "CPIC") -> pd.DataFrame:
    rows = for_drug(out, sample, drug)
    return rows[rows["source"] == source]


@pytest.mark.shared_data
def test_phenotype_and_activity_score_keys(real_kb) -> None:
    calls = calls_frame(
        ("S1", "CYP2C19", "Poor Metabolizer", "Poor Metabolizer"),
        ("S1", "CYP2C9", "1.0", "Intermediate Metabolizer"),
        ("S1", "TPMT", "Normal Metabolizer", "Normal Metabolizer"),
    )
    out = rec.recommend(calls, real_kb)
    clop = _pick(out, "S1", "clopidogrel")
    assert len(clop) == 3 and set(clop["action"]) == {"use_alternative"}  # three populations, all shown
    assert set(clop["population"]) == {"CVI ACS PCI", "CVI non-ACS non-PCI", "NVI"}
    dpwg = _pick(out, "S1", "clopidogrel", "DPWG")  # one row per indication branch
    assert dpwg["action"].tolist() == ["use_alternative", "assess_further"] and dpwg["branch"].tolist() == [1, 2]
    assert dpwg["indication"].iloc[1] == "other indications" and "prasugrel" in dpwg["alternatives"].iloc[1]
    assert set(_pick(out, "S1", "amitriptyline")["lookup_key"]) == {"CYP2C19=Poor Metabolizer;CYP2D6=No Result"}
    assert set(_pick(out, "S1", "azathioprine")["action"]) == {"standard_dose"}  # NUDT15 No Result row
    assert set(_pick(out, "S1", "celecoxib")["action"]) == {"reduce_dose"}
    called = {"CYP2C19", "CYP2C9", "TPMT"}  # and CYP2D6, NUDT15 when CPIC pairs them with these (No Result rows)
    mine = out[(out["source"] == "CPIC") & out["genes"].map(lambda gs: bool(set(gs) & called))]
    assert "no_guideline_match" not in set(mine["action"])


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("score", "codeine_key"),
    [("4.0", "CYP2D6=4.0"), ("5.0", "CYP2D6=≥5.0"), ("≥6.0", "CYP2D6=≥6.0"), ("≥4.5", "CYP2D6=≥4.0"), ("2.75", "CYP2D6=2.75")],
)
def test_cyp2d6_scores_and_bound_keys(real_kb, score: str, codeine_key: str) -> None:
    out = rec.recommend(calls_frame(("S1", "CYP2D6", score, "x")), real_kb)
    codeine = _pick(out, "S1", "codeine")
    ids = set(codeine["recommendation_id"])
    keys = set(real_kb.tables["recommendations"].set_index("recommendation_id").loc[sorted(ids), "lookup_key"])
    assert keys == {codeine_key}
    onda = _pick(out, "S1", "ondansetron")
    assert len(onda) == 1 and onda["recommendation_id"].iloc[0].startswith("CPIC:ondansetron:v1.30:")


@pytest.mark.shared_data
def test_hla_outside_call_maps_to_each_drugs_allele(real_kb) -> None:
    calls = calls_frame(
        ("S1", "HLA-B", "*57:01/*08:01", None, "outside_call", "*57:01/*08:01"),
        ("S1", "HLA-A", "*31:01/*02:01", None, "outside_call", "*31:01/*02:01"),
        ("S2", "HLA-B", "*57:01 positive", None, "outside_call"),
    )
    out = rec.recommend(calls, real_kb)
    assert _pick(out, "S1", "abacavir")["action"].tolist() == ["avoid"]
    assert _pick(out, "S1", "allopurinol")["lookup_key"].tolist() == ["HLA-B=*58:01 negative"]
    cbz = _pick(out, "S1", "carbamazepine")
    assert set(cbz["lookup_key"]) == {"HLA-A=*31:01 positive;HLA-B=*15:02 negative"}
    assert set(cbz["population"]) == {"CBZ naive", "CBZ use >3mos", "CBZ-no alternatives"}
    pht = _pick(out, "S1", "phenytoin")  # CYP2C9 not called, HLA-B *15:02 negative
    assert set(pht["lookup_key"]) == {"CYP2C9=No Result;HLA-B=*15:02 negative"} and len(pht) == 2
    assert _pick(out, "S2", "abacavir")["action"].tolist() == ["avoid"]
    assert _pick(out, "S2", "allopurinol")["action"].tolist() == ["no_guideline_match"]
    assert set(_pick(out, "S2", "carbamazepine")["lookup_key"]) == {"HLA-A=No Result;HLA-B=No Result"}


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("drug", "calls"),
    [
        ("amitriptyline", [("CYP2C19", "Poor Metabolizer"), ("CYP2D6", "1.0")]),
        ("azathioprine", [("TPMT", "Intermediate Metabolizer"), ("NUDT15", "Intermediate Metabolizer")]),
        ("phenytoin", [("CYP2C9", "1.0"), ("HLA-B", "*15:02 negative")]),
        ("sertraline", [("CYP2B6", "Poor Metabolizer"), ("CYP2C19", "Normal Metabolizer")]),
        ("desflurane", [("CACNA1S", "Uncertain Susceptibility"), ("RYR1", "Malignant Hyperthermia Susceptibility")]),
        ("fluvastatin", [("CYP2C9", "1.5"), ("SLCO1B1", "Decreased Function")]),
        ("rosuvastatin", [("ABCG2", "Poor Function"), ("SLCO1B1", "Normal Function")]),
        ("carbamazepine", [("HLA-A", "*31:01 negative"), ("HLA-B", "*15:02 negative")]),
    ],
)
def test_every_multi_gene_combination(real_kb, drug: str, calls: list) -> None:
    out = rec.recommend(calls_frame(*[("S1", g, k, None) for g, k in calls]), real_kb)
    rows = _pick(out, "S1", drug)
    expected = ";".join(f"{g}={k}" for g, k in sorted(calls))
    assert set(rows["lookup_key"]) == {expected}
    kb_keys = real_kb.tables["recommendations"].set_index("recommendation_id")["lookup_key"]
    assert {kb_keys[i] for i in rows["recommendation_id"]} == {expected}


@pytest.mark.shared_data
def test_dpwg_genotype_keys_are_matched_against_the_calls_alleles(real_kb) -> None:
    calls = calls_frame(
        ("S1", "CYP2C9", "1.0", "Intermediate Metabolizer", "called", "*1/*3"),
        ("S2", "CYP2C9", "1.0", "Intermediate Metabolizer", "called", "*1/*11"),
        ("S3", "CYP2C9", "0.0", "Poor Metabolizer", "called", "*3/*3"),
        ("S4", "UGT1A1", "Poor Metabolizer", "Poor Metabolizer", "called", "*28/*28"),
    )
    out = rec.recommend(calls, real_kb)
    kb_keys = real_kb.tables["recommendations"].set_index("recommendation_id")["lookup_key"]

    def keys(sample, drug):
        return [kb_keys[i] for i in _pick(out, sample, drug, "DPWG")["recommendation_id"].dropna()]

    assert keys("S1", "siponimod") == ["CYP2C9=*1/*3"]
    assert keys("S2", "siponimod") == ["CYP2C9=Intermediate Metabolizer"]
    assert keys("S3", "siponimod") == ["CYP2C9=*3/*3"]
    assert _pick(out, "S3", "siponimod", "DPWG")["action"].tolist() == ["avoid"]
    assert keys("S1", "warfarin") == ["CYP2C9=*1/*3"]  # and a no_guideline_match row for VKORC1 (not called)
    assert _pick(out, "S1", "warfarin", "DPWG")["genes"].tolist() == [["CYP2C9"], ["VKORC1"]]
    assert keys("S4", "irinotecan") == ["UGT1A1=*28/*28"]
    assert _pick(out, "S1", "warfarin", "CPIC").empty  # CPIC has no warfarin rows (flowchart only)


@pytest.mark.shared_data
def test_dpyd_scores_reach_dpwg_rows(real_kb) -> None:
    calls = calls_frame(("S1", "DPYD", "1.0", "Intermediate Metabolizer"), ("S2", "DPYD", "0.5", "Poor Metabolizer"))
    out = rec.recommend(calls, real_kb)
    kb_keys = real_kb.tables["recommendations"].set_index("recommendation_id")["lookup_key"]
    fu1 = _pick(out, "S1", "fluorouracil", "DPWG")["recommendation_id"]
    fu2 = _pick(out, "S2", "fluorouracil", "DPWG")["recommendation_id"]
    assert [kb_keys[i] for i in fu1] == ["DPYD=1.0"]
    assert [kb_keys[i] for i in fu2] == ["DPYD=0.5 (Phenotyping)"]
    assert _pick(out, "S2", "fluorouracil")["action"].tolist() == ["avoid"]  # CPIC


def _calls_for_row(sample: str, lookup_key: str) -> list[tuple]:
    """Calls that should reach a row keyed ``lookup_key`` (a gene keyed No Result is left out)."""
    calls = []
    for gene, key in rec.split_lookup_key(lookup_key).items():
        part = rec.parse_key_part(key)
        if key == rec.NO_RESULT:
            continue
        if part.kind == "genotype":
            calls.append((sample, gene, "x", "x", "called", part.text))
        elif part.kind == "status" and len(part.statuses) > 1:
            diplotype = "/".join(a for a, _ in part.statuses)  # all positive in the data
            calls.append((sample, gene, "x", None, "outside_call", diplotype))
        else:
            calls.append((sample, gene, key, None, "outside_call" if part.kind == "status" else "called"))
    return calls


@pytest.mark.shared_data
def test_every_row_of_every_drug_is_reachable(real_kb) -> None:
    """For each KB row, a sample whose results are the row's key gets that row (2,688 rows)."""
    recs = real_kb.tables["recommendations"]
    calls, wanted = [("R_none", "G6PD", "Normal", "Normal")], {}
    for i, (rid, key) in enumerate(zip(recs["recommendation_id"], recs["lookup_key"])):
        row_calls = _calls_for_row(f"R{i:05d}", key)
        sample = f"R{i:05d}" if row_calls else "R_none"  # a row keyed No Result on every gene
        calls += row_calls
        wanted.setdefault(sample, set()).add(rid)
    out = rec.recommend(calls_frame(*calls), real_kb)
    got = out.groupby("sample_id")["recommendation_id"].agg(lambda ids: set(ids.dropna()))
    unreachable = sorted(rid for sample, rids in wanted.items() for rid in rids - got.get(sample, set()))
    assert not unreachable
    assert len(recs) > 2600


@pytest.mark.shared_data
def test_many_samples_are_grouped_by_distinct_results(real_kb, monkeypatch) -> None:
    seen = []
    real = rec.match_rows

    def counting(entry, key):
        seen.append((entry.source, entry.drug, entry.genes, key))
        return real(entry, key)

    monkeypatch.setattr(rec, "match_rows", counting)
    rows = []
    phenos = ["Normal Metabolizer", "Poor Metabolizer", "Intermediate Metabolizer"]
    for i in range(3000):
        rows.append((f"S{i:05d}", "CYP2C19", phenos[i % 3], phenos[i % 3]))
        rows.append((f"S{i:05d}", "CYP2D6", ["1.0", "2.0"][i % 2], "x"))
        rows.append((f"S{i:05d}", "HLA-B", "*57:01/*08:01", None, "outside_call", "*57:01/*08:01"))
    out = rec.recommend(calls_frame(*rows), real_kb)
    assert len(seen) == len(set(seen))
    n_entries = len(rec.lookup_index(real_kb).drugs)
    assert len(seen) <= n_entries * 6  # at most 3 x 2 distinct results per drug
    assert out["sample_id"].nunique() == 3000
