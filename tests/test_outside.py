"""Outside calls fill or override genes; a bad row fails only that sample's gene."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pgx.errors import OutsideCallError
from pgx.kb import load_kb
from pgx.calling import call_diplotypes
from pgx.outside import apply_outside_calls, read_outside_calls
from pgx.phenotype import assign_phenotypes
from tests.test_match import make_matrix
from tests.toy_kb import write_toy_kb


@pytest.fixture(scope="module")
def toy_kb(tmp_path_factory):
    return load_kb(write_toy_kb(tmp_path_factory.mktemp("toykb_outside")))


def write_tsv(path, text):
    path.write_text(text)
    return path


def vcf_calls(kb, samples):
    gm = make_matrix(kb, {s: {} for s in samples}, gene="TOY2")
    return assign_phenotypes(call_diplotypes(gm, kb), kb)


def test_outside_diplotype_overrides_vcf_call(toy_kb, tmp_path):
    calls = vcf_calls(toy_kb, ["P1", "P2"])
    tsv = write_tsv(tmp_path / "o.tsv", "sample_id\tgene\tdiplotype\nP1\tTOY2\t*2/*3\n")
    out = apply_outside_calls(calls, read_outside_calls(tsv), toy_kb).set_index("sample_id")
    assert out.loc["P1", "call_status"] == "outside_call"
    assert out.loc["P1", "diplotype"] == "*2/*3"
    assert out.loc["P1", "activity_score"] == 0.5
    assert out.loc["P1", "phenotype"] == "Poor Metabolizer"
    assert any("replaces the VCF call *1/*1" in w for w in out.loc["P1", "warnings"])
    assert out.loc["P2", "call_status"] == "called"


def test_outside_duplication_scales_activity(toy_kb, tmp_path):
    calls = vcf_calls(toy_kb, ["P1"])
    tsv = write_tsv(tmp_path / "o.tsv", "sample_id\tgene\tdiplotype\nP1\tTOY2\t*1/*1x2\n")
    out = apply_outside_calls(calls, read_outside_calls(tsv), toy_kb).set_index("sample_id")
    assert out.loc["P1", "activity_score"] == 3.0


def test_outside_phenotype_and_score(toy_kb, tmp_path):
    calls = vcf_calls(toy_kb, ["P1", "P2"])
    tsv = write_tsv(
        tmp_path / "o.tsv",
        "sample_id\tgene\tphenotype\tactivity_score\nP1\tTOY2\t\t1.5\nP2\tTOY1\tPoor Metabolizer\t\n",
    )
    out = apply_outside_calls(calls, read_outside_calls(tsv), toy_kb).set_index(["sample_id", "gene"])
    assert out.loc[("P1", "TOY2"), "lookup_key"] == "1.5"
    assert out.loc[("P1", "TOY2"), "phenotype"] == "Intermediate Metabolizer"
    assert out.loc[("P2", "TOY1"), "phenotype"] == "Poor Metabolizer"
    assert out.loc[("P2", "TOY1"), "call_status"] == "outside_call"


@pytest.mark.parametrize(
    "row,message",
    [
        ("P1\tNOPE\t*1/*1", "not in the knowledge base"),
        ("P1\tTOY2\t*1/*99", "allele '*99'"),
        ("P1\tTOY2\t*1", "not of the form A/B"),
    ],
)
def test_bad_row_fails_only_that_gene(toy_kb, tmp_path, row, message):
    calls = vcf_calls(toy_kb, ["P1", "P2"])
    tsv = write_tsv(tmp_path / "o.tsv", f"sample_id\tgene\tdiplotype\n{row}\nP2\tTOY2\t*1/*2\n")
    out = apply_outside_calls(calls, read_outside_calls(tsv), toy_kb).set_index(["sample_id", "gene"])
    gene = row.split("\t")[1]
    bad = out.loc[("P1", gene)]
    assert bad["call_status"] == "no_call"
    assert any(message in w and "line 2" in w for w in bad["warnings"])
    assert out.loc[("P2", "TOY2"), "diplotype"] == "*1/*2"


def test_bad_phenotype_and_score(toy_kb, tmp_path):
    calls = vcf_calls(toy_kb, ["P1", "P2"])
    tsv = write_tsv(
        tmp_path / "o.tsv", "sample_id\tgene\tphenotype\tactivity_score\nP1\tTOY1\tSuper Metabolizer\t\nP2\tTOY2\t\tfast\n"
    )
    out = apply_outside_calls(calls, read_outside_calls(tsv), toy_kb).set_index(["sample_id", "gene"])
    assert any("not one the guidelines use" in w for w in out.loc[("P1", "TOY1"), "warnings"])
    assert any("not a number" in w for w in out.loc[("P2", "TOY2"), "warnings"])


def test_duplicate_rows_fail_that_gene(toy_kb, tmp_path):
    calls = vcf_calls(toy_kb, ["P1"])
    tsv = write_tsv(tmp_path / "o.tsv", "sample_id\tgene\tdiplotype\nP1\tTOY2\t*1/*2\nP1\tTOY2\t*1/*3\n")
    out = apply_outside_calls(calls, read_outside_calls(tsv), toy_kb).set_index("sample_id")
    assert out.loc["P1", "call_status"] == "no_call"
    assert any("several outside calls" in w for w in out.loc["P1", "warnings"])


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(OutsideCallError, match="not found"):
        read_outside_calls(tmp_path / "absent.tsv")
    bad = write_tsv(tmp_path / "bad.tsv", "who\twhat\nP1\tx\n")
    with pytest.raises(OutsideCallError, match="bad.tsv: needs columns"):
        read_outside_calls(bad)


@pytest.mark.parametrize("allele", ["*1xN", "*1x≥3", "*1x>=3"])
def test_unbounded_copy_number_gives_a_score_bound(allele):
    from pgx.outside import copy_number

    base, copies, bound = copy_number(allele)
    assert base == "*1" and bound and copies == (2 if allele.endswith("N") else 3)
    assert copy_number("*1x3") == ("*1", 3, False)
    assert copy_number("*1") is None


def test_copy_number_bound_reaching_the_open_top_range_is_called(tmp_path):
    kb = load_kb(Path(__file__).parents[1] / "resources" / "kb")
    tsv = write_tsv(
        tmp_path / "o.tsv",
        "sample_id\tgene\tdiplotype\nP1\tCYP2D6\t*1/*2xN\nP2\tCYP2D6\t*10/*10xN\nP3\tCYP2D6\t*4/*4xN\nP4\tCYP2D6\t*1/*1x≥3\n",
    )
    calls = pd.DataFrame({"sample_id": ["P1", "P2", "P3", "P4"], "gene": "CYP2D6", "diplotype": None})
    out = apply_outside_calls(calls, read_outside_calls(tsv), kb).set_index("sample_id")
    # *1 + at least two copies of *2 (1.0 each): score >= 3.0, above the Ultrarapid threshold
    assert out.loc["P1", "lookup_key"] == "≥3.0"
    assert out.loc["P1", "phenotype"] == "Ultrarapid Metabolizer"
    assert pd.isna(out.loc["P1", "activity_score"])
    assert any("lower bound" in w for w in out.loc["P1", "warnings"])
    # *10 (0.25) + at least two more copies: >= 0.75 spans Intermediate to Ultrarapid
    assert out.loc["P2", "lookup_key"] == "≥0.75"
    assert out.loc["P2", "phenotype"] == "Indeterminate"
    # no-function copies: 0 whatever their number
    assert out.loc["P3", "activity_score"] == 0.0
    assert out.loc["P3", "phenotype"] == "Poor Metabolizer"
    assert out.loc["P4", "lookup_key"] == "≥4.0"
    assert out.loc["P4", "function_2"] == "Increased function"  # the KB's own *1x≥3 row


def test_an_empty_outside_call_file_is_an_error_not_a_traceback(tmp_path):
    """Found by fuzzing (pandas raised EmptyDataError)."""
    from pgx.errors import OutsideCallError
    from pgx.outside import read_outside_calls

    for content in (b"", b"\n"):
        path = tmp_path / "outside.tsv"
        path.write_bytes(content)
        with pytest.raises(OutsideCallError, match="outside.tsv: the outside-call file is empty"):
            read_outside_calls(path)


def test_an_outside_call_line_beyond_the_limit_is_refused(tmp_path, monkeypatch):
    import pgx.outside
    from pgx.errors import OutsideCallError

    monkeypatch.setattr(pgx.outside, "MAX_LINE_BYTES", 100)
    path = tmp_path / "outside.tsv"
    path.write_text("sample_id\tgene\tdiplotype\nS1\tCYP2D6\t" + "*1" * 100 + "\n")
    with pytest.raises(OutsideCallError, match=r"outside.tsv, line 2: longer than"):
        pgx.outside.read_outside_calls(path)


# --- PharmCAT's outside-call format (no header, one sample per file) ---------------------

PHARMCAT_FILE = "# from our CYP2D6 assay\nCYP2D6\t*1/*4\n\nhla-b\t*57:01/*08:01\n"


def test_pharmcat_outside_call_file_is_read_as_it_is(tmp_path):
    from pgx.outside import read_outside_calls

    rows = read_outside_calls(write_tsv(tmp_path / "pharmcat.tsv", PHARMCAT_FILE))
    assert rows[["gene", "diplotype", "line"]].values.tolist() == [["CYP2D6", "*1/*4", 2], ["HLA-B", "*57:01/*08:01", 4]]
    assert rows.attrs["one_sample"] and set(rows["sample_id"]) == {""}
    named = read_outside_calls(tmp_path / "pharmcat.tsv", "P7")
    assert set(named["sample_id"]) == {"P7"} and not named.attrs["one_sample"]


def test_pharmcat_file_fills_the_only_sample_of_a_batch(make_vcf, tmp_path):
    from pgx.pipeline import run_batch
    from tests.conftest import kb_loci_for

    vcf = make_vcf(tmp_path / "one.vcf", samples=["Patient 1"], loci=kb_loci_for("CYP2C19"))
    tsv = write_tsv(tmp_path / "pharmcat.tsv", PHARMCAT_FILE)
    paths = run_batch([vcf], tmp_path / "out", genes=["CYP2C19"], reports=False, outside_calls=tsv)
    calls = pd.read_parquet(paths["calls"]).set_index("gene")
    assert calls.loc["CYP2D6", "call_status"] == "outside_call" and calls.loc["CYP2D6", "sample_id"] == "Patient 1"
    assert calls.loc["CYP2D6", "diplotype"] == "*1/*4"
    assert calls.loc["CYP2D6", "phenotype"] == "Intermediate Metabolizer"
    assert calls.loc["HLA-B", "call_status"] == "outside_call"


def test_pharmcat_file_in_a_batch_of_several_samples_needs_the_sample_named(make_vcf, tmp_path):
    from pgx.pipeline import run_batch
    from tests.conftest import kb_loci_for

    vcf = make_vcf(tmp_path / "two.vcf", samples=["A", "B"], loci=kb_loci_for("CYP2C19"))
    tsv = write_tsv(tmp_path / "pharmcat.tsv", PHARMCAT_FILE)
    with pytest.raises(OutsideCallError, match=r"PharmCAT's format .* 2 samples .* --sample"):
        run_batch([vcf], tmp_path / "out", genes=["CYP2C19"], reports=False, outside_calls=tsv)
    with pytest.raises(OutsideCallError, match="'C' is not a sample of the batch"):
        run_batch([vcf], tmp_path / "out", genes=["CYP2C19"], reports=False, outside_calls=tsv, outside_sample="C")
    paths = run_batch([vcf], tmp_path / "out", genes=["CYP2C19"], reports=False, outside_calls=tsv, outside_sample="B")
    calls = pd.read_parquet(paths["calls"])
    outside = calls[calls["call_status"] == "outside_call"]
    assert set(outside["sample_id"]) == {"B"} and set(outside["gene"]) == {"CYP2D6", "HLA-B"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("CYP2D6 *1/*4\n", "needs columns sample_id, gene"),  # spaces, not tabs: one cell
        ("CYP2D6\t*1/*4\tIntermediate Metabolizer\t1.0\textra\n", "needs columns sample_id, gene"),
        ("CYP2D6\t*1/*4\nCYP2C19\t*1/*2\tx\ty\tz\n", r"line 2: PharmCAT's outside-call format has at most 4"),
        ("gene\tdiplotype\nCYP2D6\t*1/*4\n", "needs columns sample_id, gene"),  # our header without sample_id
    ],
)
def test_real_mistakes_keep_a_clear_error(tmp_path, text, message):
    from pgx.outside import read_outside_calls

    with pytest.raises(OutsideCallError, match=message):
        read_outside_calls(write_tsv(tmp_path / "bad.tsv", text))


def test_sample_option_is_refused_for_a_file_with_a_header(tmp_path):
    from pgx.outside import read_outside_calls

    tsv = write_tsv(tmp_path / "o.tsv", "sample_id\tgene\tdiplotype\nP1\tCYP2D6\t*1/*4\n")
    with pytest.raises(OutsideCallError, match="only for PharmCAT's outside-call format"):
        read_outside_calls(tsv, "P1")


def test_pharmcat_file_unknown_gene_fails_only_that_gene(make_vcf, tmp_path):
    from pgx.pipeline import run_batch
    from tests.conftest import kb_loci_for

    vcf = make_vcf(tmp_path / "one.vcf", samples=["S"], loci=kb_loci_for("CYP2C19"))
    tsv = write_tsv(tmp_path / "pharmcat.tsv", "CYP2D6\t*1/*4\nFOO1\t*1/*2\n")
    calls = pd.read_parquet(run_batch([vcf], tmp_path / "out", genes=["CYP2C19"], reports=False, outside_calls=tsv)["calls"])
    assert calls.set_index("gene").loc["CYP2D6", "call_status"] == "outside_call"
    assert "FOO1" not in set(calls["gene"]) or calls.set_index("gene").loc["FOO1", "call_status"] == "no_call"


def test_our_rows_without_their_header_are_not_taken_for_pharmcat_format(tmp_path):
    from pgx.outside import read_outside_calls

    with pytest.raises(OutsideCallError, match="needs columns sample_id, gene"):
        read_outside_calls(write_tsv(tmp_path / "noheader.tsv", "P1\tCYP2D6\t*1/*4\n"))
