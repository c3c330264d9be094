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

from pgx.kb_build import advice as ad
from pgx.kb_build import dpwg
from pgx.kb_build import cpic as cpic_files
from pgx.kb_build import recommendations as rb
from pgx.kb_build import wording
from pgx.schema import ACTIONS, KB_TABLES, NOT_REPRESENTED

#: the fields a clause can feed (KB ``clauses``)
CLAUSE_FIELDS = {
    "condition", "action", "other_actions", "dose", "caps", "schedule", "amount", "unchanged", "followup",
    "alternatives", "not_alternatives",
}  # fmt: skip

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
KNOWN = ad.Names.of(NAMES)


def read(text: str, classification: str = "Strong", drug: str = "drugx") -> ad.Reading:
    return ad.read_text(text, classification, drug, KNOWN)


def first(text: str, **kw) -> ad.Advice:
    return read(text, **kw).branches[0]


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
        ("Select an alternative agent for this patient.", "use_alternative"),
        ("Lower the starting dose of drugx by 40%.", "reduce_dose"),
        ("Start with a 30% reduction of the usual starting dose.", "reduce_dose"),
        ("Limit drugx to ≤10mg per day at first.", "reduce_dose"),
        ("Raise the daily dose by 50% from the start.", "increase_dose"),
        ("Consider an alternative treatment.", "consider_alternative"),
        ("Give drugx cautiously with close follow-up.", "monitor"),
        ("Use drugx at standard doses with caution.", "monitor"),
        ("No recommendation", "no_recommendation"),
        ("Enzyme activity must be measured before deciding.", "assess_further"),
        ("Clinical findings and family history should guide the choice of drugx.", "assess_further"),
    ],
)
def test_action_rules_on_own_sentences(text: str, action: str) -> None:
    assert first(text).action == action


def test_no_recommendation_classification_wins_over_text() -> None:
    assert first("Start drugx at the standard dose.", classification="No Recommendation").action == "no_recommendation"


def test_the_first_of_two_or_joined_actions_is_primary_the_other_optional() -> None:
    b = first("Begin with 50% of the usual dose or avoid drugx altogether.")
    assert (b.action, b.other_actions, b.dose.low, b.dose.high) == ("reduce_dose", ["avoid"], 0.5, 0.5)
    b = first("Choose an alternative or begin with 10% of the usual dose.")
    assert (b.action, b.other_actions, b.dose.low) == ("use_alternative", ["reduce_dose"], 0.1)


def test_weighing_risks_is_followup_and_the_next_clause_decides() -> None:
    b = first("Carefully weigh the risks of a rash against the benefit. If another drug is an option, choose an alternative.")
    assert b.action == "use_alternative" and "weigh_risks" in b.followup


def test_loading_dose_kept_and_later_doses_reduced() -> None:
    b = first("The loading dose does not need to be adjusted. For the other doses, use 60% of the standard dose.")
    assert (b.action, b.dose.low, b.dose.applies_to, b.unchanged) == ("reduce_dose", 0.6, "subsequent", "loading")


def test_dose_range_stays_a_range_and_schedule_is_kept() -> None:
    b = first("Begin at 30-80% of the standard starting dose.")
    assert (b.dose.low, b.dose.high, b.dose.applies_to) == (0.3, 0.8, "starting")
    b = first("Reduce the starting dose by 10-fold and give it twice weekly instead of daily.")
    assert (b.dose.low, b.schedule) == (0.1, "2 times a week instead of daily")


def test_a_fallback_dose_is_an_other_action() -> None:
    b = first("Avoid drugx. If drugx is warranted, consider a 50% reduction of the recommended starting dose.")
    assert (b.action, b.other_actions, b.dose.low) == ("avoid", ["reduce_dose"], 0.5)


def test_conditions_split_branches_and_action_less_labels_join_the_branch_before() -> None:
    r = read(
        "For PAIN: Choose an alternative. For COUGH: drugy is not metabolised by it. OTHER INDICATIONS: Use 30% of the normal dose."
    )
    assert [(b.conditions, b.action) for b in r.branches] == [
        ({"indication": "pain"}, "use_alternative"), ({"indication": "other indications"}, "reduce_dose"),
    ]  # fmt: skip
    assert "drugy" in r.branches[0].alternatives


