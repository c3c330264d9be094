"""Legacy allele names: the KB's legacy_alleles table, its build checks, translating truth
diplotypes into current names, and scoring truth rows written in them (exact, legacy-aware
exact, function), on hand-made truth rows and simulated calls."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from pgx.cli import main
from pgx.errors import KnowledgeBaseError
from pgx.kb import load_kb, validate
from pgx.kb_build.legacy import LEGACY_NAMES, LegacyName, check_legacy_name, legacy_allele_rows
from pgx.kb_build.sources import SourceReader
from pgx.pipeline import run_batch
from pgx.simulate import write_cohort
from pgx.truth import combine_alleles, normal_name, parse_diplotypes, translate_diplotypes
from pgx.validate import compare, summarize, true_disagreements


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def _pos(kb, gene: str, rsid: str) -> int:
    loci = kb.table("loci", gene)
    return int(loci.loc[loci["rsid"] == rsid, "pos"].iloc[0])


# --- the table and its checks ----------------------------------------------------------------


def test_committed_map_holds_the_getrm_legacy_names(kb):
    legacy = kb.table("legacy_alleles").set_index(["gene", "legacy_name"])
    assert legacy.loc[("SLCO1B1", "*1B"), "current"] == "*37"
    assert legacy.loc[("SLCO1B1", "*1A"), "current"] == "*1"
    assert legacy.loc[("SLCO1B1", "*17"), "current"] == "*15"
    assert legacy.loc[("UGT1A1", "*60"), "current"] == "*1"
    assert legacy.loc[("CYP3A4", "*1B"), "current"] == "*1"
    assert legacy.loc[("CYP2C19", "*1"), ["current", "relation", "decided_by"]].tolist() == ["*1|*38", "split", "rs3758581"]
    assert legacy.loc[("SLCO1B1", "*21"), ["current", "relation"]].tolist() == ["", "unmapped"]
    assert (legacy["source"] != "").all()


def test_every_curated_row_agrees_with_the_committed_definitions(kb):
    for name in LEGACY_NAMES:
        check_legacy_name(dataclasses.replace(name, quote=""), kb.tables, [])


@pytest.mark.parametrize(
    "row, message",
    [
        (LegacyName("SLCO1B1", "*1B", ("*15",), "renamed", "c.388A>G (rs2306283)", (), "n", "s"), "are not \\*15's"),
        (LegacyName("SLCO1B1", "*1B", ("*99",), "renamed", "", (), "n", "s"), "not an allele of SLCO1B1"),
        (LegacyName("SLCO1B1", "*37", ("*37",), "renamed", "c.388A>G (rs2306283)", (), "n", "s"), "a current allele"),
        (LegacyName("SLCO1B1", "*1X", ("*37",), "outside_definitions", "c.388A>G (rs2306283)", (), "n", "s"), "none is outside"),
        (LegacyName("SLCO1B1", "*1X", ("*1", "*15"), "split", "", ("rs2306283",), "n", "s"), "differs from the legacy allele"),
        (LegacyName("SLCO1B1", "*1X", ("*1",), "kinda", "", (), "n", "s"), "relation"),
        (LegacyName("SLCO1B1", "*1X", (), "renamed", "", (), "n", "s"), "only an unmapped name"),
        (LegacyName("CYP2C19", "*1A", ("*38",), "renamed", "", (), "n", "s", quote="CYP2C19*38 (formerly *1Z)"), "no message"),
    ],
)
def test_a_row_the_definitions_contradict_fails_the_build(kb, row, message):
    with pytest.raises(KnowledgeBaseError, match=message):
        check_legacy_name(row, kb.tables, ["CYP2C19*1 (formerly *1B) ... CYP2C19*38 (formerly *1A)"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"relation": "guess"}, "relation 'guess' unknown"),
        ({"current": "*99"}, "not an allele"),
        ({"legacy_name": "*37"}, "only a 'split' row may reuse one"),
        ({"decided_by": "rs2306283"}, "a split \\(and only a split\\)"),
        ({"source": ""}, "no source"),
    ],
)
def test_kb_load_rejects_a_bad_legacy_row(kb, change, message):
    tables = dict(kb.tables)
    legacy = tables["legacy_alleles"].copy()
    row = legacy.index[(legacy["gene"] == "SLCO1B1") & (legacy["legacy_name"] == "*1B")][0]
    for col, value in change.items():
        legacy.loc[row, col] = value
    tables["legacy_alleles"] = legacy
    with pytest.raises(KnowledgeBaseError, match=message):
        validate(tables)


def test_kb_load_rejects_a_split_deciding_locus_of_another_gene(kb):
    tables = dict(kb.tables)
    legacy = tables["legacy_alleles"].copy()
    legacy.loc[(legacy["gene"] == "CYP2C19") & (legacy["legacy_name"] == "*1"), "decided_by"] = "rs2306283"
    tables["legacy_alleles"] = legacy
    with pytest.raises(KnowledgeBaseError, match="not a core locus of CYP2C19"):
        validate(tables)


@pytest.mark.shared_data
def test_the_cited_pharmcat_message_states_the_cyp2c19_renamings(kb, shared_data):
    rows = legacy_allele_rows(SourceReader(shared_data), kb.tables, ("CYP2C19",))
    assert {r["legacy_name"] for r in rows} == {"*1", "*1A", "*1B"}


# --- parsing and translating truth diplotypes ----------------------------------------------------


def test_parse_keeps_two_alleles_on_one_chromosome_and_drops_platform_notes():
    assert parse_diplotypes("*27/(*28 + *60)") == [("*27", "[*28 + *60]")]
    assert parse_diplotypes("(*28 + *60)/(*36 + *60)") == [("[*28 + *60]", "[*36 + *60]")]
    assert parse_diplotypes("*1/(*7)") == []  # an allele seen on one platform only: not a diplotype
    assert parse_diplotypes("*1B/*1B (*15)") == [("*1B", "*1B")]


def test_names_compare_as_core_alleles_and_sorted_combinations():
    assert normal_name("*45.001") == "*45"
    assert normal_name("[*60 + *28]") == "[*28 + *60]"
    assert normal_name("*80+*28") == "*80+*28"
    assert normal_name("*3A") == "*3A"


def test_renamed_slco1b1_names_translate(kb):
    tr = translate_diplotypes(kb, "SLCO1B1", parse_diplotypes("*1A/*1B"))
    assert tr.options == [("*1", "*37")] and tr.legacy and not tr.untranslatable
    assert tr.notes == ["*1A -> *1 (renamed)", "*1B -> *37 (renamed)"]


def test_a_variant_outside_current_definitions_is_named_as_not_read(kb):
    tr = translate_diplotypes(kb, "SLCO1B1", parse_diplotypes("*1B/*17"))
    assert tr.options == [("*15", "*37")]
    assert any("rs4149015" in n and "not read" in n for n in tr.notes)
    ugt = translate_diplotypes(kb, "UGT1A1", parse_diplotypes("*60/*60"))
    assert ugt.options == [("*1", "*1")] and "rs4124874" in ugt.notes[0]


def test_a_combination_with_a_legacy_member_becomes_its_current_allele(kb):
    tr = translate_diplotypes(kb, "UGT1A1", parse_diplotypes("*27/(*28 + *60)"))
    assert tr.options == [("*27", "*28")]
    # two current alleles on one chromosome: the KB allele defined by both, else a combination
    assert combine_alleles(kb, "UGT1A1", ["*80", "*28"]) == "*80+*28"
    assert combine_alleles(kb, "UGT1A1", ["*27", "*6"]) == "[*6 + *27]"
    assert combine_alleles(kb, "UGT1A1", ["*1", "*1"]) == "*1"


def test_a_split_name_means_each_current_allele_and_names_its_deciding_locus(kb):
    tr = translate_diplotypes(kb, "CYP2C19", parse_diplotypes("*1/*17"))
    assert set(tr.options) == {("*1", "*17"), ("*17", "*38")}
    assert tr.deciding == {_pos(kb, "CYP2C19", "rs3758581"): "rs3758581"}
    assert not tr.legacy  # *1 is a current name too


def test_names_without_a_current_meaning_are_untranslatable(kb):
    unmapped = translate_diplotypes(kb, "SLCO1B1", parse_diplotypes("*1/*21"))
    assert unmapped.options == [] and "legacy name without" in unmapped.untranslatable[0]
    unknown = translate_diplotypes(kb, "TPMT", parse_diplotypes("*1/*46"))
    assert unknown.options == [] and "not in current definitions" in unknown.untranslatable[0]


# --- scoring truth rows ------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch(kb, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("legacy")
    assignment = {
        "S1": {"SLCO1B1": ("*1", "*37"), "UGT1A1": ("*1", "*1"), "CYP2C19": ("*17", "*38")},
        "S2": {"SLCO1B1": ("*15", "*37"), "UGT1A1": ("*1", "*28"), "CYP2C19": ("*1", "*17")},
        "S3": {"SLCO1B1": ("*1", "*5"), "UGT1A1": ("*28", "*36"), "CYP2C19": ("*2", "*38")},
    }
    vcf, _ = write_cohort(kb, assignment, tmp / "sim")
    return run_batch([vcf], tmp / "out", reports=False, kb=kb, genes=["CYP2C19", "SLCO1B1", "UGT1A1"])


@pytest.fixture(scope="module")
def calls(batch):
    return pd.read_parquet(batch["calls"])


def _truth(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample": [r[0] for r in rows],
            "gene": [r[1] for r in rows],
            "diplotype": [r[2] for r in rows],
            "flags": "",
            "alt_diplotype": "",
        }
    )


def test_simulated_calls_are_what_the_scoring_tests_assume(calls):
    got = dict(zip(zip(calls["sample_id"], calls["gene"]), calls["diplotype"]))
    assert got[("S1", "SLCO1B1")] == "*1/*37" and got[("S2", "SLCO1B1")] == "*15/*37"
    assert got[("S1", "CYP2C19")] == "*17/*38" and got[("S3", "UGT1A1")] == "*28/*36"


def test_a_row_in_legacy_names_agrees_once_translated(kb, calls):
    row = compare(calls, _truth([("S1", "SLCO1B1", "*1A/*1B")]), kb).iloc[0]
    assert row["resolvable"] and row["legacy_named"]
    assert not row["exact"] and row["legacy_exact"] and row["function"]
    assert row["kind"] == "agrees after legacy translation" and "*1B -> *37" in row["reason"]
    assert row["truth_current"] == "*1/*37"


def test_exact_legacy_aware_and_function_scores_differ_where_they_should(kb, calls):
    truth = _truth(
        [
            ("S1", "SLCO1B1", "*1A/*1B"),  # legacy names, same alleles
            ("S2", "SLCO1B1", "*1B/*17"),  # legacy names, same alleles (*17's promoter variant not read)
            ("S3", "SLCO1B1", "*1B/*5"),  # legacy name, a different allele (*37 vs *1): same function
            ("S2", "UGT1A1", "*60/(*28 + *60)"),  # combination with a legacy member
            ("S3", "UGT1A1", "(*28 + *60)/(*36 + *60)"),
            ("S1", "CYP2C19", "*1/*17"),  # *1 from before *38 was defined
            ("S2", "CYP2C19", "*1/*17"),  # the same, current meaning
            ("S3", "CYP2C19", "*2/*2"),  # a real disagreement, of function too
        ]
    )
    cmp = compare(calls, truth, kb)
    assert cmp["exact"].tolist() == [False, False, False, False, False, False, True, False]
    assert cmp["legacy_exact"].tolist() == [True, True, False, True, True, True, True, False]
    assert cmp["function"].tolist() == [True, True, True, True, True, True, True, False]
    true = true_disagreements(cmp)
    assert list(zip(true["sample"], true["gene"])) == [("S3", "SLCO1B1"), ("S3", "CYP2C19")]
    assert "truth in current names: *37/*5" in true.iloc[0]["reason"]
    s = summarize(cmp).set_index("gene")
    assert s.loc["SLCO1B1", ["resolvable", "legacy_named", "exact", "legacy_exact", "function"]].tolist() == [3, 3, 0, 2, 3]
    assert s.loc["CYP2C19", ["exact", "legacy_exact", "legacy_named"]].tolist() == [1, 2, 0]
    assert s.loc["UGT1A1", "legacy_exact_rate"] == 1.0 and s.loc["UGT1A1", "exact_rate"] == 0.0


def test_a_name_without_current_meaning_is_counted_apart_with_its_reason(kb, calls):
    cmp = compare(calls, _truth([("S1", "SLCO1B1", "*1/*21"), ("S1", "SLCO1B1", "*1/*99")]), kb)
    assert not cmp["resolvable"].any()
    assert cmp.loc[0, "unresolvable_because"] == "legacy allele name without an established current equivalent"
    assert "*21" in cmp.loc[0, "reason"] and cmp.loc[0, "kind"] == "legacy name without a current equivalent"
    assert cmp.loc[1, "unresolvable_because"] == "allele name not in current definitions (nor a known legacy name)"
    assert cmp.loc[1, "kind"] == "allele not in current definitions"


def test_a_split_name_whose_deciding_locus_the_input_lacks_is_not_resolvable(kb, calls):
    s1 = calls[(calls["sample_id"] == "S1") & (calls["gene"] == "CYP2C19")].copy()  # *17/*38
    truth = _truth([("S1", "CYP2C19", "*1/*17")])
    assert compare(s1, truth, kb).loc[0, "resolvable"]
    s1["assumed_reference_positions"] = [[_pos(kb, "CYP2C19", "rs3758581")]]
    row = compare(s1, truth, kb).loc[0]
    assert not row["resolvable"]
    assert row["unresolvable_because"] == "the locus deciding a legacy name's current meaning is absent from the input"
    assert "rs3758581" in row["reason"] and row["kind"] == "legacy name undecided by the input"


def test_a_call_in_sub_allele_names_matches_the_core_name(kb, calls):
    s1 = calls[(calls["sample_id"] == "S1") & (calls["gene"] == "SLCO1B1")].copy()
    s1["diplotype"] = "*1/*45.001"
    row = compare(s1, _truth([("S1", "SLCO1B1", "*1/*45")]), kb).iloc[0]
    assert row["exact"]


def test_validate_cli_writes_every_row_and_the_true_disagreements(batch, tmp_path, capsys):
    calls_path = batch["calls"]
    truth = tmp_path / "truth.tsv"
    truth.write_text("sample\tgene\tdiplotype\nS1\tSLCO1B1\t*1A/*1B\nS3\tSLCO1B1\t*1B/*5\nS1\tSLCO1B1\t*1/*21\n")
    assert main(["validate", "--calls", str(calls_path), "--truth", str(truth), "--out", str(tmp_path / "v")]) == 0
    conc = pd.read_csv(tmp_path / "v" / "concordance.tsv", sep="\t").set_index("gene")
    assert conc.loc["SLCO1B1", ["exact", "legacy_exact", "resolvable"]].tolist() == [0, 1, 2]
    every = pd.read_csv(tmp_path / "v" / "comparison.tsv", sep="\t", keep_default_na=False)
    assert len(every) == 3 and "translation" in every.columns
    dis = pd.read_csv(tmp_path / "v" / "disagreements.tsv", sep="\t", keep_default_na=False)
    assert dis["truth"].tolist() == ["*1B/*5"]
    assert "legacy_exact" in capsys.readouterr().out
