"""Recommendation facts: from CPIC rows to structured actions and texts in our own words.

The unit tests use sentences written for this file (never copied from a guideline). The
``shared_data`` tests read the real CPIC export at run time and check every row for the
default genes: one structured row each, actions consistent with the source wording,
stated percentages carried as dose factors, and no long verbatim run of the source in
our texts.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from pgx.kb_build import recommendations as rb
from pgx.schema import ACTIONS, KB_TABLES

GENES = ("CYP2C19", "CYP2C9", "TPMT")

NAMES = ("drugx", "drugy", "drugz", "opioidq", "methylene blue")
PATTERN = rb.drug_name_pattern(NAMES)
CANONICAL = {n.lower(): n for n in NAMES}


def facts(text: str, classification: str = "Strong", drug: str = "drugx") -> rb.Facts:
    return rb.extract_facts(text, classification, drug, PATTERN, CANONICAL)


# --- rules on sentences written for these tests ------------------------------------------


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("Start drugx at the standard dose.", "standard_dose"),
        ("Give the label-recommended dosing of drugx.", "standard_dose"),
        ("There is no reason to avoid drugx here.", "standard_dose"),
        ("Drugx should be avoided. Give drugy instead.", "use_alternative"),
        ("Avoid drugx.", "avoid"),
        ("Drugx is contraindicated for this patient.", "avoid"),
        ("Avoid strong inhibitors of the enzyme. Start drugx at the standard dose.", "standard_dose"),
        ("Avoid drugx. Use something else at its usual dose.", "use_alternative"),
        ("Select an alternative agent for this patient.", "use_alternative"),
        ("Lower the starting dose of drugx by 40%.", "reduce_dose"),
        ("Start with a 30% reduction of the usual starting dose.", "reduce_dose"),
        ("Limit drugx to ≤10mg per day at first.", "reduce_dose"),
        ("Raise the daily dose by 50% from the start.", "increase_dose"),
        ("Think about an alternative treatment.", "consider_alternative"),
        ("Give drugx cautiously with close follow-up.", "monitor"),
        ("Adjust drugx using therapeutic drug monitoring.", "monitor"),
        ("No recommendation", "no_recommendation"),
        ("Enzyme activity must be measured before deciding.", "no_recommendation"),
    ],
)
def test_action_rules_on_own_sentences(text: str, action: str) -> None:
    assert facts(text).action == action


def test_no_recommendation_classification_wins_over_text() -> None:
    assert facts("Start drugx at the standard dose.", classification="No Recommendation").action == "no_recommendation"


def test_if_clause_never_decides_the_action() -> None:
    # the condition mentions an alternative; the main clause says what to do
    assert facts("If no alternative is at hand, start drugx at the standard dose.").action == "standard_dose"


def test_loading_dose_sentence_is_skipped() -> None:
    f = facts("For the first dose, give the typical loading dose. Then give 20% less than the maintenance dose.")
    assert (f.action, f.dose.factor, f.dose.target) == ("reduce_dose", 0.8, "usual maintenance dose")


def test_unavailable_alternatives_are_not_an_offer() -> None:
    f = facts("Avoid drugx. If alternative agents are not available, monitor closely.")
    assert f.action == "avoid"


@pytest.mark.parametrize(
    ("text", "low", "high", "factor"),
    [
        ("Reduce the starting dose by 50%.", 0.5, 0.5, 0.5),
        ("Consider a 25% reduction of the starting dose.", 0.75, 0.75, 0.75),
        ("Begin at 30-80% of the standard starting dose.", 0.3, 0.8, 0.55),
        ("Begin at 20%-50% of the standard starting dose.", 0.2, 0.5, 0.35),
        ("Increase the daily dose by 100%.", 2.0, 2.0, 2.0),
        ("Increase the dose by 50-100% for some uses.", 1.5, 2.0, 1.75),
        ("Reduce the dose by 10-fold for now.", 0.1, 0.1, 0.1),
        ("Start at 1.5 to 2 times the usual starting dose.", 1.5, 2.0, 1.75),
    ],
)
def test_dose_change_ranges_take_the_midpoint(text: str, low: float, high: float, factor: float) -> None:
    d = rb.parse_dose_change(text)
    assert (d.low, d.high, d.factor) == (low, high, factor)


def test_percent_relative_to_other_metabolizers_is_not_a_dose_factor() -> None:
    assert rb.parse_dose_change("They need a 50-100% higher dose compared to poor metabolizers.") is None


def test_percent_not_about_dose_is_ignored() -> None:
    assert rb.parse_dose_change("About 20% of patients stop the drug early.") is None


def test_alternatives_named_in_an_offer_only() -> None:
    text = "Avoid drugx and drugz. Use drugy or methylene blue instead. A non-opioidq option also works."
    assert facts(text).alternatives == ("drugy", "methylene blue")


def test_alternatives_exclude_the_drug_itself_and_plain_mentions() -> None:
    text = "Start drugx at the standard dose. Drugy levels take a week to settle."
    assert facts(text).alternatives == ()
    assert facts("Choose an alternative such as drugx or drugy.").alternatives == ("drugy",)


def test_render_text_uses_facts_and_cites() -> None:
    f = rb.Facts("reduce_dose", "reduce", dose=rb.DoseChange(0.5, 0.5, "usual starting dose"))
    assert rb.render_text("drugx", f, "Strong") == "Start drugx at about 50% of the usual starting dose (CPIC, Strong)."
    f = rb.Facts("use_alternative", "avoid_with_alternative", alternatives=("drugy", "drugz"))
    assert rb.render_text("drugx", f, "") == "Choose another drug, e.g. drugy or drugz, instead of drugx (CPIC)."
    f = rb.Facts("avoid", "avoid", dose=rb.DoseChange(0.3, 0.8, "usual dose"), monitoring="levels")
    assert rb.render_text("drugx", f, "Optional") == (
        "Avoid drugx. If drugx is used anyway, give 30 to 80% of the usual dose and let drug levels guide "
        "the dose (CPIC, Optional)."
    )


def test_lookup_key_string_sorts_genes_and_keeps_keys() -> None:
    assert rb.lookup_key_string({"TPMT": "No Result", "NUDT15": "≥3.75"}) == "NUDT15=≥3.75;TPMT=No Result"


def test_strength_maps_na_to_empty() -> None:
    assert [rb.strength_of(c) for c in ("Strong", "n/a", None, "No Recommendation")] == [
        "Strong", "", "", "No Recommendation",
    ]  # fmt: skip


# --- every CPIC row for the default genes (shared data) ----------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    w = _words(text)
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


@pytest.fixture(scope="module")
def built(shared_data):
    tables, paths = rb.build_recommendation_tables(shared_data, GENES)
    records, cpic, _ = rb.build_records(shared_data, GENES)
    source = {f"CPIC:{r['id']}": r for r in cpic.recommendations}
    return tables, paths, records, cpic, source


@pytest.mark.shared_data
def test_every_cpic_row_for_the_genes_maps_to_exactly_one_row(built) -> None:
    tables, _, _, cpic, _ = built
    expected = sorted(f"CPIC:{r['id']}" for r in cpic.recommendations if set(r["lookupkey"]) & set(GENES))
    got = tables["recommendations"]["recommendation_id"]
    assert got.is_unique
    assert sorted(got) == expected


@pytest.mark.shared_data
def test_tables_have_declared_columns_and_values(built) -> None:
    tables, paths, *_ = built
    for name in ("drugs", "recommendations"):
        assert list(tables[name].columns) == list(KB_TABLES[name])
    recs = tables["recommendations"]
    assert set(recs["action"]) <= set(ACTIONS) - {"no_guideline_match"}
    assert set(recs["strength"]) <= {*rb.STRENGTHS, ""}
    assert recs["source"].eq("CPIC").all()
    text_cols = [c for c in recs.columns if c != "dose_factor"]
    assert all(isinstance(v, str) for c in text_cols for v in recs[c])
    assert all(p.is_file() for p in paths)
    assert {p.name for p in paths} == set(rb.CPIC_FILES)


@pytest.mark.shared_data
def test_lookup_keys_and_populations_are_cpic_verbatim(built) -> None:
    tables, _, _, _, source = built
    for row in tables["recommendations"].itertuples():
        src = source[row.recommendation_id]
        assert dict(p.split("=", 1) for p in row.lookup_key.split(";")) == src["lookupkey"]
        assert row.genes == ";".join(sorted(src["lookupkey"]))
        assert row.population == src["population"].rstrip()


@pytest.mark.shared_data
def test_avoid_wording_gives_avoid_or_an_alternative(built) -> None:
    tables, _, _, _, source = built
    avoid_words = re.compile(r"\bavoid\b|\bnot recommended\b|\bcontraindicated\b", re.IGNORECASE)
    wrong = []
    for row in tables["recommendations"].itertuples():
        lead = rb.split_sentences(source[row.recommendation_id]["drugrecommendation"])[0]
        if avoid_words.search(lead) and row.action not in ("avoid", "use_alternative", "consider_alternative"):
            wrong.append((row.recommendation_id, row.action))
    assert not wrong


@pytest.mark.shared_data
def test_stated_percentages_appear_as_dose_factors(built) -> None:
    tables, _, _, _, source = built
    stated = re.compile(r"\d+\s*%\s*(?:reduction|lower|less)|\bby \d+\s*%|\d+\s*%\s*of (?:the )?[\w ]*dose", re.I)
    missing = []
    for row in tables["recommendations"].itertuples():
        if stated.search(source[row.recommendation_id]["drugrecommendation"]) and pd.isna(row.dose_factor):
            missing.append(row.recommendation_id)
    assert not missing
    recs = tables["recommendations"]
    assert (recs.loc[recs["action"] == "reduce_dose", "dose_factor"].dropna() < 1).all()
    assert (recs.loc[recs["action"] == "increase_dose", "dose_factor"].dropna() > 1).all()


@pytest.mark.shared_data
def test_single_reduction_percent_is_the_factor(built) -> None:
    tables, _, _, _, source = built
    simple = re.compile(r"^[^%]*?\b(\d+)% reduction[^%]*$")
    checked = 0
    for row in tables["recommendations"].itertuples():
        m = simple.search(source[row.recommendation_id]["drugrecommendation"])
        if m:
            assert row.dose_factor == pytest.approx(1 - int(m.group(1)) / 100), row.recommendation_id
            checked += 1
    assert checked > 50


@pytest.mark.shared_data
def test_no_text_repeats_a_long_run_of_the_source(built) -> None:
    tables, _, _, _, source = built
    for row in tables["recommendations"].itertuples():
        src = source[row.recommendation_id]["drugrecommendation"]
        assert row.text != src
        assert not (_ngrams(row.text, 8) & _ngrams(src, 8)), row.recommendation_id


@pytest.mark.shared_data
def test_texts_end_with_the_citation(built) -> None:
    tables, *_ = built
    for row in tables["recommendations"].itertuples():
        cite = f"(CPIC, {row.strength})." if row.strength else "(CPIC)."
        assert row.text.endswith(cite), row.recommendation_id


@pytest.mark.shared_data
def test_known_facts(built) -> None:
    recs = built[0]["recommendations"].set_index(["drug", "lookup_key", "population"])
    pm = recs.loc[("clopidogrel", "CYP2C19=Poor Metabolizer")]
    assert set(pm["action"]) == {"use_alternative"} and len(pm) == 3
    um = recs.loc[("amitriptyline", "CYP2C19=Ultrarapid Metabolizer;CYP2D6=No Result", "general")]
    assert um["alternatives"] == "desipramine;nortriptyline"
    tpmt_im = recs.loc[("azathioprine", "NUDT15=Normal Metabolizer;TPMT=Intermediate Metabolizer", "general")]
    assert (tpmt_im["action"], tpmt_im["dose_factor"]) == ("reduce_dose", 0.55)
    cel = recs.loc[("celecoxib", "CYP2C9=0.0", "general")]
    assert (cel["action"], cel["dose_factor"]) == ("reduce_dose", 0.375)
    ppi = recs.loc[("omeprazole", "CYP2C19=Ultrarapid Metabolizer", "general")]
    assert (ppi["action"], ppi["dose_factor"]) == ("increase_dose", 2.0)
    assert recs.loc[("fluvastatin", "CYP2C9=n/a;SLCO1B1=Indeterminate", "general"), "strength"] == ""


@pytest.mark.shared_data
def test_drugs_table_one_row_per_pair_with_guideline_citation(built, shared_data) -> None:
    drugs = built[0]["drugs"]
    assert not drugs.duplicated(["source", "drug", "gene"]).any()
    clop = drugs[(drugs["drug"] == "clopidogrel") & (drugs["gene"] == "CYP2C19")].iloc[0]
    assert (clop["cpic_level"], clop["guideline"]) == ("A", "CYP2C19 and Clopidogrel")
    assert clop["url"].startswith("https://") and clop["pmid"].split(";")[0].isdigit()
    # the other gene of a multi-gene drug is listed: recommend() needs its level
    assert {"CYP2C19", "CYP2D6"} <= set(drugs.loc[drugs["drug"] == "amitriptyline", "gene"])
    pairs = json.loads((shared_data / "cpic" / "pair_view.json").read_text())
    expected = {(p["drugname"], p["genesymbol"]) for p in pairs if p["genesymbol"] in GENES}
    assert expected <= set(zip(drugs["drug"], drugs["gene"]))


@pytest.mark.shared_data
def test_build_is_deterministic(built, shared_data) -> None:
    again, _ = rb.build_recommendation_tables(shared_data, GENES)
    for name, df in built[0].items():
        pd.testing.assert_frame_equal(df, again[name])
    assert built[0]["recommendations"]["recommendation_id"].tolist() == built[0]["recommendations"].sort_values(
        ["source", "drug", "lookup_key", "population", "recommendation_id"]
    )["recommendation_id"].tolist()


@pytest.mark.shared_data
def test_action_audit_has_no_fallback_rows(built) -> None:
    records = built[2]
    report = rb.summarize_actions(records, sample=40)
    print(report)  # pytest -s shows the distribution and the sample reviewed by eye
    assert "fallback rows: 0" in report


@pytest.mark.shared_data
def test_ondansetron_comes_from_the_old_export_only_with_cyp2d6(shared_data) -> None:
    tables, paths = rb.build_recommendation_tables(shared_data, ("CYP2D6",))
    recs = tables["recommendations"]
    onda = recs[recs["drug"] == "ondansetron"]
    assert len(onda) == 22 and onda["recommendation_id"].str.startswith("CPIC:ondansetron:v1.30:").all()
    assert any(p.parent.name == rb.LEGACY_DIR for p in paths)
    default = rb.build_recommendation_tables(shared_data, GENES)[0]["recommendations"]
    assert "ondansetron" not in set(default["drug"])