def test_every_clause_is_accounted_for() -> None:
    r = read(
        "Use 50% of the standard dose. In one study of 12 people the mean dose was 45%. The therapeutic range is 10-20 ng/mL."
    )
    assert r.clauses == ("action,dose", "-evidence", "-reference_values") and r.not_represented == 2


def test_caps_with_their_group() -> None:
    b = first(
        "Do not exceed the following doses (50% of the standard maximum dose): adults < 65 years 10 mg/day, =65 years 5 mg/day."
    )
    assert b.action == "reduce_dose"
    assert {"≤10 mg/day (adults < 65 years)", "≤5 mg/day (≥65 years)", "≤50% of the usual maximum dose"} <= set(b.caps)
    assert first("Choose an alternative. If drugx is warranted, limit dose to <20mg/day.").caps == ["<20 mg/day"]


def test_percent_relative_to_other_metabolizers_or_evidence_is_not_a_dose() -> None:
    assert ad.parse_dose("They need a 50-100% higher dose compared to poor metabolizers.") is None
    assert ad.parse_dose("In one study of 12 people the mean dose was 45% of the usual dose.") is None
    assert ad.parse_dose("About 20% of patients stop the drug early.") is None


def test_alternatives_named_in_an_offer_even_outside_the_known_names() -> None:
    b = first("Avoid drugx if possible. Use fastagrel or slowagrel at standard dose if no contraindication.")
    assert b.action == "use_alternative" and b.alternatives == ["fastagrel", "slowagrel"]
    b = first("Choose an alternative or titrate to the maximum dose of the active metabolite (drugy).")
    assert b.alternatives == []
    b = first("Avoid drugx. Drugz is not an alternative, as it shares the pathway.")
    assert (b.alternatives, b.not_alternatives) == ([], ["drugz"])


def test_spelling_variants_are_the_same_drug() -> None:
    names = ad.Names.of(["thioguanine", "drugy"])
    b = ad.read_text("Avoid thioguanine. If it is not possible to avoid tioguanine: use 10% of the standard dose.",
                     "", "thioguanine", names).branches[0]  # fmt: skip
    assert (b.action, b.other_actions, b.alternatives) == ("avoid", ["reduce_dose"], [])


def test_render_text_uses_facts_and_cites() -> None:
    b = ad.Advice(action="reduce_dose", dose=ad.Dose(0.3, 0.8, "starting"), schedule="3 times a week instead of daily")
    assert wording.render_text("drugx", b, "Strong", "CPIC") == (
        "Start drugx at 30 to 80% of the usual starting dose. Dosing: 3 times a week instead of daily (CPIC, Strong)."
    )
    b = ad.Advice(action="use_alternative", alternatives=["drugy", "drugz"], conditions={"indication": "pain"})
    assert (
        wording.render_text("drugx", b, "", "DPWG")
        == "If pain: choose another drug, e.g. drugy or drugz, instead of drugx (DPWG)."
    )


def test_lookup_key_string_sorts_genes_and_keeps_keys() -> None:
    assert cpic_files.lookup_key_string({"TPMT": "No Result", "NUDT15": "≥3.75"}) == "NUDT15=≥3.75;TPMT=No Result"


def test_strength_maps_na_to_empty() -> None:
    assert [rb.strength_of(c) for c in ("Strong", "n/a", None, "No Recommendation")] == [
        "Strong", "", "", "No Recommendation",
    ]  # fmt: skip


