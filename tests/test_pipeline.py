"""End to end through pgx.pipeline on simulated patients: tables, schemas, determinism."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pgx.kb import load_kb
from pgx.outputs import schema_for
from pgx.pipeline import TABLES, run_batch
from pgx.schema import OUTPUT_SCHEMAS, SCHEMA_VERSION
from pgx.simulate import simulate_cohort

GENES = ["CYP2C19", "CYP2C9", "TPMT"]


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.fixture(scope="module")
def cohort(kb, tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    vcf, truth = simulate_cohort(kb, GENES, 25, out, phased=False, seed=11)
    return vcf, pd.read_csv(truth, sep="\t", dtype=str)


@pytest.fixture(scope="module")
def batch(kb, cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    paths = run_batch([cohort[0]], out, batch="sim", reports=False, kb=kb, genes=GENES)
    return out, paths


def test_every_table_is_written_with_its_declared_schema(batch):
    _, paths = batch
    for name in TABLES:
        table = pq.read_table(paths[name])
        assert table.schema.equals(OUTPUT_SCHEMAS[name]), name
        meta = table.schema.metadata
        assert meta[b"pgx_schema_version"].decode() == SCHEMA_VERSION
        assert meta[b"pgx_table"].decode() == name


def test_calls_reproduce_the_simulated_truth(batch, cohort):
    _, paths = batch
    calls = pq.read_table(paths["calls"]).to_pandas()
    truth = cohort[1]
    merged = truth.merge(calls, on=["sample_id", "gene"], suffixes=("_truth", ""))
    assert len(merged) == len(truth) == 25 * len(GENES)
    wrong = merged[merged["diplotype_truth"] != merged["diplotype"]]
    # an unphased pair can be genuinely ambiguous; then the truth must be among the ties
    for row in wrong.itertuples():
        assert row.call_status == "ambiguous" and row.diplotype_truth in list(row.alternatives), row
    assert (calls["kb_version"] == load_kb().version).all()


def test_every_call_and_recommendation_row_carries_the_kb_version(batch, kb):
    _, paths = batch
    for name in ("genotypes", "calls", "recommendations"):
        df = pq.read_table(paths[name]).to_pandas()
        assert len(df) > 0
        assert set(df["kb_version"]) == {kb.version}


def test_genotypes_table_has_a_row_per_sample_and_position(batch, kb):
    _, paths = batch
    g = pq.read_table(paths["genotypes"]).to_pandas()
    assert len(g) == 25 * len(kb.loci(GENES))
    assert set(g["status"]) == {"called"}


def test_recommendations_cover_each_sample(batch):
    _, paths = batch
    recs = pq.read_table(paths["recommendations"]).to_pandas()
    assert recs["sample_id"].nunique() == 25
    assert {"clopidogrel", "celecoxib", "azathioprine"} <= set(recs["drug"])


def test_provenance_names_versions_inputs_and_options(batch, cohort, kb):
    _, paths = batch
    prov = dict(pq.read_table(paths["provenance"]).to_pandas().values)
    assert prov["kb_version"] == kb.version
    assert prov["option:assume_reference"] == "false"
    digest = hashlib.sha256(cohort[0].read_bytes()).hexdigest()
    assert prov[f"input_sha256:{cohort[0].name}"] == digest


def test_rerun_gives_byte_identical_parquet(batch, cohort, kb, tmp_path):
    out, paths = batch
    again = run_batch([cohort[0]], tmp_path, batch="sim", reports=False, kb=kb, genes=GENES)
    for name in TABLES:
        assert paths[name].read_bytes() == again[name].read_bytes(), name


def test_sample_chunks_give_the_same_calls(batch, cohort, kb, tmp_path):
    _, paths = batch
    chunked = run_batch([cohort[0]], tmp_path, batch="sim", reports=False, kb=kb, genes=GENES, chunk_size=7)
    for name in ("genotypes", "calls", "recommendations"):
        a = pq.read_table(paths[name]).to_pandas()
        b = pq.read_table(chunked[name]).to_pandas()
        pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_outside_calls_go_through_the_pipeline(cohort, kb, tmp_path):
    tsv = tmp_path / "outside.tsv"
    tsv.write_text("sample_id\tgene\tdiplotype\nSIM0001\tCYP2C19\t*2/*2\nSIM0002\tCYP2C19\t*2/*nope\n")
    paths = run_batch([cohort[0]], tmp_path / "out", batch="sim", reports=False, kb=kb, genes=GENES, outside_calls=tsv)
    calls = pq.read_table(paths["calls"]).to_pandas().set_index(["sample_id", "gene"])
    assert calls.loc[("SIM0001", "CYP2C19"), "call_status"] == "outside_call"
    assert calls.loc[("SIM0001", "CYP2C19"), "phenotype"] == "Poor Metabolizer"
    assert calls.loc[("SIM0002", "CYP2C19"), "call_status"] == "no_call"
    assert calls.loc[("SIM0003", "CYP2C19"), "call_status"] in ("called", "ambiguous")
    recs = pq.read_table(paths["recommendations"]).to_pandas()
    clop = recs[(recs.sample_id == "SIM0001") & (recs.drug == "clopidogrel")]
    assert set(clop["action"]) <= {"use_alternative", "avoid", "assess_further"} and len(clop) > 0
    assert "use_alternative" in set(clop["action"])  # DPWG's "other indications" branch asks to test first
    prov = dict(pq.read_table(paths["provenance"]).to_pandas().values)
    assert prov["option:outside_calls"] == str(tsv)


def test_output_schema_metadata_declared_once():
    for name in TABLES:
        assert schema_for(name).remove_metadata().equals(OUTPUT_SCHEMAS[name])


def test_outputs_are_readable_by_others_like_any_new_file(batch):
    import os
    import stat

    _, paths = batch
    umask = os.umask(0)
    os.umask(umask)
    for name in TABLES:
        mode = stat.S_IMODE(os.stat(paths[name]).st_mode)
        assert mode == 0o666 & ~umask, (name, oct(mode))


@pytest.mark.shared_data
def test_cpic_overlay_adds_verbatim_text_and_provenance(cohort, kb, tmp_path, shared_data):
    from pgx.overlay import import_cpic

    import_cpic(shared_data / "cpic" / "recommendation.json", tmp_path / "overlay")
    overlay = tmp_path / "overlay"
    paths = run_batch([cohort[0]], tmp_path / "out", batch="sim", reports=False, kb=kb, genes=GENES, overlay=overlay)
    recs = pq.read_table(paths["recommendations"]).to_pandas()
    cpic = recs[(recs["source"] == "CPIC") & recs["recommendation_id"].notna()]
    assert cpic["verbatim_text"].notna().mean() > 0.9
    assert recs.loc[recs["source"] == "DPWG", "verbatim_text"].isna().all()
    prov = dict(pq.read_table(paths["provenance"]).to_pandas().values)
    assert len(prov["cpic_overlay_sha256"]) == 64
    # without an overlay the columns exist and are empty
    plain = run_batch([cohort[0]], tmp_path / "plain", batch="sim", reports=False, kb=kb, genes=GENES, overlay=None)
    assert pq.read_table(plain["recommendations"]).to_pandas()["verbatim_text"].isna().all()


def split_by_chromosome(vcf, out_dir) -> dict[str, object]:
    """The records of ``vcf`` one plain VCF per chromosome ({chrom: path}), each with the full header."""
    import gzip

    with gzip.open(vcf, "rt") as fh:
        lines = fh.read().splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    by_chrom: dict[str, list[str]] = {}
    for line in lines:
        if not line.startswith("#"):
            by_chrom.setdefault(line.split("\t", 1)[0], []).append(line)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for chrom, records in by_chrom.items():
        paths[chrom] = out_dir / f"{chrom}.vcf"
        paths[chrom].write_text("".join(header + records))
    return paths


def test_source_file_names_the_file_each_genotype_came_from(cohort, kb, tmp_path):
    files = split_by_chromosome(cohort[0], tmp_path / "split")
    assert set(files) == {"chr10", "chr6"}  # CYP2C19 and CYP2C9 on chr10, TPMT on chr6
    vcfs = [files["chr6"], files["chr10"]]
    whole = run_batch(vcfs, tmp_path / "whole", batch="sim", reports=False, kb=kb, genes=GENES)
    table = pq.read_table(whole["genotypes"])
    assert table.schema.equals(OUTPUT_SCHEMAS["genotypes"])
    g = table.to_pandas()
    assert g["sample_id"].nunique() == 25
    expected = g["chrom"].map({"chr10": str(files["chr10"]), "chr6": str(files["chr6"])})
    assert (g["source_file"] == expected).all()
    chunked = run_batch(vcfs, tmp_path / "chunked", batch="sim", reports=False, kb=kb, genes=GENES, chunk_size=7)
    assert pq.read_table(chunked["genotypes"]).equals(table)


def test_a_run_that_reads_no_genotype_at_any_kb_position_is_an_error(make_vcf, tmp_path):
    """Never exit 0 with nothing called: a file on a KB chromosome whose records are all
    away from the genes asked for."""
    from pgx.errors import InputError

    far = make_vcf(tmp_path / "far.vcf", samples=["S1"], records=[("chr6", 100, "C", "T", ["0/1"])])
    with pytest.raises(InputError, match=r"far\.vcf: no genotype at any knowledge-base position of the genes asked \(TPMT\)"):
        run_batch([far], tmp_path / "out", genes=["TPMT"], reports=False)
    assert not (tmp_path / "out" / "calls.parquet").exists()
