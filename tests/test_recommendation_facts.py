"""Recommendation facts: from CPIC and DPWG rows to structured actions and texts in our own words.

The unit tests use sentences written for this file (never copied from a guideline). The
``shared_data`` tests read the real CPIC export and the DPWG files at run time and check
every row of every gene: one structured row each, actions consistent with the source
wording, stated percentages carried as dose factors, and no long verbatim run of the
source (HTML stripped, for DPWG) in our texts.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from pgx.kb_build import dpwg
from pgx.kb_build import recommendations as rb
from pgx.schema import ACTIONS, KB_TABLES

#: every gene the KB covers: the 20 VCF genes and the three outside-call genes
GENES = (
    "ABCG2", "CACNA1S", "CFTR", "CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6", "CYP3A4", "CYP3A5", "CYP4F2",
    "DPYD", "G6PD", "IFNL3", "NAT2", "NUDT15", "RYR1", "SLCO1B1", "TPMT", "UGT1A1", "VKORC1",
    "HLA-A", "HLA-B", "MT-RNR1",
)  # fmt: skip
#: the 19 genes CPIC's recommendation table keys on
CPIC_GENES = (
    "ABCG2", "CACNA1S", "CFTR", "CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6", "CYP3A5", "DPYD", "G6PD",
    "HLA-A", "HLA-B", "MT-RNR1", "NAT2", "NUDT15", "RYR1", "SLCO1B1", "TPMT", "UGT1A1",
)  # fmt: skip

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



@pytest.mark.parametrize(
    ("text", "action", "factor"),
    [
        ("No action is required for this patient.", "standard_dose", None),
        ("Give 1.5 times the normal dose of drugx.", "increase_dose", 1.5),
        ("Give half of the usual dose of drugx.", "reduce_dose", 0.5),
        ("Double the usual daily dose of drugx.", "increase_dose", 2.0),
        ("Give drugx in a 3-fold higher dose for this indication.", "increase_dose", 3.0),
        ("Pick a starting dose that is 1.5x higher than usual.", "increase_dose", 1.5),
        ("Begin with the standard dose, and expect no need to increase it.", "standard_dose", None),
        ("Drugx is contra-indicated here.", "avoid", None),
        ("INDICATION X: lower the dose by 20%.", "reduce_dose", 0.8),
        ("If it cannot be avoided: give drugx at 30% of the usual dose.", "reduce_dose", 0.3),
        ("It is not possible to give advice on dose reduction. Monitor drugx levels.", "monitor", None),
        ("Be alert to side effects of drugx.", "monitor", None),
    ],
)
def test_dpwg_style_wording_on_own_sentences(text: str, action: str, factor: float | None) -> None:
    f = facts(text)
    assert f.action == action
    assert (f.dose.factor if f.dose else None) == factor


def test_an_upper_limit_is_a_capped_dose_of_the_named_reference() -> None:
    f = facts("Do not exceed the following amounts (40% of the usual maximum dose): adults 8 mg.")
    assert (f.action, f.dose.factor, f.dose.target, f.dose.cap) == ("reduce_dose", 0.4, "usual maximum dose", True)
    assert rb.render_text("drugx", f, "", "DPWG") == "Give drugx at no more than about 40% of the usual maximum dose (DPWG)."


def test_study_results_and_exposure_comparisons_are_not_dose_factors() -> None:
    assert rb.parse_dose_change("In one study of 12 people the mean dose was 45% of the usual dose.") is None
    assert rb.parse_dose_change("Exposure is a factor of 3 times higher for PM than for NM at one dose.") is None
    f = facts("Start drugx at 60% of the usual dose. A trial found patients tolerated 20% of the usual dose.")
    assert f.dose.factor == 0.6


def test_drugs_named_as_unsuitable_or_as_interacting_are_not_alternatives() -> None:
    assert facts("Avoid drugx. Drugy is not an alternative, as it shares the pathway.").alternatives == ()
    assert facts("Choose an alternative. Do not select drugy, as it is affected too.").alternatives == ()
    text = "Choose an alternative such as drugz. Avoid strong inhibitors such as drugy with drugx."
    assert facts(text).alternatives == ("drugz",)
    text = "Choose something else. Strong enzyme inhibitor: for example drugy. Drugz is not metabolised by it."
    assert facts(text).alternatives == ("drugz",)


def test_a_dose_if_used_anyway_comes_only_from_a_condition_or_an_or() -> None:
    assert facts("Choose an alternative. Titration raises the dose of drugx every week.").fallback_direction == ""
    assert facts("Choose an alternative or increase the dose of drugx.").fallback_direction == "higher"
    assert facts("Avoid drugx. If it must be used, lower the dose.").fallback_direction == "lower"


def test_html_to_text_ends_blocks_as_sentences_and_decodes_entities() -> None:
    html = "<p>First block</p>\n<ul><li>Second &lt; third</li><li>Fourth.</li></ul>"
    assert dpwg.html_to_text(html) == "First block. Second < third. Fourth."


@pytest.mark.parametrize(
    ("gene", "value", "key"),
    [
        ("CYP2C9", {"*3": 2.0}, "*3/*3"),
        ("CYP2C9", {"*3": 1.0, "*1": 1.0}, "*1/*3"),
        ("UGT1A1", {"*80+*28": 1.0, "*1": 1.0}, "*1/*80+*28"),
        ("DPYD", "1.5 (Intermediate Metabolizer)", "1.5"),
        ("DPYD", "0.5 (Phenotyping)", "0.5 (Phenotyping)"),
        ("HLA-B", "1511 and 1502", "*15:02 positive + *15:11 positive"),
        ("CYP2D6", "≥3.5", "≥3.5"),
        ("VKORC1", "-1639 AA", "-1639 AA"),
    ],
)
def test_dpwg_keys_are_normalised_as_documented(gene: str, value, key: str) -> None:
    assert dpwg.normalise_key(gene, value, "test") == key


def test_dpwg_allele_counts_must_describe_two_alleles() -> None:
    from pgx.errors import KnowledgeBaseError

    with pytest.raises(KnowledgeBaseError, match="two alleles"):
        dpwg.normalise_key("CYP2C9", {"*3": 3.0}, "test")


def test_dpwg_strength_keeps_the_term_and_the_text_cites_dpwg() -> None:
    assert [rb.strength_of(c, "DPWG") for c in ("N/A", "No recommendation", "")] == ["N/A", "No recommendation", ""]
    f = rb.Facts("no_recommendation", "no_recommendation")
    assert rb.render_text("drugx", f, "No recommendation", "DPWG") == (
        "DPWG makes no genotype-based recommendation for drugx with this result (DPWG, No recommendation)."
    )
    assert rb.render_text("drugx", rb.Facts("avoid", "avoid"), "N/A", "DPWG") == "Avoid drugx (DPWG)."

# --- every CPIC and DPWG row of every gene (shared data) ---------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    w = _words(text)
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


@pytest.fixture(scope="module")
def built(shared_data):
    tables, paths = rb.build_recommendation_tables(shared_data, GENES)
    b = rb.build_all(shared_data, GENES)
    source = {f"CPIC:{r['id']}": r["drugrecommendation"] for r in b.cpic.recommendations}
    for row in rb.legacy_rows(shared_data, b.cpic, GENES)[0]:
        source[row.recommendation_id] = row.text
    for row in dpwg.dpwg_rows(b.dpwg, rb.SourceRow):
        source[row.recommendation_id] = row.text  # the HTML already stripped
    return tables, paths, b.records, b.cpic, source, b.dpwg


def _rows(built, source: str | None = None) -> pd.DataFrame:
    recs = built[0]["recommendations"]
    return recs if source is None else recs[recs["source"] == source]


@pytest.mark.shared_data
def test_every_cpic_row_of_every_gene_maps_to_exactly_one_row(built) -> None:
    tables, _, _, cpic, _, _ = built
    recs = _rows(built, "CPIC")
    expected = sorted(f"CPIC:{r['id']}" for r in cpic.recommendations)
    current = recs[~recs["recommendation_id"].str.contains(":v1.30:")]
    assert current["recommendation_id"].is_unique
    assert sorted(current["recommendation_id"]) == expected  # all 2,115
    genes = {g for key in recs["genes"] for g in key.split(";")}
    assert genes == set(CPIC_GENES)


@pytest.mark.shared_data
def test_every_cpic_gene_builds_on_its_own(shared_data) -> None:
    for gene in CPIC_GENES:
        recs = rb.build_recommendation_tables(shared_data, (gene,))[0]["recommendations"]
        cpic = recs[recs["source"] == "CPIC"]
        assert len(cpic) and cpic["genes"].str.split(";").map(lambda gs: gene in gs).all(), gene


@pytest.mark.shared_data
def test_every_dpwg_recommendation_maps_to_exactly_one_row(built) -> None:
    *_, guidelines = built
    recs = _rows(built, "DPWG")
    expected = sorted(f"DPWG:{r['id']}" for g in guidelines for r in g.recommendations)
    assert len(expected) == 529 and len(guidelines) == 62
    assert recs["recommendation_id"].is_unique and sorted(recs["recommendation_id"]) == expected
    assert recs["drug"].nunique() == 53
    assert {"siponimod", "warfarin", "pimozide", "acenocoumarol", "phenprocoumon", "eliglustat"} <= set(recs["drug"])
    assert (recs["population"] == "").all()


@pytest.mark.shared_data
def test_tables_have_declared_columns_and_values(built) -> None:
    tables, paths, *_ = built
    for name in ("drugs", "recommendations"):
        assert list(tables[name].columns) == list(KB_TABLES[name])
    recs = tables["recommendations"]
    assert set(recs["action"]) <= set(ACTIONS) - {"no_guideline_match"}
    assert set(_rows(built, "CPIC")["strength"]) <= {*rb.STRENGTHS, ""}
    assert set(_rows(built, "DPWG")["strength"]) == {"N/A", "No recommendation", ""}
    assert set(recs["source"]) == {"CPIC", "DPWG"}
    text_cols = [c for c in recs.columns if c != "dose_factor"]
    assert all(isinstance(v, str) for c in text_cols for v in recs[c])
    assert all(p.is_file() for p in paths)
    assert set(rb.CPIC_FILES) <= {p.name for p in paths}
    assert sum(p.parent.name == "dpwg" for p in paths) == 62


@pytest.mark.shared_data
def test_lookup_keys_and_populations_are_cpic_verbatim(built, shared_data) -> None:
    b_cpic = built[3]
    by_id = {f"CPIC:{r['id']}": r for r in b_cpic.recommendations}
    for row in _rows(built, "CPIC").itertuples():
        src = by_id.get(row.recommendation_id)
        if src is None:
            assert ":v1.30:" in row.recommendation_id
            continue
        assert dict(p.split("=", 1) for p in row.lookup_key.split(";")) == src["lookupkey"]
        assert row.genes == ";".join(sorted(src["lookupkey"]))
        assert row.population == src["population"].rstrip()


@pytest.mark.shared_data
def test_dpwg_keys_follow_the_documented_grammar(built) -> None:
    keys = set(_rows(built, "DPWG")["lookup_key"])
    genotype = {k for k in keys if "/" in k}
    assert {"CYP2C9=*3/*3", "CYP2C9=*1/*3", "UGT1A1=*80+*28/*80+*28", "UGT1A1=*1/*28"} <= genotype
    assert len(genotype) == 9  # the 19 {allele: count} rows name 9 genotypes
    assert {"DPYD=1.5", "DPYD=0.5 (Phenotyping)", "HLA-B=*15:02 positive + *15:11 positive"} <= keys
    assert not any("Metabolizer)" in k for k in keys)


def _lead(text: str) -> str:
    sentences = rb.split_sentences(text)
    return sentences[0] if sentences else ""


@pytest.mark.shared_data
@pytest.mark.parametrize("source", ["CPIC", "DPWG"])
def test_avoid_wording_gives_avoid_or_an_alternative(built, source) -> None:
    src = built[4]
    avoid_words = re.compile(
        r"(?<!reason to )(?<!need to )\bavoid\b(?![^.;]*\binhibitors\b)|\bnot recommended\b|\bcontra-?indicated\b",
        re.IGNORECASE,
    )  # "no reason to avoid" and "avoid ... inhibitors" (co-medication) do not advise against the drug
    wrong = []
    for row in _rows(built, source).itertuples():
        lead = rb.main_clause(_lead(src[row.recommendation_id]))
        if avoid_words.search(lead) and row.action not in ("avoid", "use_alternative", "consider_alternative"):
            wrong.append((row.recommendation_id, row.action))
    assert not wrong


@pytest.mark.shared_data
@pytest.mark.parametrize("source", ["CPIC", "DPWG"])
def test_stated_percentages_appear_as_dose_factors(built, source) -> None:
    src = built[4]
    stated = re.compile(r"\d+\s*%\s*(?:reduction|lower|less)|\bby \d+\s*%|\d+\s*%\s*of (?:the )?[\w ]*dose", re.I)
    case_report = re.compile(r"\btolerated\b|\bstudy\b|\baverage dose\b", re.I)  # evidence, not advice
    missing = []
    for row in _rows(built, source).itertuples():
        if row.action == "no_recommendation":
            continue
        advice = [s for s in rb.split_sentences(src[row.recommendation_id]) if not case_report.search(s)]
        if stated.search(" ".join(advice)) and pd.isna(row.dose_factor):
            missing.append(row.recommendation_id)
    assert not missing
    recs = _rows(built, source)
    assert (recs.loc[recs["action"] == "reduce_dose", "dose_factor"].dropna() < 1).all()
    assert (recs.loc[recs["action"] == "increase_dose", "dose_factor"].dropna() > 1).all()


@pytest.mark.shared_data
def test_single_reduction_percent_is_the_factor(built) -> None:
    src = built[4]
    simple = re.compile(r"^[^%]*?\b(\d+)% reduction[^%]*$")
    checked = 0
    for row in _rows(built, "CPIC").itertuples():
        m = simple.search(src[row.recommendation_id])
        if m:
            assert row.dose_factor == pytest.approx(1 - int(m.group(1)) / 100), row.recommendation_id
            checked += 1
    assert checked > 50


@pytest.mark.shared_data
def test_dpwg_single_stated_percentage_of_the_dose_is_the_factor(built) -> None:
    src = built[4]
    simple = re.compile(r"^(?:use|start with|reduce the dose to) (\d+)% of the (?:standard|normal) dose\b", re.I)
    checked = 0
    for row in _rows(built, "DPWG").itertuples():
        m = simple.search(src[row.recommendation_id])
        if m:
            assert row.dose_factor == pytest.approx(int(m.group(1)) / 100), row.recommendation_id
            # "... or avoid X" makes it avoid, with the dose kept for when X is used anyway
            assert row.action in ("reduce_dose", "avoid", "use_alternative"), row.recommendation_id
            checked += 1
    assert checked > 30


@pytest.mark.shared_data
@pytest.mark.parametrize("source", ["CPIC", "DPWG"])
def test_no_text_repeats_a_long_run_of_the_source(built, source) -> None:
    src = built[4]
    for row in _rows(built, source).itertuples():
        text = src[row.recommendation_id]
        assert row.text != text
        assert not (_ngrams(row.text, 8) & _ngrams(text, 8)), row.recommendation_id


@pytest.mark.shared_data
def test_no_text_repeats_a_long_run_of_any_dpwg_html(built) -> None:
    *_, guidelines = built
    raw = {f"DPWG:{r['id']}": (r.get("text") or {}).get("html") or "" for g in guidelines for r in g.recommendations}
    for row in _rows(built, "DPWG").itertuples():
        plain = re.sub(r"<[^>]+>", " ", raw[row.recommendation_id])
        assert not (_ngrams(row.text, 8) & _ngrams(plain, 8)), row.recommendation_id


@pytest.mark.shared_data
def test_texts_end_with_the_citation(built) -> None:
    for row in _rows(built).itertuples():
        shown = row.strength if row.strength not in ("", "N/A") else ""
        cite = f"({row.source}, {shown})." if shown else f"({row.source})."
        assert row.text.endswith(cite), row.recommendation_id


@pytest.mark.shared_data
def test_known_facts(built) -> None:
    recs = _rows(built, "CPIC").set_index(["drug", "lookup_key", "population"]).sort_index()
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
    assert recs.loc[("abacavir", "HLA-B=*57:01 positive", "general"), "action"] == "avoid"
    assert set(recs.loc[("phenytoin",), :].index.get_level_values("population")) == {"PHT naive", "PHT use >3mos"}


@pytest.mark.shared_data
def test_known_dpwg_facts(built) -> None:
    recs = _rows(built, "DPWG").set_index(["drug", "lookup_key"]).sort_index()
    assert recs.loc[("siponimod", "CYP2C9=*3/*3"), "action"] == "avoid"
    assert (recs.loc[("warfarin", "CYP2C9=*2/*3"), ["action", "dose_factor"]].tolist()) == ["reduce_dose", 0.45]
    assert (recs.loc[("lansoprazole", "CYP2C19=Ultrarapid Metabolizer"), ["action", "dose_factor"]].tolist()) == [
        "increase_dose", 4.0,
    ]  # fmt: skip
    assert recs.loc[("citalopram", "CYP2C19=Poor Metabolizer"), "text"].startswith(
        "Give citalopram at no more than about 50% of the usual maximum dose"
    )
    assert recs.loc[("abacavir", "HLA-B=*57:01 positive"), "action"] == "avoid"
    assert recs.loc[("clopidogrel", "CYP2C19=Normal Metabolizer"), "strength"] == "No recommendation"
    capecitabine = recs.loc[("capecitabine", "DPYD=0.0")]
    assert capecitabine["action"] == "avoid" and capecitabine["alternatives"] == ""  # tegafur is "not an alternative"
    codeine = recs.loc[("codeine", "CYP2D6=0.0")]
    assert "tramadol" not in codeine["alternatives"] and "morphine" in codeine["alternatives"]


@pytest.mark.shared_data
def test_drugs_table_one_row_per_pair_with_guideline_citation(built, shared_data) -> None:
    drugs = built[0]["drugs"]
    assert not drugs.duplicated(["source", "drug", "gene"]).any()
    clop = drugs[(drugs["source"] == "CPIC") & (drugs["drug"] == "clopidogrel") & (drugs["gene"] == "CYP2C19")].iloc[0]
    assert (clop["cpic_level"], clop["guideline"]) == ("A", "CYP2C19 and Clopidogrel")
    assert clop["url"].startswith("https://") and clop["pmid"].split(";")[0].isdigit()
    # the other gene of a multi-gene drug is listed: recommend() needs its level
    assert {"CYP2C19", "CYP2D6"} <= set(drugs.loc[drugs["drug"] == "amitriptyline", "gene"])
    pairs = json.loads((shared_data / "cpic" / "pair_view.json").read_text())
    expected = {(p["drugname"], p["genesymbol"]) for p in pairs if p["genesymbol"] in GENES}
    cpic = drugs[drugs["source"] == "CPIC"]
    assert expected <= set(zip(cpic["drug"], cpic["gene"]))


@pytest.mark.shared_data
def test_dpwg_drugs_rows_have_no_level_and_cite_the_file(built) -> None:
    drugs = built[0]["drugs"]
    d = drugs[drugs["source"] == "DPWG"]
    assert len(d) == 62 and (d["cpic_level"] == "").all()
    assert set(zip(d["drug"], d["gene"])) >= {("warfarin", "CYP2C9"), ("warfarin", "VKORC1"), ("siponimod", "CYP2C9")}
    assert d["url"].str.startswith("https://www.pharmgkb.org/guidelineAnnotation/").all()
    iri = d[(d["drug"] == "irinotecan")].iloc[0]
    assert iri["pmid"] == "21412232;36443464" and iri["guideline"].startswith("Annotation of DPWG Guideline")
    ids = d.set_index("drug")["drug_id"]
    assert ids["clopidogrel"].startswith("RxNorm:")  # CPIC's id for the same substance
    assert ids.str.match(r"^(?:RxNorm|DrugBank|ATC|MeSH|PharmGKB):\S+$").all()


@pytest.mark.shared_data
def test_build_is_deterministic(built, shared_data) -> None:
    again, _ = rb.build_recommendation_tables(shared_data, GENES)
    for name, df in built[0].items():
        pd.testing.assert_frame_equal(df, again[name])
    recs = built[0]["recommendations"]
    ordered = recs.sort_values(["source", "drug", "lookup_key", "population", "recommendation_id"])
    assert recs["recommendation_id"].tolist() == ordered["recommendation_id"].tolist()


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
    assert len(recs[recs["drug"] == "tropisetron"]) == 22
    assert any(p.parent.name == rb.LEGACY_DIR for p in paths)
    default = rb.build_recommendation_tables(shared_data, ("CYP2C19", "CYP2C9", "TPMT"))[0]["recommendations"]
    assert "ondansetron" not in set(default["drug"])