def test_cpic_populations_become_conditions() -> None:
    assert rb.population_conditions("general") == {}
    assert rb.population_conditions("adults") == {"age": "adults"}
    assert rb.population_conditions("CVI ACS PCI") == {"indication": "CVI ACS PCI"}
    assert rb.population_conditions("CBZ naive") == {"other": "CBZ naive"}


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
    b = ad.Advice(action="no_recommendation")
    assert wording.render_text("drugx", b, "No recommendation", "DPWG") == (
        "DPWG makes no genotype-based recommendation for drugx with this result (DPWG, No recommendation)."
    )
    assert wording.render_text("drugx", ad.Advice(action="avoid"), "N/A", "DPWG") == "Avoid drugx (DPWG)."


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
    for row in cpic_files.legacy_rows(shared_data, b.cpic, GENES)[0]:
        source[row.recommendation_id] = row.text
    for row in dpwg.dpwg_rows(b.dpwg, cpic_files.SourceRow):
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
    assert not current.duplicated(["recommendation_id", "branch"]).any()
    assert sorted(set(current["recommendation_id"])) == expected  # all 2,115 (one row per branch)
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
    assert not recs.duplicated(["recommendation_id", "branch"]).any()
    assert sorted(set(recs["recommendation_id"])) == expected
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
    assert set(_rows(built, "CPIC")["strength"]) <= {*cpic_files.STRENGTHS, ""}
    assert set(_rows(built, "DPWG")["strength"]) == {"N/A", "No recommendation", ""}
    assert set(recs["source"]) == {"CPIC", "DPWG"}
    text_cols = [c for c in recs.columns if c not in ("dose_factor_min", "dose_factor_max", "branch")]
    assert all(isinstance(v, str) for c in text_cols for v in recs[c])
    assert all(p.is_file() for p in paths)
    assert set(cpic_files.CPIC_FILES) <= {p.name for p in paths}
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
    sentences = ad.clauses(text)
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
        if row.branch != 1:
            continue  # a later branch has its own condition; the lead sentence is the first branch's
        lead = ad.clause_role(_lead(src[row.recommendation_id]))[1]
        if avoid_words.search(lead) and not {"avoid", "use_alternative", "consider_alternative"} & {
            row.action,
            *row.other_actions.split(";"),
        }:
            wrong.append((row.recommendation_id, row.action))
    assert not wrong


@pytest.mark.shared_data
@pytest.mark.parametrize("source", ["CPIC", "DPWG"])
def test_stated_percentages_appear_as_dose_factors(built, source) -> None:
    src = built[4]
    stated = re.compile(r"\d+\s*%\s*(?:reduction|lower|less)|\bby \d+\s*%|\d+\s*%\s*of (?:the )?[\w ]*dose", re.I)
    case_report = re.compile(r"\btolerated\b|\bstudy\b|\baverage dose\b", re.I)  # evidence, not advice
    missing = []
    recs = _rows(built, source)
    with_dose = set(recs.loc[recs["dose_factor_min"].notna() | (recs["dose_caps"] != ""), "recommendation_id"])
    for row in recs.drop_duplicates("recommendation_id").itertuples():
        if row.action == "no_recommendation":
            continue
        advice = [s for s in ad.clauses(src[row.recommendation_id]) if not case_report.search(s)]
        if stated.search(" ".join(advice)) and row.recommendation_id not in with_dose:
            missing.append(row.recommendation_id)
    assert not missing
    recs = _rows(built, source)
    assert (recs.loc[recs["action"] == "reduce_dose", "dose_factor_max"].dropna() < 1).all()
    assert (recs.loc[recs["action"] == "increase_dose", "dose_factor_min"].dropna() > 1).all()
    assert (recs["dose_factor_min"].fillna(0) <= recs["dose_factor_max"].fillna(0)).all()


@pytest.mark.shared_data
def test_single_reduction_percent_is_the_factor(built) -> None:
    src = built[4]
    simple = re.compile(r"^[^%]*?\b(\d+)% reduction[^%]*$")
    checked = 0
    for row in _rows(built, "CPIC").itertuples():
        m = simple.search(src[row.recommendation_id])
        if m:
            assert row.dose_factor_min == pytest.approx(1 - int(m.group(1)) / 100), row.recommendation_id
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
            assert row.dose_factor_min == pytest.approx(int(m.group(1)) / 100), row.recommendation_id
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
    assert set(um["alternatives"].split(";")) == {"desipramine", "nortriptyline"}
    tpmt_im = recs.loc[("azathioprine", "NUDT15=Normal Metabolizer;TPMT=Intermediate Metabolizer", "general")]
    assert (tpmt_im["action"], tpmt_im["dose_factor_min"], tpmt_im["dose_factor_max"]) == ("reduce_dose", 0.3, 0.8)
    cel = recs.loc[("celecoxib", "CYP2C9=0.0", "general")]
    assert (cel["action"], cel["dose_factor_min"], cel["dose_factor_max"], cel["dose_reference"]) == (
        "reduce_dose", 0.25, 0.5, "lowest",
    )  # fmt: skip
    ppi = recs.loc[("omeprazole", "CYP2C19=Ultrarapid Metabolizer", "general")]
    assert (ppi["action"], ppi["dose_factor_min"], ppi["dose_applies_to"]) == ("increase_dose", 2.0, "starting")
    assert recs.loc[("fluvastatin", "CYP2C9=n/a;SLCO1B1=Indeterminate", "general"), "strength"] == ""
    assert recs.loc[("abacavir", "HLA-B=*57:01 positive", "general"), "action"] == "avoid"
    assert set(recs.loc[("phenytoin",), :].index.get_level_values("population")) == {"PHT naive", "PHT use >3mos"}


