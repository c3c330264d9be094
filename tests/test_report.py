"""Tests of pgx.report: the PDF says what it must, for any sample ID, fast and reproducibly.

Run as a script to refresh docs/report_page1.png and time the renderer:
``python tests/test_report.py [--docs] [--bench N]``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from pgx import report, report_layout, report_pdftext, schema
from pgx.report import ACTION_GROUPS, GROUPS, group_key, no_result_genes, render_report

KB = "2025.06.10-1a2b3c4d"
PROVENANCE = {
    "pipeline_version": "0.1.0",
    "kb_version": KB,
    "kb_sources": "PharmCAT 3.1.1 allele definitions; CPIC database v1.30",
    "genome_build": "GRCh38",
    "input_files": "batch7/cohort.vcf.gz",
    "input_sha256": "9f2c4a7e1b0d3c5a6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d",
    "options": "assume_reference=false",
    "created": "2025-07-01T09:30:00+00:00",
}
CPIC = "https://cpicpgx.org/guidelines/"

# --- builders: rows conforming to schema.CALLS / schema.RECOMMENDATIONS ------------------


def make_calls(sample_id: str, rows: list[dict]) -> pd.DataFrame:
    """A calls table: every schema.CALLS column, defaults for what a row leaves out."""
    lists = {"alternatives", "missing_positions", "assumed_reference_positions", "novel_variants", "warnings"}
    full = []
    for row in rows:
        base = {name: ([] if name in lists else None) for name in schema.CALLS.names}
        allele_1, _, allele_2 = (row.get("diplotype") or "/").partition("/")
        base.update(sample_id=sample_id, allele_1=allele_1 or None, allele_2=allele_2 or None,
                    call_status="called", kb_version=KB, phased=False)  # fmt: skip
        base.update(row)
        full.append(base)
    return pd.DataFrame(full, columns=schema.CALLS.names)


def make_recs(sample_id: str, rows: list[dict]) -> pd.DataFrame:
    """A recommendations table: every schema.RECOMMENDATIONS column, with defaults."""
    full = []
    for row in rows:
        base = {name: None for name in schema.RECOMMENDATIONS.names}
        base.update(sample_id=sample_id, source="CPIC", kb_version=KB, population="general", alternatives=[])
        base.update(row)
        genes = base["genes"]
        base.setdefault("lookup_key", None)
        base["lookup_key"] = base["lookup_key"] or ";".join(f"{g}=x" for g in genes)
        full.append(base)
    return pd.DataFrame(full, columns=schema.RECOMMENDATIONS.names)


def example_calls(sample_id: str = "NA12878") -> pd.DataFrame:
    """A realistic patient: CYP2C19 *1/*17, CYP2C9 *1/*3, TPMT *1/*3A and friends."""
    return make_calls(
        sample_id,
        [
            dict(gene="CYP2B6", diplotype="*1/*6", phenotype="Intermediate Metabolizer"),
            dict(gene="CYP2C19", diplotype="*1/*17", phenotype="Rapid Metabolizer", phased=True),
            dict(gene="CYP2C9", diplotype="*1/*3", activity_score=1.0, phenotype="Intermediate Metabolizer"),
            dict(gene="CYP2D6", diplotype=None, call_status="no_call",
                 warnings=["CYP2D6 is not called from a VCF: copy number and hybrid genes "
                           "cannot be read from small variants; give an outside call"]),
            dict(gene="CYP3A5", diplotype="*3/*3", phenotype="Poor Metabolizer"),
            dict(gene="DPYD", diplotype="Reference/Reference", activity_score=2.0, phenotype="Normal Metabolizer"),
            dict(gene="NUDT15", diplotype="*1/*1", phenotype="Normal Metabolizer"),
            dict(gene="SLCO1B1", diplotype=None, call_status="ambiguous", phenotype="Decreased Function",
                 alternatives=["*1/*15", "*5/*37"]),
            dict(gene="TPMT", diplotype="*1/*3A", phenotype="Intermediate Metabolizer",
                 missing_positions=[18143724]),
            dict(gene="UGT1A1", diplotype="*1/*28", phenotype="Intermediate Metabolizer",
                 novel_variants=["chr2:233760498:G>T"]),
        ],
    )  # fmt: skip


def _rec(drug, genes, phenotypes, action, strength, text, guideline, pmid, url, **kw) -> dict:
    return dict(drug=drug, genes=genes, phenotypes=phenotypes, action=action, strength=strength,
                text=text, guideline=guideline, pmid=pmid, url=url and CPIC + url, **kw)  # fmt: skip


def example_recs(sample_id: str = "NA12878") -> pd.DataFrame:
    c19, c9 = ["CYP2C19: Rapid Metabolizer"], ["CYP2C9: Intermediate Metabolizer (activity score 1.0)"]
    tp = ["TPMT: Intermediate Metabolizer", "NUDT15: Normal Metabolizer"]
    nsaid = ("CPIC guideline for CYP2C9 and NSAIDs", "32189324", "cpic-guideline-for-nsaids-based-on-cyp2c9-genotype/")
    thio = ("CPIC guideline for thiopurines and TPMT/NUDT15", "30447069", "guideline-for-thiopurines-and-tpmt/")
    rows = [
        _rec("clopidogrel", ["CYP2C19"], c19, "standard_dose", "Strong",
             "Use the standard dose: a rapid metabolizer forms the active metabolite normally.",
             "CPIC guideline for clopidogrel and CYP2C19", "35034351", "guideline-for-clopidogrel-and-cyp2c19/"),
        _rec("voriconazole", ["CYP2C19"], c19, "use_alternative", "Moderate",
             "Voriconazole levels are likely to stay below target. Choose an antifungal that does "
             "not depend on CYP2C19.", "CPIC guideline for voriconazole and CYP2C19", "27981572",
             "guideline-for-voriconazole-and-cyp2c19/", alternatives=["isavuconazole", "posaconazole"]),
        _rec("escitalopram", ["CYP2C19"], c19, "consider_alternative", "Moderate",
             "Start at the standard dose; if there is no response, consider a drug not cleared by CYP2C19.",
             "CPIC guideline for SSRIs and CYP2D6, CYP2C19, CYP2B6", "37032427",
             "cpic-guideline-for-ssri-and-snri-antidepressants/"),
        _rec("pantoprazole", ["CYP2C19"], c19, "increase_dose", "Optional",
             "Start at the standard dose; for H. pylori or erosive oesophagitis consider a 50-100% higher dose.",
             "CPIC guideline for proton pump inhibitors and CYP2C19", "32770672",
             "guideline-for-proton-pump-inhibitors-and-cyp2c19/"),
        _rec("celecoxib", ["CYP2C9"], c9, "reduce_dose", "Moderate",
             "Start at the lowest recommended dose and raise it cautiously; watch blood pressure and "
             "kidney function.", *nsaid),
        _rec("meloxicam", ["CYP2C9"], c9, "reduce_dose", "Moderate",
             "Start at half the lowest recommended dose; raise only after steady state (about a week).",
             *nsaid, dose_factor_min=0.5, dose_factor_max=0.5),
        _rec("piroxicam", ["CYP2C9"], c9, "avoid", "Moderate",
             "Long half-life, raised further in this genotype: choose an NSAID not cleared by CYP2C9.", *nsaid),
        _rec("ibuprofen", ["CYP2C9"], c9, "monitor", "Moderate",
             "Start at the lowest recommended dose; monitor for gastrointestinal bleeding and kidney injury.",
             *nsaid),
        _rec("azathioprine", ["NUDT15", "TPMT"], tp, "reduce_dose", "Strong",
             "Start at 30-80% of the normal dose; adjust to myelosuppression, allowing 2-4 weeks "
             "for each dose to reach steady state.", *thio),
        _rec("mercaptopurine", ["NUDT15", "TPMT"], tp, "reduce_dose", "Strong",
             "Start at 30-80% of the normal dose; adjust to myelosuppression.", *thio),
        _rec("tacrolimus", ["CYP3A5"], ["CYP3A5: Poor Metabolizer"], "standard_dose", "Strong",
             "Start at the standard dose and adjust to trough levels.",
             "CPIC guideline for tacrolimus and CYP3A5", "25801146", "guideline-for-tacrolimus-and-cyp3a5/"),
        _rec("efavirenz", ["CYP2B6"], ["CYP2B6: Intermediate Metabolizer"], "reduce_dose", "Optional",
             "Consider starting at 400 mg/day instead of 600 mg/day.",
             "CPIC guideline for efavirenz and CYP2B6", "31006110", "guideline-for-efavirenz-based-on-cyp2b6-genotype/"),
        _rec("capecitabine", ["DPYD"], ["DPYD: Normal Metabolizer (activity score 2.0)"], "standard_dose", "Strong",
             "Use the standard dose.", "CPIC guideline for fluoropyrimidines and DPYD", "29152729",
             "guideline-for-fluoropyrimidines-and-dpyd/"),
        _rec("simvastatin", ["SLCO1B1"], ["SLCO1B1: Decreased Function"], "consider_alternative", "Strong",
             "Higher myopathy risk: prefer another statin, or keep the dose at 20 mg/day or less.",
             "CPIC guideline for statins and SLCO1B1, ABCG2, CYP2C9", "35152405",
             "cpic-guideline-for-statins/"),
        _rec("atazanavir", ["UGT1A1"], ["UGT1A1: Intermediate Metabolizer"], "standard_dose", "Strong",
             "Little risk of jaundice leading to discontinuation; use as usual.",
             "CPIC guideline for atazanavir and UGT1A1", "26417955", "guideline-for-atazanavir-and-ugt1a1/"),
        _rec("irinotecan", ["UGT1A1"], ["UGT1A1: Intermediate Metabolizer"], "standard_dose", None,
             "No dose change is needed for this genotype.", "DPWG guideline for irinotecan and UGT1A1",
             None, None, source="DPWG"),
        _rec("clopidogrel", ["CYP2C19"], c19, "no_recommendation", "No Recommendation",
             "CPIC makes no genotype-based recommendation for clopidogrel with this result (CPIC, No Recommendation).",
             "CPIC guideline for clopidogrel and CYP2C19", "35034351", "guideline-for-clopidogrel-and-cyp2c19/",
             population="CVI non-ACS non-PCI"),
        _rec("codeine", ["CYP2D6"], ["CYP2D6: No Result"], "no_recommendation", None,
             "CYP2D6 was not called, so the guideline gives no genotype-based advice.",
             "CPIC guideline for opioids and CYP2D6, OPRM1, COMT", "33387367", "guideline-for-codeine-and-cyp2d6/"),
        _rec("phenytoin", ["CYP2C9", "HLA-B"], ["CYP2C9: 1.0", "HLA-B: No Result"], "no_guideline_match", None,
             "The guideline needs HLA-B as well; test HLA-B*15:02 before starting.",
             "CPIC guideline for phenytoin and CYP2C9, HLA-B", "32779747",
             "guideline-for-phenytoin-and-cyp2c9-and-hla-b/"),
    ]  # fmt: skip
    return make_recs(sample_id, rows)


def many_recs(sample_id: str, n: int) -> pd.DataFrame:
    actions = list(schema.ACTIONS)
    rows = [
        dict(drug=f"drug{i:03d}", genes=["CYP2C19"], phenotypes=["CYP2C19: Rapid Metabolizer"],
             action=actions[i % len(actions)], strength="Moderate",
             text=f"Recommendation number {i} in our own words, long enough to wrap over two lines "
                  "of the table cell so that page breaks fall inside the table.",
             guideline="CPIC guideline for something", pmid=str(30000000 + i), url=CPIC + f"g{i}/")
        for i in range(n)
    ]  # fmt: skip
    return make_recs(sample_id, rows)


def render(tmp_path: Path, sample_id: str = "NA12878", calls=None, recs=None, provenance=None, name="r.pdf") -> Path:
    calls = example_calls(sample_id) if calls is None else calls
    recs = example_recs(sample_id) if recs is None else recs
    out = tmp_path / name
    return render_report(sample_id, calls, recs, PROVENANCE if provenance is None else provenance, out, "batch-7")


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def squash(text: str) -> str:
    """Text without whitespace, so words that wrapped across lines still match."""
    return "".join(text.split())


def summary_rows(path: Path) -> dict[str, str]:
    """Group key -> the squashed text of its row in the page-1 summary (badge label cut off)."""
    first = squash(PdfReader(path).pages[0].extract_text())
    rest = first.partition(squash("Drug summary"))[2].partition("Page1of")[0]  # the footer ends the page
    rows = {}
    for group, following in zip(GROUPS, [*GROUPS[1:], None]):
        rest = rest.partition(squash(group.label.upper()))[2]
        rows[group.key] = rest.partition(squash(following.label.upper()))[0] if following else rest
    return rows


def rec_row(action: str, phenotypes: list[str] | None, lookup_key: str = "") -> object:
    """One recommendation record, with the fields group_key and no_result_genes read."""
    return report._records(make_recs("S1", [dict(drug="d", genes=["G"], action=action, phenotypes=phenotypes,
                                                 lookup_key=lookup_key)]), schema.RECOMMENDATIONS.names)[0]  # fmt: skip


def fluoropyrimidine_patient() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A patient without DPYD data: the fluoropyrimidines rest on DPYD 'No Result'."""
    calls = make_calls("HG00096", [dict(gene="G6PD", diplotype=None, call_status="called", phenotype="Indeterminate")])
    dpyd = dict(
        genes=["DPYD"],
        phenotypes=["DPYD: No Result"],
        lookup_key="DPYD=No Result",
        action="no_guideline_match",
        text="No guideline row for DPYD No Result.",
    )
    recs = make_recs("HG00096", [
        dict(drug="capecitabine", source="CPIC", guideline="CPIC guideline for fluoropyrimidines", **dpyd),
        dict(drug="capecitabine", source="DPWG", guideline="DPWG guideline for capecitabine", **dpyd),
        dict(drug="fluorouracil", source="CPIC", guideline="CPIC guideline for fluoropyrimidines", **dpyd),
        dict(drug="ciprofloxacin", genes=["G6PD"], phenotypes=["G6PD: Indeterminate"], action="no_recommendation",
             text="CPIC makes no genotype-based recommendation for ciprofloxacin with this result.",
             guideline="CPIC guideline for G6PD"),
    ])  # fmt: skip
    return calls, recs


# --- tests --------------------------------------------------------------------------


def test_every_action_has_a_group():
    assert set(ACTION_GROUPS) == set(schema.ACTIONS)
    assert set(ACTION_GROUPS.values()) | {"untested", "depends"} == {g.key for g in GROUPS}


def test_untested_group_sits_after_monitor_and_assess_before_usual_in_its_own_colour():
    keys = [g.key for g in GROUPS]
    assert keys.index("monitor") + 2 == keys.index("assess") + 1 == keys.index("untested") == keys.index("usual") - 1
    untested = report._GROUP_BY_KEY["untested"]
    assert all(untested.colour != g.colour and untested.tint != g.tint for g in GROUPS if g is not untested)


@pytest.mark.parametrize(
    ("action", "phenotypes", "lookup_key", "group", "genes"),
    [
        ("no_guideline_match", ["DPYD: No Result"], "DPYD=No Result", "untested", ["DPYD"]),
        ("no_recommendation", None, "DPYD=No Result", "untested", ["DPYD"]),  # from the key alone
        ("no_recommendation", ["CYP2C9: 1.0", "HLA-B: No Result"], "", "untested", ["HLA-B"]),
        ("no_recommendation", ["G6PD: Indeterminate"], "G6PD=Indeterminate", "none", []),  # a result, no advice
        ("no_guideline_match", ["CYP2C19: Rapid Metabolizer"], "", "none", []),
        ("avoid", ["CYP2C9: 1.0", "HLA-B: No Result"], "CYP2C9=1.0;HLA-B=No Result", "avoid", ["HLA-B"]),
        ("standard_dose", ["CYP2C19: Normal Metabolizer", "CYP2D6: No Result"], "", "usual", ["CYP2D6"]),
        ("monitor", ["HLA-B: *58:01 negative"], "HLA-B=*58:01 negative", "monitor", []),
    ],
)
def test_group_key_moves_only_advice_less_rows_on_a_gene_without_result(action, phenotypes, lookup_key, group, genes):
    row = rec_row(action, phenotypes, lookup_key)
    assert group_key(row) == group
    assert no_result_genes(row) == genes


def test_untested_gene_is_not_assessed_on_page_one_not_no_guideline(tmp_path):
    calls, recs = fluoropyrimidine_patient()
    path = render(tmp_path, sample_id="HG00096", calls=calls, recs=recs)
    rows = summary_rows(path)
    assert "capecitabine(DPYD)" in rows["untested"] and "fluorouracil(DPYD)" in rows["untested"]
    assert rows["none"] == "ciprofloxacin"  # a real no-recommendation row stays
    assert rows["usual"] == "none"
    # later pages: a table of the drugs not assessed, naming the gene; the "none" table only has the real one
    rest = squash("\n".join(p.extract_text() for p in PdfReader(path).pages[1:]))
    before, _, untested = rest.partition(squash("Not assessed: a gene the drug needs has no result"))
    untested, _, none = untested.partition(squash("No guideline for this result"))
    none = none.partition(squash("What could not be called"))[0]
    assert "capecitabine" not in before and "ciprofloxacin" not in before
    assert squash("2 drug(s), 3 row(s). No result for DPYD") in untested
    assert squash("unknown, not absent") in untested and squash("capecitabine [1, 2]") in untested
    assert squash("[2] DPWG guideline for capecitabine") in rest  # cited by number, listed once
    assert "ciprofloxacin" not in untested
    assert "ciprofloxacin" in none and "capecitabine" not in none and "fluorouracil" not in none
    assert squash("Every gene these drugs need has a result") in none


def test_drug_with_untested_and_real_rows_is_listed_once_in_the_most_urgent_group(tmp_path):
    calls, recs = fluoropyrimidine_patient()
    extra = make_recs("HG00096", [
        dict(drug="fluorouracil", source="DPWG", genes=["DPYD"], phenotypes=["DPYD: No Result"],
             action="standard_dose", text="Use fluorouracil at the usual dose (DPWG).", guideline="DPWG 5-FU"),
        dict(drug="phenytoin", genes=["CYP2C9", "HLA-B"], phenotypes=["CYP2C9: 1.0", "HLA-B: No Result"],
             action="avoid", text="Avoid.", guideline="CPIC phenytoin"),
        dict(drug="phenytoin", source="DPWG", genes=["HLA-B"], phenotypes=["HLA-B: No Result"],
             action="no_guideline_match", text="No row.", guideline="DPWG phenytoin"),
    ])  # fmt: skip
    path = render(tmp_path, sample_id="HG00096", calls=calls, recs=pd.concat([recs, extra], ignore_index=True))
    rows = summary_rows(path)
    assert "fluorouracil(DPYD)" in rows["untested"] and "fluorouracil" not in rows["usual"]
    assert "phenytoin" in rows["avoid"] and "phenytoin" not in rows["untested"]
    first = squash(PdfReader(path).pages[0].extract_text())
    assert first.count("fluorouracil") == 1 and first.count("phenytoin") == 1


def test_report_names_sample_diplotypes_drugs_groups_and_kb_version(tmp_path):
    path = render(tmp_path)
    assert path == tmp_path / "r.pdf"
    text = pdf_text(path)
    flat = squash(text)
    for needle in ["NA12878", "batch-7", KB, "2025-06-10", "*1/*17", "*1/*3", "*1/*3A", "*3/*3",
                   "clopidogrel", "voriconazole", "celecoxib", "azathioprine", "35034351",
                   "Rapid Metabolizer", "isavuconazole"]:  # fmt: skip
        assert needle in text, needle
    for group in GROUPS:
        assert squash(group.label.upper()) in flat, group.label
    # ambiguous calls list every alternative; no_call shows its reason
    assert "*1/*15" in text and "*5/*37" in text
    assert squash("copy number and hybrid genes") in flat
    # what could not be called (positions counted, listed in the tables), methods, limitations, provenance
    assert squash("TPMT: 1 position(s) missing from the input") in flat and "18143724" not in text
    assert "chr2:233760498:G>T" in text
    assert "HLA-B" in text
    assert squash(PROVENANCE["input_sha256"]) in flat
    for heading in [
        "What to change, and why",
        "Genotypes",
        "References",
        "Appendix: details for the record",
        "What could not be called and why",
        "Methods",
        "Limitations",
    ]:
        assert heading in text


def test_recommendation_rows_show_population_partial_genotype_and_guideline_wording(tmp_path):
    recs = example_recs()
    recs.loc[recs["drug"] == "tacrolimus", "population"] = "transplant recipients"
    recs.loc[recs["drug"] == "meloxicam", "text"] = None  # the dose factor shows when there is no text
    recs["verbatim_text"] = None  # present only with a user's own CPIC export (pgx.overlay)
    recs.loc[recs["drug"] == "clopidogrel", "verbatim_text"] = "Use label-recommended dosage."
    flat = squash(pdf_text(render(tmp_path, recs=recs)))
    assert squash("Population: transplant recipients") in flat
    assert squash("Rests on part of the genotype: no result for HLA-B") in flat  # phenytoin
    assert squash("Guideline wording: Use label-recommended dosage.") in flat
    assert squash("Dose factor: 0.5") in flat  # in the appendix's full text
    assert squash("use another drug, e.g. isavuconazole, posaconazole") in flat  # page 2, from the structured fields
    assert squash("lower dose (50% of the usual dose)") in flat


def test_page_one_holds_the_summary_and_page_two_what_to_change_and_the_genotypes(tmp_path):
    reader = PdfReader(render(tmp_path))
    first, second = reader.pages[0].extract_text(), squash(reader.pages[1].extract_text())
    assert "Pharmacogenomic test report" in first
    assert "AVOID" in first and "piroxicam" in first
    assert second.startswith(squash("What to change, and why"))
    # one plain-language line per gene result that changes a prescription, then its drugs
    assert squash("CYP2C9 Intermediate Metabolizer (activity score 1.0): reduced CYP2C9 enzyme activity. 4 drugs:") in second
    assert squash("piroxicam – avoid (CPIC moderate) [1]") in second
    assert squash("CYP2C19 Rapid Metabolizer: increased CYP2C19 enzyme activity. 3 drugs:") in second
    assert "clopidogrel" not in second.partition("Genotypes")[0]  # usual dose: not on page 2
    genotypes = second.partition("Genotypes")[2]
    assert "*1/*17" in genotypes and squash("Poor Metabolizer little or no CYP3A5 enzyme activity") in genotypes
    assert "Appendix" not in second


def test_summary_lists_a_drug_once_under_its_most_cautious_group(tmp_path):
    extra = make_recs("NA12878", [dict(drug="piroxicam", genes=["CYP2C9"], action="standard_dose", source="DPWG",
                                       text="No action needed.", guideline="DPWG guideline for piroxicam")])  # fmt: skip
    reader = PdfReader(render(tmp_path, recs=pd.concat([example_recs(), extra], ignore_index=True)))
    assert reader.pages[0].extract_text().count("piroxicam") == 1  # under AVOID only
    rest = "\n".join(p.extract_text() for p in reader.pages[1:])
    assert "DPWG guideline for piroxicam" in rest  # both rows are in the details


def test_appendix_full_rows_only_for_changes_and_grouped_tables_for_the_rest(tmp_path):
    reader = PdfReader(render(tmp_path))
    rest = "\n".join(p.extract_text() for p in reader.pages[1:])
    appendix = rest.partition("Appendix: details for the record")[2]
    full, _, after = appendix.partition("Not assessed: a gene the drug needs has no result")
    untested, _, after = after.partition("Use as usual")
    usual, _, none = after.partition("No guideline for this result")
    none = none.partition("What could not be called and why")[0]
    for drug in ["voriconazole", "celecoxib", "piroxicam", "ibuprofen", "azathioprine", "simvastatin"]:
        assert drug in full, drug
    for drug in ["clopidogrel", "tacrolimus", "capecitabine", "atazanavir", "irinotecan"]:
        assert drug not in full and drug in usual, drug
    assert "codeine" in untested and "phenytoin" in untested  # CYP2D6, HLA-B: no result
    assert "codeine" not in none and "phenytoin" not in none and "clopidogrel" in none
    assert squash("Little risk of jaundice") in squash(usual)  # text beyond "use the usual dose" stays
    # drugs resting on the same gene results share one row: the basis is printed once
    assert squash("UGT1A1: Intermediate Metabolizer atazanavir [") in squash(usual)
    assert squash(usual).count(squash("UGT1A1: Intermediate Metabolizer")) == 1


def test_cpic_and_dpwg_rows_with_one_action_share_a_row_citing_both(tmp_path):
    rows = [
        dict(drug="amitriptyline", genes=["CYP2D6"], phenotypes=["CYP2D6: Intermediate Metabolizer"],
             action="reduce_dose", strength="Optional", source="CPIC", guideline="CYP2D6 and TCAs", pmid="27997040",
             text="Start amitriptyline at about 75% of the usual dose (CPIC, Optional)."),
        dict(drug="amitriptyline", genes=["CYP2D6"], phenotypes=["CYP2D6: Intermediate Metabolizer"],
             action="reduce_dose", strength="N/A", source="DPWG", population=None, pmid="21412232",
             guideline="Annotation of DPWG Guideline for amitriptyline and CYP2D6",
             text="Start amitriptyline at about 75% of the usual dose (DPWG)."),
    ]  # fmt: skip
    flat = squash(pdf_text(render(tmp_path, recs=make_recs("NA12878", rows))))
    assert flat.count(squash("Start amitriptyline at about 75% of the usual dose")) == 1
    assert squash("(CPIC, Optional; DPWG)") in flat
    assert "27997040" in flat and "21412232" in flat
    # page 2: one line for the drug, both sources with their strengths and both references
    assert squash("amitriptyline – lower dose (CPIC optional, DPWG) [1, 2]") in flat and flat.count("lowerdose") == 1
    assert flat.count("27997040") == 1  # a PMID is printed once, in the reference list


def test_absent_positions_are_counted_per_gene_with_a_pointer_to_the_tables(tmp_path):
    calls = example_calls()
    calls.at[8, "missing_positions"] = list(range(18130000, 18130040))
    flat = squash(pdf_text(render(tmp_path, calls=calls)))
    assert (
        squash(
            "TPMT: 40 position(s) missing from the input, not used. The positions are listed in the calls table (calls.parquet)."
        )
        in flat
    )
    assert "18130000" not in flat and "18130039" not in flat


def test_footer_on_every_page_says_page_x_of_y(tmp_path):
    reader = PdfReader(render(tmp_path))
    n = len(reader.pages)
    assert 2 <= n <= 5
    for i, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert f"Page {i} of {n}" in text
        assert "Sample NA12878" in text


@pytest.mark.parametrize(
    "sample_id",
    ["Zoë-患者", "<b>&\"'</b>", "A" * 300, "x y " * 75, "tab\there\nnew\x00line", "한국어-𝔘-🧬-ok"],
    ids=["unicode", "markup", "long", "long_words", "control", "hangul_emoji"],
)
def test_any_sample_id_renders_and_appears(tmp_path, sample_id):
    path = render(tmp_path, sample_id=sample_id)
    first = PdfReader(path).pages[0].extract_text()
    visible = sample_id.replace("\t", " ").replace("\n", " ").replace("\x00", "[U+0000]")
    visible = visible.replace("🧬", "[U+1F9EC]").replace("𝔘", "[U+1D518]")
    assert squash(visible) in squash(first)


@pytest.fixture
def without_dejavu(monkeypatch):
    """Render as on a machine without DejaVu Sans: Helvetica and its cp1252 repertoire."""

    def reset():  # every per-process cache of the report modules: they hold laid-out text in the old fonts
        for name, module in list(sys.modules.items()):
            if name == "pgx.report" or name.startswith("pgx.report_"):
                for value in vars(module).values():
                    if callable(getattr(value, "cache_clear", None)):
                        value.cache_clear()
        report_pdftext._CELL_OPS.clear()
        report_layout._RICH_OPS.clear()

    monkeypatch.setattr(report_layout, "_find_dejavu", lambda: None)
    reset()
    yield
    monkeypatch.undo()
    reset()


def test_helvetica_fallback_replaces_what_it_cannot_draw(tmp_path, without_dejavu):
    assert report_layout._fonts().regular == "Helvetica"
    first = PdfReader(render(tmp_path, sample_id="Zoë-Ωmega-患者 ≥1")).pages[0].extract_text()
    assert squash("Zoë-[U+03A9]mega-患者 >=1") in squash(first)


def test_text_runs_pick_a_font_per_character():
    regular = report_layout._fonts().regular
    assert report_layout._fit_runs("ab患者cd", 8, 1000) == [(regular, "ab"), ("STSong-Light", "患者"), (regular, "cd")]
    assert report_layout._markup("<b>&\"'") == "&lt;b&gt;&amp;&quot;&#39;"
    assert report_layout._markup("a\x00b\tc") == "a[U+0000]b c"
    fitted = report_layout._fit_runs("X" * 300, 8, 100)
    assert fitted[-1][1] in ("\u2026", "...") and sum(len(t) for _, t in fitted) < 40


def test_wrap_words_breaks_at_spaces_and_inside_long_words():
    font = report_layout._fonts().regular
    assert report_layout._wrap_words("one two three", font, 8, 1000) == ["one two three"]
    lines = report_layout._wrap_words("see https://cpicpgx.org/guidelines/guideline-for-clopidogrel-and-cyp2c19/", font, 7, 100)
    assert "".join(lines[1:]) == "https://cpicpgx.org/guidelines/guideline-for-clopidogrel-and-cyp2c19/"
    assert all(stringWidth(line, font, 7) <= 100 for line in lines)
    assert lines[1].endswith("/")  # URLs break after a slash or hyphen when they can


def test_huge_texts_are_shortened_not_fatal(tmp_path):
    recs = example_recs()
    recs.loc[0, "text"] = "word " * 3000
    recs.loc[1, "drug"] = "x" * 400
    text = pdf_text(render(tmp_path, recs=recs))
    assert "shortened" in text


def test_guideline_urls_are_clickable_and_only_http(tmp_path):
    recs = example_recs()
    recs.loc[recs["drug"] == "celecoxib", "url"] = "javascript:alert(1)"
    uris = {
        annot.get_object()["/A"]["/URI"]
        for page in PdfReader(render(tmp_path, recs=recs)).pages
        for annot in page.get("/Annots", [])
    }
    assert CPIC + "guideline-for-clopidogrel-and-cyp2c19/" in uris
    assert all(u.startswith("https://") for u in uris)


def test_markup_in_data_is_shown_not_interpreted(tmp_path):
    recs = example_recs()
    recs.loc[0, "text"] = 'Use <i>less</i> & "more" <font name=Nope>x</font>'
    recs.loc[0, "url"] = 'javascript:alert("x")'
    text = pdf_text(render(tmp_path, recs=recs))
    assert squash('Use <i>less</i> & "more" <font name=Nope>x</font>') in squash(text)
    assert 'javascript:alert("x")' in text


def test_zero_recommendations(tmp_path):
    recs = make_recs("NA12878", [])
    text = pdf_text(render(tmp_path, recs=recs))
    assert "No drug has a genotype-based recommendation" in text
    assert "none" in text


def test_no_calls_and_no_recommendations(tmp_path):
    text = pdf_text(render(tmp_path, calls=make_calls("S1", []), recs=make_recs("S1", []), sample_id="S1"))
    assert "No genes were called for this sample." in text


def test_150_recommendations_span_pages_with_repeated_header(tmp_path):
    reader = PdfReader(render(tmp_path, recs=many_recs("NA12878", 150)))
    assert len(reader.pages) >= 4
    text = "\n".join(p.extract_text() for p in reader.pages)
    with_header = [p for p in reader.pages[2:] if "Recommendation in full" in p.extract_text()]
    assert len(with_header) >= 2  # the table's header row is repeated on continuation pages
    for i in range(150):  # every row is somewhere: full rows, "Use as usual" or "No guideline"
        assert f"drug{i:03d}" in text


def test_150_actionable_rows_keep_the_answer_on_page_one_with_a_pointer_where_it_continues(tmp_path):
    actions = ["avoid", "use_alternative", "consider_alternative", "reduce_dose", "increase_dose", "monitor", "assess_further"]
    rows = [dict(drug=f"drug{i:03d}", genes=["CYP2C19", "CYP2D6", "SLCO1B1"], action=actions[i % len(actions)],
                 phenotypes=["CYP2C19: Poor Metabolizer", "CYP2D6: Poor Metabolizer", "SLCO1B1: Poor Function"],
                 strength="Strong", text=f"Advice {i}.", guideline="CPIC guideline", url=CPIC)
            for i in range(150)]  # fmt: skip
    reader = PdfReader(render(tmp_path, recs=make_recs("NA12878", rows)))
    first = reader.pages[0].extract_text()
    assert "Page 1 of" in first and all(g.label.upper().split()[0] in first for g in GROUPS)
    flat = squash(first)
    more = [int(n) for n in re.findall(r"and(\d+)more:see'Whattochange,andwhy'frompage2", flat)]
    shown = set(re.findall(r"drug\d{3}", flat))
    assert more and len(shown) + sum(more) == 150  # every drug is on page 1 or counted in its pointer
    rest = "\n".join(p.extract_text() for p in reader.pages[1:])
    assert all(f"drug{i:03d}" in rest for i in range(150))
    assert squash("CYP2C19 Poor Metabolizer and CYP2D6 Poor Metabolizer and SLCO1B1 Poor Function") in squash(rest)


def test_list_columns_as_numpy_arrays(tmp_path):
    calls, recs = example_calls(), example_recs()
    for df, cols in ((calls, ["alternatives", "missing_positions", "novel_variants", "warnings"]),
                     (recs, ["genes", "phenotypes", "alternatives"])):  # fmt: skip
        for col in cols:
            df[col] = [np.asarray(v) for v in df[col]]
    recs["action"] = recs["action"].astype("category")
    text = pdf_text(render(tmp_path, calls=calls, recs=recs))
    assert "*5/*37" in text and "chr2:233760498:G>T" in text and "isavuconazole" in text


def test_assumed_reference_positions_are_reported(tmp_path):
    calls = example_calls()
    calls.at[2, "assumed_reference_positions"] = [94942290, 94949281]
    provenance = {**PROVENANCE, "options": "assume_reference=true"}
    flat = squash(pdf_text(render(tmp_path, calls=calls, provenance=provenance)))
    assert squash("CYP2C9: 2 position(s) absent from the input assumed to be reference") in flat
    assert "94942290" not in flat  # counted here, listed in the calls table


def test_pipeline_style_provenance_keys(tmp_path):
    """pgx.pipeline writes prefixed keys: kb_source:<path>, input_sha256:<file>, option:<name>."""
    provenance = {
        "batch": "demo", "pipeline_version": "0.1.0", "kb_version": KB, "genome_build": "GRCh38",
        "n_samples": "12",
        "kb_source:pharmcat/alleles/CYP2C19_translation.json": "2025-06-10 sha256:" + "a" * 64,
        "kb_source:cpic/recommendation.json": "v1.30 sha256:" + "b" * 64,
        "input_sha256:simulated.vcf.gz": "c" * 64,
        "option:assume_reference": "true",
    }  # fmt: skip
    text = pdf_text(render(tmp_path, provenance=provenance))
    flat = squash(text)
    assert squash("2 source files; data versions 2025-06-10, v1.30") in flat
    assert "a" * 64 not in flat  # per-file KB checksums stay in the provenance table
    assert squash("simulated.vcf.gz: " + "c" * 64) in flat
    assert "assume_reference=true" in flat and squash("no position needed it") in flat
    assert "Pipeline" in text and "Report date" not in text  # no date recorded: none printed


def test_unknown_action_is_refused(tmp_path):
    recs = example_recs()
    recs.loc[0, "action"] = "half_dose"
    with pytest.raises(ValueError, match="half_dose"):
        render(tmp_path, recs=recs)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "reports"
    render_report("S1", example_calls("S1"), example_recs("S1"), PROVENANCE, out / "S1.pdf", "b")
    assert [p.name for p in out.iterdir()] == ["S1.pdf"]
    assert (out / "S1.pdf").read_bytes().startswith(b"%PDF-")


def test_failed_write_keeps_the_old_report_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "S1.pdf"
    out.write_bytes(b"old report")

    def interrupted(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", interrupted)  # the one atomic writer, pgx.outputs.atomic_path
    with pytest.raises(OSError, match="disk full"):
        render_report("S1", example_calls("S1"), example_recs("S1"), PROVENANCE, out, "b")
    assert out.read_bytes() == b"old report"
    assert [p.name for p in tmp_path.iterdir()] == ["S1.pdf"]


def test_rerun_gives_identical_bytes_and_date_from_provenance(tmp_path):
    a = render(tmp_path, name="a.pdf").read_bytes()
    b = render(tmp_path, name="b.pdf").read_bytes()
    assert a == b
    assert b"D:20250701093000+00'00'" in a
    other = render(tmp_path, provenance={**PROVENANCE, "created": "2026-01-02T03:04:05"}, name="c.pdf")
    assert b"D:20260102030405+00'00'" in other.read_bytes()
    assert "Report date" in pdf_text(other) and "2026-01-02" in pdf_text(other)


def test_identical_bytes_in_another_process(tmp_path):
    """No set or dict order leaks into the file: another hash seed gives the same bytes."""
    here = render(tmp_path, sample_id="Zoë-患者", name="here.pdf").read_bytes()
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import test_report as t; "
        "t.render(Path(sys.argv[2]), sample_id='Zoë-患者', name='there.pdf')"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), str(tmp_path)], check=True, env=env)
    assert (tmp_path / "there.pdf").read_bytes() == here


def test_render_batch_reports_same_bytes_with_any_number_of_workers(tmp_path):
    from pgx.pipeline import render_batch_reports
    from pgx.sample_ids import report_file_names
    from tests.conftest import commit_tables

    ids = ["S1", "S2", "Zoë-患者"]
    prov = pd.DataFrame(sorted({**PROVENANCE, "batch": "b1"}.items()), columns=["key", "value"])
    commit_tables(tmp_path, {
        "calls": pd.concat([example_calls(i) for i in ids], ignore_index=True),
        "recommendations": pd.concat([example_recs(i) for i in ids[:2]], ignore_index=True),
        "provenance": prov,
    })  # fmt: skip
    one = render_batch_reports(tmp_path, tmp_path / "one", workers=1)
    two = render_batch_reports(tmp_path, tmp_path / "two", workers=2)
    names = report_file_names(ids)
    assert [p.name for p in one] == [p.name for p in two] == [names[i] for i in ids]
    assert names["S1"] == "S1.pdf" and names["Zoë-患者"].startswith("Zoe-")
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert "isavuconazole" in pdf_text(two[1]) and "No drug has a genotype-based" in pdf_text(two[2])


def _nonwhite_fraction(pgm: bytes) -> float:
    """Share of pixels darker than near-white in a binary PGM (P5, 8-bit) image."""
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval; '#' comments allowed
        while pgm[pos : pos + 1].isspace():
            pos += 1
        if pgm[pos : pos + 1] == b"#":
            pos = pgm.index(b"\n", pos)
            continue
        end = pos
        while not pgm[end : end + 1].isspace():
            end += 1
        fields.append(pgm[pos:end])
        pos = end
    assert fields[0] == b"P5" and fields[3] == b"255"
    width, height = int(fields[1]), int(fields[2])
    pixels = pgm[pos + 1 : pos + 1 + width * height]
    assert len(pixels) == width * height
    return sum(1 for v in pixels if v < 240) / len(pixels)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_page_one_renders_to_a_non_trivial_image(tmp_path):
    pdf = render(tmp_path)
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "50", "-gray", "-singlefile", str(pdf),
                    str(tmp_path / "p1")], check=True)  # fmt: skip
    pgm = (tmp_path / "p1.pgm").read_bytes()
    assert len(pgm) > 100_000  # A4 at 50 dpi is ~413 x 585 pixels
    assert 0.03 < _nonwhite_fraction(pgm) < 0.6  # text and coloured badges, not blank, not black
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "60", "-png", "-singlefile", str(pdf),
                    str(tmp_path / "p1")], check=True)  # fmt: skip
    png = (tmp_path / "p1.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


# --- script: docs image and timing --------------------------------------------------


def _write_docs_image(out_dir: Path, tmp: Path) -> Path:
    pdf = render_report("NA12878", example_calls(), example_recs(), PROVENANCE, tmp / "NA12878.pdf", "batch-7")
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "110", "-png", "-singlefile", str(pdf),
                    str(out_dir / "report_page1")], check=True)  # fmt: skip
    return out_dir / "report_page1.png"


def _bench(n: int, tmp: Path, recs: pd.DataFrame) -> tuple[float, float]:
    """Median wall and CPU milliseconds per render_report call over n calls (after a warm-up)."""
    calls = example_calls()
    render_report("NA12878", calls, recs, PROVENANCE, tmp / "warm.pdf", "b")
    wall, cpu = [], []
    for i in range(n):
        w, c = time.perf_counter(), time.process_time()
        render_report("NA12878", calls, recs, PROVENANCE, tmp / f"s{i % 10}.pdf", "b")
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return sorted(wall)[n // 2] * 1000, sorted(cpu)[n // 2] * 1000


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "--docs" in sys.argv:
            print(_write_docs_image(Path(__file__).resolve().parents[1] / "docs", tmp))
        if "--bench" in sys.argv:
            n = int(sys.argv[sys.argv.index("--bench") + 1])
            for label, recs in [("typical (10 genes, 18 recommendations)", example_recs()),
                                ("150 recommendations", many_recs("NA12878", 150))]:  # fmt: skip
                wall, cpu = _bench(n, tmp, recs)
                print(f"{label}: median {wall:.1f} ms wall, {cpu:.1f} ms CPU per PDF over {n} renders")


def test_usual_advice_given_without_a_genes_result_says_so_on_page_one(tmp_path):
    calls, recs = fluoropyrimidine_patient()
    extra = make_recs("HG00096", [
        dict(drug="fosphenytoin", genes=["CYP2C9", "HLA-B"], phenotypes=["CYP2C9: 2.0", "HLA-B: No Result"],
             lookup_key="CYP2C9=2.0;HLA-B=No Result", action="standard_dose", text="Usual dose.", guideline="CPIC"),
    ])  # fmt: skip
    path = render(tmp_path, sample_id="HG00096", calls=calls, recs=pd.concat([recs, extra], ignore_index=True))
    assert squash("fosphenytoin (CYP2C9, HLA-B: no result)") in summary_rows(path)["usual"]


# --- issue 14: two pages carry the answer; paper size; appendix left out; all no-calls ---------


def all_no_call_patient() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every gene a no-call: each drug's lookup is 'No Result'."""
    genes = ["CYP2C19", "CYP2C9", "CYP2D6", "DPYD", "SLCO1B1", "TPMT"]
    calls = make_calls("NC1", [dict(gene=g, diplotype=None, call_status="no_call", reason_codes=["gene_not_covered"],
                                    warnings=[f"no {g} position present in the input"]) for g in genes])  # fmt: skip
    drugs = {"clopidogrel": "CYP2C19", "celecoxib": "CYP2C9", "codeine": "CYP2D6", "capecitabine": "DPYD",
             "simvastatin": "SLCO1B1", "azathioprine": "TPMT"}  # fmt: skip
    recs = make_recs("NC1", [dict(drug=d, genes=[g], phenotypes=[f"{g}: No Result"], lookup_key=f"{g}=No Result",
                                  action="no_guideline_match", text=f"No guideline row for {g} No Result.",
                                  guideline=f"CPIC guideline for {d}", url=CPIC) for d, g in drugs.items()])  # fmt: skip
    return calls, recs


def test_every_gene_a_no_call_gives_a_short_correct_report(tmp_path):
    calls, recs = all_no_call_patient()
    reader = PdfReader(render(tmp_path, sample_id="NC1", calls=calls, recs=recs))
    assert len(reader.pages) <= 4  # the answer on two pages, the appendix on at most two more
    answer = render_report("NC1", calls, recs, PROVENANCE, tmp_path / "answer.pdf", "b", appendix=False)
    assert len(PdfReader(answer).pages) == 2
    rows = summary_rows(tmp_path / "r.pdf")
    for drug, gene in [("clopidogrel", "CYP2C19"), ("capecitabine", "DPYD"), ("azathioprine", "TPMT")]:
        assert f"{drug}({gene})" in rows["untested"]
    assert all(rows[k] == "none" for k in ("avoid", "alternative", "adjust", "monitor", "usual"))
    second = squash(reader.pages[1].extract_text())
    assert squash("No drug has a genotype-based recommendation that changes its use") in second
    genotypes = second.partition("Genotypes")[2]
    assert genotypes.count("Nocall") == 6 and squash("no DPYD position present in the input") in genotypes
    rest = squash(pdf_text(tmp_path / "r.pdf"))
    assert squash("No result for CPIC") not in rest and squash("No result for CYP2C19, CYP2C9, CYP2D6, DPYD") in rest


def test_paper_size_is_a_setting_and_the_text_block_is_the_same(tmp_path):
    a4 = PdfReader(render_report("NA12878", example_calls(), example_recs(), PROVENANCE, tmp_path / "a4.pdf", "b"))
    letter = PdfReader(render_report("NA12878", example_calls(), example_recs(), PROVENANCE, tmp_path / "l.pdf", "b",
                                     paper="letter"))  # fmt: skip
    assert [round(float(x)) for x in a4.pages[0].mediabox[2:]] == [595, 842]
    assert [round(float(x)) for x in letter.pages[0].mediabox[2:]] == [612, 792]
    assert squash(a4.pages[0].extract_text()).replace("Page1of", "") [:400] == \
        squash(letter.pages[0].extract_text()).replace("Page1of", "")[:400]  # fmt: skip
    with pytest.raises(ValueError, match="paper size"):
        render_report("NA12878", example_calls(), example_recs(), PROVENANCE, tmp_path / "x.pdf", "b", paper="A5")


def test_appendix_can_be_left_out(tmp_path):
    full = PdfReader(render(tmp_path))
    short_path = render_report("NA12878", example_calls(), example_recs(), PROVENANCE, tmp_path / "short.pdf",
                               "batch-7", appendix=False)  # fmt: skip
    short = PdfReader(short_path)
    assert len(short.pages) < len(full.pages)
    text = pdf_text(short_path)
    assert "Appendix" not in text and "Methods" not in text and "was left out of this copy" in text
    # the answer stays whole: summary, what to change, genotypes and the references it cites
    flat = squash(text)
    assert squash("What to change, and why") in flat and "Genotypes" in text and "*1/*17" in text
    cited = set(re.findall(r"\[(\d+)\]", text.partition("References")[0]))
    listed = set(re.findall(r"^\[(\d+)\]", text.partition("References")[2], flags=re.MULTILINE))
    assert cited and cited <= listed


@pytest.mark.parametrize(
    ("phenotype", "words"),
    [("Intermediate Metabolizer", "reduced CYP2C19 enzyme activity"),
     ("Likely Poor Metabolizer", "probably little or no CYP2C19 enzyme activity"),
     ("Decreased Function", "reduced CYP2C19 function"),
     ("Intermediate Metabolizer (activity score 1.0)", "reduced CYP2C19 enzyme activity"),
     ("Indeterminate", "the result cannot be interpreted; treat it as unknown"),
     ("ivacaftor non-responsive in CF patients", "")],
)  # fmt: skip
def test_plain_phenotype_follows_the_vocabulary_not_the_gene(phenotype, words):
    assert report.plain_phenotype("CYP2C19", phenotype) == words


def _ppm_colours(ppm: bytes) -> set[tuple[int, int, int]]:
    """The distinct colours of a binary PPM (P6, 8-bit) image."""
    fields, pos = [], 0
    while len(fields) < 4:
        while ppm[pos : pos + 1].isspace():
            pos += 1
        end = pos
        while not ppm[end : end + 1].isspace():
            end += 1
        fields.append(ppm[pos:end])
        pos = end
    assert fields[0] == b"P6" and fields[3] == b"255"
    data = ppm[pos + 1 :]
    return {tuple(data[i : i + 3]) for i in range(0, len(data) - 2, 3)}


def _near(colours: set, hex_colour: str, tolerance: int = 6) -> bool:
    target = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return any(all(abs(a - b) <= tolerance for a, b in zip(c, target)) for c in colours)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
@pytest.mark.parametrize("paper", ["A4", "letter"])
def test_pages_one_and_two_render_with_the_summary_colours(tmp_path, paper):
    pdf = render_report("NA12878", example_calls(), example_recs(), PROVENANCE, tmp_path / "r.pdf", "b", paper=paper)
    for page in (1, 2):
        subprocess.run(["pdftoppm", "-f", str(page), "-l", str(page), "-r", "40", "-png", "-singlefile", str(pdf),
                        str(tmp_path / f"p{page}")], check=True)  # fmt: skip
        assert (tmp_path / f"p{page}.png").read_bytes().startswith(b"\x89PNG")
        subprocess.run(["pdftoppm", "-f", str(page), "-l", str(page), "-r", "40", "-singlefile", str(pdf),
                        str(tmp_path / f"p{page}")], check=True)  # fmt: skip
    first, second = (_ppm_colours((tmp_path / f"p{n}.ppm").read_bytes()) for n in (1, 2))
    hexes = {g.key: "#" + g.colour.hexval()[2:].upper() for g in GROUPS}
    # page 1: every group's badge is drawn in its colour
    assert all(_near(first, hexes[g.key]) for g in GROUPS)
    # page 2: the advice of the avoid, alternative, adjust and monitor drugs is written in its group's colour
    assert all(_near(second, hexes[k], 40) for k in ("avoid", "alternative", "adjust", "monitor"))
    assert not _near(second, hexes["untested"], 10)  # no badge: not-assessed drugs are not on page 2


def test_reports_keep_the_collector_off_long_lived_objects_and_restore_it():
    import gc

    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with report.long_lived_frozen():
        inside = gc.get_threshold()
        assert inside[0] >= 20_000 and gc.get_freeze_count() > frozen
        with report.long_lived_frozen():  # nested: the outer block's settings stand
            assert gc.get_threshold() == inside
        assert gc.get_threshold() == inside
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
    with pytest.raises(RuntimeError), report.long_lived_frozen():
        raise RuntimeError("a failed report")
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def test_a_process_that_froze_objects_itself_keeps_them_frozen():
    import gc

    gc.freeze()
    try:
        frozen, before = gc.get_freeze_count(), gc.get_threshold()
        with report.long_lived_frozen():
            assert gc.get_freeze_count() == frozen  # nothing more frozen: the caller manages that
            assert gc.get_threshold()[0] >= 20_000
        assert gc.get_freeze_count() == frozen and gc.get_threshold() == before
    finally:
        gc.unfreeze()
