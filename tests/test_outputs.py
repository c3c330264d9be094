"""Output tables: the vectorised genotype table and the Arrow/Parquet writers.

``genotype_table`` and ``to_arrow`` were rewritten for speed (no Python loop over cells
or values); these tests pin that they give exactly the values of the straightforward
per-cell implementations kept below as references, that the Parquet bytes are the
same however a table reaches the writer (frame or Arrow, compact or not, background or
foreground, any row-group size), and that a failed write leaves no file behind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgx import genotypes, outputs
from pgx.genotypes import HAPLOID, MISSING, GenotypeMatrix, genotype_frame, genotype_table
from pgx.outputs import ChunkedTableWriter, as_table, schema_for, to_arrow, write_arrow, write_table
from pgx.schema import GENOTYPE_STATUSES, GENOTYPES

KB_VERSION = "2025.01.01-deadbeef"


# --- references: the per-cell implementations the fast paths must agree with ------------


def reference_genotype_frame(gm: GenotypeMatrix, kb_version: str, status_names) -> pd.DataFrame:
    """One Python list per cell, as the first genotype_frame built it."""
    n_s, n_l = gm.codes.shape[:2]
    loci = gm.loci.reset_index(drop=True)
    seqs = [{code: gm.allele_sequence(j, code) for code in np.unique(gm.codes[:, j, :]) if code >= 0} for j in range(n_l)]
    alleles = []
    for s in range(n_s):
        for j in range(n_l):
            pair = gm.codes[s, j]
            if pair[0] == MISSING and pair[1] in (MISSING, HAPLOID):
                alleles.append(None)
                continue
            alleles.append([seqs[j].get(int(c)) if c >= 0 else None for c in pair if c != HAPLOID])
    return pd.DataFrame(
        {
            "sample_id": np.repeat(np.asarray(gm.samples, dtype=object), n_l),
            "gene": np.tile(loci["gene"].to_numpy(dtype=object), n_s),
            "chrom": np.tile(loci["chrom"].to_numpy(dtype=object), n_s),
            "pos": np.tile(loci["pos"].to_numpy(dtype=np.int64), n_s),
            "rsid": np.tile(loci["rsid"].replace("", None).to_numpy(dtype=object), n_s),
            "ref": np.tile(loci["ref"].to_numpy(dtype=object), n_s),
            "alleles": alleles,
            "phased": gm.phased.reshape(-1),
            "phase_set": np.where(gm.phase_set.reshape(-1) > 0, gm.phase_set.reshape(-1), None),
            "status": np.asarray(status_names, dtype=object)[gm.status.reshape(-1)],
            "source_file": [gm.files[o] if o >= 0 else None for o in gm.origin.reshape(-1).tolist()],
            "kb_version": kb_version,
        }
    )


def reference_to_arrow(df: pd.DataFrame, name: str) -> pa.Table:
    """Value by value through ``_plain``, as the first to_arrow did."""
    schema = schema_for(name)
    arrays = [pa.array(outputs._plain(df[f.name]), type=f.type, from_pandas=True) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def same_values(a: pa.Table, b: pa.Table) -> bool:
    """Equal schemas (with the pgx metadata) and values, comparing dictionary columns by their
    values (not their dictionaries); list fields read back from Parquet may name their item
    ``element``, which is not a difference."""
    assert a.schema.equals(b.schema) and a.schema.metadata == b.schema.metadata

    def plain(t: pa.Table) -> pa.Table:
        cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in t.columns]
        cols = [c.cast(pa.list_(c.type.value_type)) if pa.types.is_list(c.type) else c for c in cols]
        return pa.table(cols, names=t.column_names).combine_chunks()

    return plain(a).equals(plain(b))


# --- a genotype matrix with every kind of cell ----------------------------------------------


def every_kind_of_cell() -> GenotypeMatrix:
    loci = pd.DataFrame(
        {
            "gene": ["G1", "G1", "G1", "G2", "G2"],
            "chrom": ["chr1", "chr1", "chr1", "chrX", "chrX"],
            "pos": [100, 200, 300, 1000, 2000],
            "ref": ["A", "CTT", "G", "T", "C"],
            "alts": ["G", "C,CT", "", "A", "G,T"],
            "rsid": ["rs1", "", "rs3", pd.NA, "rs5"],
            "role": ["core"] * 5,
        }
    ).astype({"rsid": "string"})
    M, H = MISSING, HAPLOID
    codes = np.array(
        [
            [[0, 1], [2, 1], [0, 0], [1, H], [M, H]],  # het, two alts, ref, haploid alt, haploid missing
            [[M, M], [0, M], [3, 0], [0, 1], [4, 2]],  # missing, partial, novel (sequence known), het, unknown novel
            [[1, 1], [M, 1], [0, 0], [M, M], [0, H]],
        ],
        dtype=np.int16,
    )
    status = np.array([[0, 0, 0, 0, 1], [1, 3, 0, 2, 0], [0, 3, 0, 1, 0]], dtype=np.int8)
    phase_set = np.array([[0, 7, 7, 0, 0], [0, 0, 0, 12, 12], [0, 0, 0, 0, 0]], dtype=np.int64)
    phased = np.array([[True, True, False, True, False], [False, False, True, True, True], [False] * 5])
    return GenotypeMatrix(
        samples=["S1", "S2", "S3"],
        loci=loci,
        codes=codes,
        phased=phased,
        phase_set=phase_set,
        status=status,
        novel_alleles={(2, 3): "GA"},
        files=["a.vcf.gz", "b.vcf.gz", "unused.vcf.gz"],
        origin=np.array([[0, 0, 0, 1, 1], [-1, 0, 1, -1, 1], [0, 0, 0, -1, 1]], dtype=np.int16),  # -1: no record
    )


def test_genotype_table_matches_the_per_cell_reference():
    gm = every_kind_of_cell()
    expected = reference_to_arrow(reference_genotype_frame(gm, KB_VERSION, GENOTYPE_STATUSES), "genotypes")
    exact = genotype_table(gm, KB_VERSION, GENOTYPE_STATUSES)
    assert exact.schema.equals(GENOTYPES)
    assert same_values(as_table(exact, "genotypes"), expected)
    assert same_values(to_arrow(genotype_frame(gm, KB_VERSION, GENOTYPE_STATUSES), "genotypes"), expected)
    compact = genotype_table(gm, KB_VERSION, GENOTYPE_STATUSES, compact=True)
    assert pa.types.is_dictionary(compact.schema.field("source_file").type)
    assert same_values(as_table(compact, "genotypes"), expected)


def test_genotype_alleles_cover_missing_partial_haploid_and_novel():
    rows = genotype_table(every_kind_of_cell(), KB_VERSION, GENOTYPE_STATUSES).to_pylist()
    alleles = [r["alleles"] for r in rows]
    assert alleles[:5] == [["A", "G"], ["CT", "C"], ["G", "G"], ["A"], None]
    assert alleles[5:10] == [None, ["CTT", None], ["GA", "G"], ["T", "A"], ["?", "T"]]
    assert rows[1]["rsid"] is None and rows[3]["rsid"] is None and rows[0]["rsid"] == "rs1"
    assert [r["phase_set"] for r in rows[:3]] == [None, 7, 7]
    assert [r["source_file"] for r in rows[5:10]] == [None, "a.vcf.gz", "b.vcf.gz", None, "b.vcf.gz"]


def test_status_dictionary_is_the_same_in_every_chunk():
    gm = every_kind_of_cell()
    for part in (gm.subset_samples(slice(0, 1)), gm.subset_samples(slice(1, 3))):
        status = genotype_table(part, KB_VERSION, GENOTYPE_STATUSES).column("status").chunk(0)
        assert status.dictionary.to_pylist() == list(GENOTYPE_STATUSES)


def test_genotype_table_in_small_slices_is_the_same(monkeypatch):
    gm = every_kind_of_cell()
    whole = genotype_table(gm, KB_VERSION, GENOTYPE_STATUSES)
    monkeypatch.setattr(genotypes, "TABLE_SLICE_ROWS", 4)
    monkeypatch.setattr(outputs, "CAST_ROWS", 3)
    assert genotype_table(gm, KB_VERSION, GENOTYPE_STATUSES).equals(whole)
    compact = genotype_table(gm, KB_VERSION, GENOTYPE_STATUSES, compact=True)
    assert as_table(compact, "genotypes").combine_chunks().equals(as_table(whole, "genotypes").combine_chunks())


def test_empty_genotype_table_has_the_schema():
    gm = every_kind_of_cell().subset_samples(slice(0, 0))
    table = genotype_table(gm, KB_VERSION, GENOTYPE_STATUSES)
    assert table.num_rows == 0 and table.schema.equals(GENOTYPES)


# --- to_arrow on ordinary frames --------------------------------------------------------------


def calls_like_frame() -> pd.DataFrame:
    """The value shapes the calling stages produce, including the awkward ones."""
    return pd.DataFrame(
        {
            "sample_id": ["S1", "S2", "S3"],
            "gene": ["CYP2C19", "CYP2C19", "TPMT"],
            "diplotype": ["*1/*2", None, "*1/*3A"],
            "allele_1": ["*1", None, "*1"],
            "allele_2": ["*2", None, "*3A"],
            "function_1": ["Normal function", None, pd.NA],
            "function_2": ["No function", None, "No function"],
            "score": [35, None, 8],  # becomes float64 with NaN
            "alternatives": [[], ["*1/*2", "*2/*3"], np.array(["*1/*3A"], dtype=object)],
            "activity_score": [1.0, float("nan"), None],
            "phenotype": ["Intermediate Metabolizer", None, "Intermediate Metabolizer"],
            "lookup_key": ["Intermediate Metabolizer", "No Result", "Intermediate Metabolizer"],
            "call_status": ["called", "no_call", "ambiguous"],
            "phased": [True, False, None],
            "missing_positions": [[], np.array([94761900, 94762706]), [18130918]],
            "assumed_reference_positions": [[1, 2], [], None],
            "novel_variants": [[], ["chr10:94761900:C>G"], []],
            "alleles_found": [[], None, np.array(["c.61C>T (homozygous)"], dtype=object)],
            "suballeles": [["*45.001"], [], []],
            "reason_codes": [["tie"], ["novel_variant", "no_matching_pair"], []],
            "warnings": [["w1", "w2"], [], ["w3"]],
            "kb_version": KB_VERSION,
        }
    )


def test_to_arrow_matches_the_value_by_value_reference():
    df = calls_like_frame()
    assert to_arrow(df, "calls").equals(reference_to_arrow(df, "calls"))
    as_strings = df.astype({c: "string" for c in ("sample_id", "gene", "diplotype", "call_status")})
    assert to_arrow(as_strings, "calls").equals(reference_to_arrow(df, "calls"))


def test_to_arrow_names_missing_columns():
    with pytest.raises(ValueError, match="columns missing from the frame: \\['kb_version'\\]"):
        to_arrow(calls_like_frame().drop(columns="kb_version"), "calls")


# --- Parquet bytes -----------------------------------------------------------------------------


def test_frame_and_arrow_table_write_the_same_bytes(tmp_path):
    gm = every_kind_of_cell()
    a = write_table(genotype_frame(gm, KB_VERSION, GENOTYPE_STATUSES), "genotypes", tmp_path / "a.parquet")
    b = write_arrow(genotype_table(gm, KB_VERSION, GENOTYPE_STATUSES), "genotypes", tmp_path / "b.parquet")
    assert a.read_bytes() == b.read_bytes()
    back = pq.read_table(a)
    assert back.schema.equals(schema_for("genotypes")) and back.schema.metadata == schema_for("genotypes").metadata


def _write_chunked(path, gm, *, background=True, chunks=((0, 1), (1, 3))):
    with ChunkedTableWriter("genotypes", path, background=background) as w:
        for start, stop in chunks:
            w.write(genotype_frame(gm.subset_samples(slice(start, stop)), KB_VERSION, GENOTYPE_STATUSES))
    return path


def test_chunked_writer_is_byte_identical_in_background_and_foreground(tmp_path):
    gm = every_kind_of_cell()
    fg = _write_chunked(tmp_path / "fg.parquet", gm, background=False)
    bg = _write_chunked(tmp_path / "bg.parquet", gm, background=True)
    again = _write_chunked(tmp_path / "again.parquet", gm, background=True)
    assert fg.read_bytes() == bg.read_bytes() == again.read_bytes()
    expected = reference_to_arrow(reference_genotype_frame(gm, KB_VERSION, GENOTYPE_STATUSES), "genotypes")
    assert same_values(pq.read_table(bg), expected)


def test_row_group_size_changes_layout_not_values(tmp_path, monkeypatch):
    gm = every_kind_of_cell()
    whole = pq.read_table(_write_chunked(tmp_path / "whole.parquet", gm))
    monkeypatch.setattr(outputs, "ROW_GROUP_ROWS", 4)
    small = _write_chunked(tmp_path / "small.parquet", gm)
    assert pq.ParquetFile(small).num_row_groups == 5  # 5 rows -> 4 + 1, 10 rows -> 4 + 4 + 2
    assert same_values(pq.read_table(small), whole)


def test_a_failed_chunked_write_leaves_no_file(tmp_path):
    path = tmp_path / "g.parquet"
    bad = genotype_table(every_kind_of_cell(), KB_VERSION, GENOTYPE_STATUSES, compact=True)
    bad = bad.set_column(3, "pos", pa.array(["not a number"] * bad.num_rows))  # cannot be cast to int64
    with pytest.raises(RuntimeError, match="writing g.parquet failed"):
        with ChunkedTableWriter("genotypes", path) as w:
            w.write(bad)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_exception_in_the_caller_leaves_no_file(tmp_path):
    path = tmp_path / "g.parquet"
    with pytest.raises(KeyError):
        with ChunkedTableWriter("genotypes", path) as w:
            w.write(genotype_frame(every_kind_of_cell(), KB_VERSION, GENOTYPE_STATUSES))
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_pipeline_frames_convert_exactly_as_value_by_value(tmp_path):
    from pgx.kb import load_kb
    from pgx.calling import call_diplotypes
    from pgx.phenotype import assign_phenotypes
    from pgx.recommend import recommend
    from pgx.simulate import simulate_cohort
    from pgx.vcf import read_genotypes

    kb = load_kb()
    genes = kb.genes[:3]
    vcf, _ = simulate_cohort(kb, genes, 12, tmp_path, phased=False, seed=5)
    gm = read_genotypes([vcf], kb.loci(genes))
    calls = assign_phenotypes(call_diplotypes(gm, kb, genes), kb)
    recs = recommend(calls, kb)
    assert to_arrow(calls, "calls").equals(reference_to_arrow(calls, "calls"))
    assert to_arrow(recs, "recommendations").equals(reference_to_arrow(recs, "recommendations"))
    table = genotype_table(gm, kb.version, GENOTYPE_STATUSES)
    expected = reference_to_arrow(reference_genotype_frame(gm, kb.version, GENOTYPE_STATUSES), "genotypes")
    assert same_values(as_table(table, "genotypes"), expected)