@pytest.mark.shared_data
def test_known_dpwg_facts(built) -> None:
    recs = _rows(built, "DPWG").set_index(["drug", "lookup_key"]).sort_index()
    assert recs.loc[("siponimod", "CYP2C9=*3/*3"), "action"] == "avoid"
    assert (recs.loc[("warfarin", "CYP2C9=*2/*3"), ["action", "dose_factor_min"]].tolist()) == ["reduce_dose", 0.45]
    lanso = recs.loc[("lansoprazole", "CYP2C19=Ultrarapid Metabolizer")].set_index("branch")
    assert lanso.loc[1, ["action", "dose_factor_min"]].tolist() == ["increase_dose", 4.0]
    assert "pylori" in lanso.loc[1, "indication"] and lanso.loc[2, "indication"] == "other indications"
    assert "≤50% of the usual maximum dose" in recs.loc[("citalopram", "CYP2C19=Poor Metabolizer"), "dose_caps"]
    assert recs.loc[("abacavir", "HLA-B=*57:01 positive"), "action"] == "avoid"
    assert recs.loc[("clopidogrel", "CYP2C19=Normal Metabolizer"), "strength"] == "No recommendation"
    capecitabine = recs.loc[("capecitabine", "DPYD=0.0")]
    assert capecitabine["action"] == "avoid" and capecitabine["alternatives"] == ""
    assert capecitabine["not_alternatives"] == "tegafur"
    codeine = recs.loc[("codeine", "CYP2D6=0.0")].set_index("branch").loc[1]
    assert "tramadol" not in codeine["alternatives"] and "morphine" in codeine["alternatives"]
    assert "tramadol" in codeine["not_alternatives"] and codeine["indication"] == "pain"
    fu = recs.loc[("fluorouracil", "DPYD=1.5")]  # "50 % or avoid": reduce first, avoid as the other option
    assert (fu["action"], fu["other_actions"], fu["dose_factor_min"]) == ("reduce_dose", "avoid", 0.5)
    risperidone = recs.loc[("risperidone", "CYP2D6=3.0")]
    assert "paliperidone" not in risperidone["alternatives"]


@pytest.mark.shared_data
def test_every_clause_of_every_row_is_represented_or_listed(built) -> None:
    """Clause by clause: each clause of each source text maps to fields or a not-represented
    reason; a clause marked as feeding a field has the cue for it, and a clause listed as
    not represented holds no directive the builder should have read."""
    src = built[4]
    recs = _rows(built)
    directive = re.compile(r"^(?:avoid|use|start|choose|select|reduce|increase|initiate|prescribe|do not)\b", re.I)
    assert len(set(recs["recommendation_id"])) == 2688
    for rid, clauses in recs.drop_duplicates("recommendation_id")[["recommendation_id", "clauses"]].itertuples(index=False):
        parts = ad.clauses(src[rid])
        entries = clauses.split(";") if clauses else []
        assert [e.split(":", 1)[0] for e in entries] == [str(i) for i in range(1, len(parts) + 1)], rid
        for text, entry in zip(parts, entries):
            fields = entry.split(":", 1)[1]
            if fields.startswith("-"):
                assert fields[1:] in NOT_REPRESENTED, (rid, entry)
                assert not (directive.search(text) and re.search(r"\d+\s*%", text)), (rid, text)
            else:
                assert fields and set(fields.split(",")) <= CLAUSE_FIELDS, (rid, entry)
                if "dose" in fields.split(","):
                    assert re.search(r"%|times|fold|half|double|factor of|\dx\b|/\d", text, re.I), (rid, text)
    by_row = recs.drop_duplicates("recommendation_id")["clauses"].str.count(":-")
    assert by_row.sum() > 0  # the evidence sentences of DPWG are listed, not silently dropped


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
    assert any(p.parent.name == cpic_files.LEGACY_DIR for p in paths)
    default = rb.build_recommendation_tables(shared_data, ("CYP2C19", "CYP2C9", "TPMT"))[0]["recommendations"]
    assert "ondansetron" not in set(default["drug"])
