"""Reading genotypes at KB positions (pgx.vcf): representation, normalisation, merging.

Every test builds its VCF with ``make_vcf`` over the toy loci below, or reads a fixture
from ``tests/data`` named after the bug it pins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pgx.errors import VcfError
from pgx.genotypes import (
    HAPLOID,
    MISSING,
    NO_FILE,
    STATUS_ASSUMED_REFERENCE,
    STATUS_CALLED,
    STATUS_MISSING,
    STATUS_PARTIAL,
)
from pgx.builds import canonical_contig, chr_name, is_mito_contig
from pgx.vcf import iter_genotype_chunks, read_genotypes
from tests.conftest import SHARED_DATA, kb_loci_for, loci_table, requires_shared_data

DATA = Path(__file__).parent / "data"

LOCI = loci_table(
    [
        ("TOY", "chr10", 100, "C", "T"),
        ("TOY", "chr10", 200, "G", "A,C"),  # multi-allelic
        ("TOY", "chr10", 300, "CCTT", "C"),  # deletion (padding base at 300)
        ("TOY", "chr10", 400, "A", "AT"),  # insertion
        ("TOY", "chr10", 500, "T", "C"),
        ("TOYX", "chrX", 1000, "G", "A"),
        ("TOYX", "chrX", 1100, "C", "T"),
        ("TOYM", "chrM", 3000, "A", "G"),
    ]
)
COL = {int(p): j for j, p in enumerate(LOCI["pos"])}


def read(paths, **kw):
    return read_genotypes(paths if isinstance(paths, list) else [paths], LOCI, **kw)


def at(gm, sample, pos):
    """(codes tuple, status, phased, phase_set) of one sample at one position."""
    s, j = gm.samples.index(sample), COL[pos]
    return tuple(int(c) for c in gm.codes[s, j]), int(gm.status[s, j]), bool(gm.phased[s, j]), int(gm.phase_set[s, j])


def source_of(gm, sample, pos) -> str | None:
    """The file one sample's genotype at one position was read from (None: no file)."""
    k = int(gm.origin[gm.samples.index(sample), COL[pos]])
    return None if k == NO_FILE else gm.files[k]


def same_matrix(a, b) -> None:
    assert a.samples == b.samples
    for name in ("codes", "phased", "phase_set", "status", "origin"):  # origin: the same file positions
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert len(a.files) == len(b.files)
    assert a.novel_alleles == b.novel_alleles
    assert sorted(a.read_findings()) == sorted(b.read_findings())


# --- basics -----------------------------------------------------------------------------


def test_snv_het_phased_hom_alt_and_ref(make_vcf, tmp_path):
    path = make_vcf(
        tmp_path / "x.vcf",
        samples=["S1", "S2", "S3"],
        records=[("chr10", 100, "C", "T", ["0|1", "1/1", "0/0"])],
    )
    gm = read(path)
    assert gm.codes.shape == (3, len(LOCI), 2)
    assert gm.samples == ["S1", "S2", "S3"]
    assert at(gm, "S1", 100) == ((0, 1), STATUS_CALLED, True, 0)
    assert at(gm, "S2", 100) == ((1, 1), STATUS_CALLED, False, 0)
    assert at(gm, "S3", 100) == ((0, 0), STATUS_CALLED, False, 0)
    assert gm.files == [str(path)]
    assert [source_of(gm, s, 100) for s in ["S1", "S2", "S3"]] == [str(path)] * 3
    assert source_of(gm, "S1", 500) is None  # no record there
    assert gm.loci["pos"].tolist() == LOCI["pos"].tolist()


def test_absent_positions_are_missing_never_reference(make_vcf, tmp_path):
    gm = read(make_vcf(tmp_path / "x.vcf", records=[("chr10", 100, "C", "T", ["0|1"])]))
    assert at(gm, "S1", 500) == ((MISSING, MISSING), STATUS_MISSING, False, 0)
    assert (gm.status[0, 1:] == STATUS_MISSING).all()


def test_assume_reference_fills_absent_positions_and_says_so(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", records=[("chr10", 100, "C", "T", ["0|1"]), ("chr10", 200, "G", "A", ["./."])])
    gm = read(path, assume_reference=True)
    assert at(gm, "S1", 500) == ((0, 0), STATUS_ASSUMED_REFERENCE, False, 0)
    assert at(gm, "S1", 100)[1] == STATUS_CALLED
    # a no-call in the file is missing, not absent: never filled
    assert at(gm, "S1", 200) == ((MISSING, MISSING), STATUS_MISSING, False, 0)


def test_no_call_and_partial_genotypes(make_vcf, tmp_path):
    path = make_vcf(
        tmp_path / "x.vcf",
        samples=["NOCALL", "PARTIAL", "PARTIAL_PHASED", "LONE_DOT"],
        records=[("chr10", 100, "C", "T", ["./.", "0/.", ".|1", "."])],
    )
    gm = read(path)
    assert at(gm, "NOCALL", 100) == ((MISSING, MISSING), STATUS_MISSING, False, 0)
    assert at(gm, "PARTIAL", 100) == ((0, MISSING), STATUS_PARTIAL, False, 0)
    assert at(gm, "PARTIAL_PHASED", 100) == ((MISSING, 1), STATUS_PARTIAL, True, 0)
    assert at(gm, "LONE_DOT", 100) == ((MISSING, MISSING), STATUS_MISSING, False, 0)


def test_phase_set_is_read_and_zero_when_absent(make_vcf, tmp_path):
    path = make_vcf(
        tmp_path / "x.vcf",
        samples=["S1", "S2"],
        fmt="GT:PS",
        records=[("chr10", 100, "C", "T", ["0|1:94761", "0|1:."]), ("chr10", 500, "T", "C", ["1|0:94761", "0/1:."])],
    )
    gm = read(path)
    assert at(gm, "S1", 100) == ((0, 1), STATUS_CALLED, True, 94761)
    assert at(gm, "S1", 500) == ((1, 0), STATUS_CALLED, True, 94761)
    assert at(gm, "S2", 100)[3] == 0
    assert at(gm, "S2", 500)[2:] == (False, 0)


def test_haploid_chrx_and_chrm_calls_fill_the_second_slot_with_haploid(make_vcf, tmp_path):
    path = make_vcf(
        tmp_path / "x.vcf",
        samples=["MALE", "FEMALE"],
        records=[("chrX", 1000, "G", "A", ["1", "0|1"]), ("chrM", 3000, "A", "G", ["1", "0"])],
    )
    gm = read(path)
    assert at(gm, "MALE", 1000) == ((1, HAPLOID), STATUS_CALLED, True, 0)
    assert at(gm, "FEMALE", 1000) == ((0, 1), STATUS_CALLED, True, 0)
    assert at(gm, "MALE", 3000)[:2] == ((1, HAPLOID), STATUS_CALLED)
    assert at(gm, "FEMALE", 3000)[:2] == ((0, HAPLOID), STATUS_CALLED)


def test_assumed_reference_is_haploid_where_the_sample_is_haploid_on_that_chromosome(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["MALE", "FEMALE"], records=[("chrX", 1000, "G", "A", ["0", "0|1"])])
    gm = read(path, assume_reference=True)
    assert at(gm, "MALE", 1100)[:2] == ((0, HAPLOID), STATUS_ASSUMED_REFERENCE)
    assert at(gm, "FEMALE", 1100)[:2] == ((0, 0), STATUS_ASSUMED_REFERENCE)
    # the file has no record near the chr10 gene: it does not cover it, nothing is assumed
    assert at(gm, "MALE", 100)[:2] == ((MISSING, MISSING), STATUS_MISSING)


@pytest.mark.parametrize("indexed", [False, True])
def test_assume_reference_only_fills_genes_the_file_covers(make_vcf, tmp_path, indexed):
    loci = loci_table(
        [("NEAR", "chr10", 100_000, "C", "T"), ("NEAR", "chr10", 100_500, "C", "T"), ("FAR", "chr10", 900_000, "G", "A")]
    )
    # one unrelated record 15 kb from NEAR's positions, none near FAR
    path = make_vcf(tmp_path / "v.vcf", records=[("chr10", 85_000, "A", "G", ["0/1"])], bgzip=indexed, index=indexed)
    gm = read_genotypes([path], loci, assume_reference=True)
    assert list(gm.status[0]) == [STATUS_ASSUMED_REFERENCE, STATUS_ASSUMED_REFERENCE, STATUS_MISSING]


# --- contig names, compression, index ---------------------------------------------------


@pytest.mark.parametrize(
    "name,canonical",
    [("chr10", "10"), ("10", "10"), ("chrM", "MT"), ("MT", "MT"), ("M", "MT"), ("chrMT", "MT"), ("chrX", "X"),
     ("NC_000010.11", "10"), ("NC_000010.10", "10"), ("NC_012920.1", "MT")],
)  # fmt: skip
def test_canonical_contig(name, canonical):
    """One normaliser: the bare name, the KB's chr-prefixed name and the chrM test agree."""
    assert canonical_contig(name) == canonical
    assert chr_name(name) == ("chrM" if canonical == "MT" else f"chr{canonical}")
    assert is_mito_contig(name) == (canonical == "MT")


RECORDS = [
    ("chr10", 100, "C", "T", ["0|1", "1|1"]),
    ("chr10", 200, "G", "A,C", ["1|2", "0|2"]),
    ("chr10", 300, "CCTT", "C", ["0|1", "0|0"]),
    ("chr10", 300, "C", "T", ["1|0", "0|0"]),
    ("chr10", 400, "A", "AT,ATT", ["0|2", "1|0"]),
    ("chrX", 1000, "G", "A", ["1", "0|1"]),
    ("chrM", 3000, "A", "G", ["1", "0"]),
]


def _no_chr(records):
    return [(c.replace("chrM", "MT").replace("chr", ""), *rest) for c, *rest in records]


def test_chr_and_no_chr_contigs_give_the_same_matrix(make_vcf, tmp_path):
    with_chr = read(make_vcf(tmp_path / "chr.vcf", samples=["A", "B"], records=RECORDS))
    without = read(make_vcf(tmp_path / "nochr.vcf", samples=["A", "B"], records=_no_chr(RECORDS)))
    same_matrix(with_chr, without)
    assert (with_chr.status[:, [COL[p] for p in (100, 200, 300, 400, 1000, 3000)]] == STATUS_CALLED).all()
    assert with_chr.loci["chrom"].tolist() == LOCI["chrom"].tolist()  # the KB's names, always


def test_kb_without_chr_prefix_reads_a_chr_prefixed_file(make_vcf, tmp_path):
    loci = LOCI.assign(chrom=LOCI["chrom"].str.replace("chrM", "MT").str.replace("chr", ""))
    gm = read_genotypes([make_vcf(tmp_path / "x.vcf", samples=["A", "B"], records=RECORDS)], loci)
    same_matrix(gm, read(make_vcf(tmp_path / "y.vcf", samples=["A", "B"], records=RECORDS)))
    assert gm.loci["chrom"].tolist()[0] == "10"


@pytest.mark.parametrize("no_chr", [False, True], ids=["chr10", "10"])
def test_plain_bgzipped_tbi_csi_and_unindexed_reads_are_identical(make_vcf, tmp_path, no_chr):
    records = _no_chr(RECORDS) if no_chr else RECORDS
    kw = dict(samples=["A", "B"], records=records)
    variants = {
        "plain": make_vcf(tmp_path / "x.vcf", **kw),
        "bgzip": make_vcf(tmp_path / "x.vcf.gz", bgzip=True, **kw),
        "tbi": make_vcf(tmp_path / "t.vcf.gz", bgzip=True, index=True, **kw),
        "csi": make_vcf(tmp_path / "c.vcf.gz", bgzip=True, index="csi", **kw),
    }
    assert Path(f"{variants['tbi']}.tbi").exists() and Path(f"{variants['csi']}.csi").exists()
    reads = {k: read(p) for k, p in variants.items()}
    for k, gm in reads.items():
        same_matrix(reads["plain"], gm)
        assert gm.warnings == [], k


def test_indexed_read_finds_records_in_several_distant_query_regions(make_vcf, tmp_path):
    kb_pos = (10, 20, 100_000, 100_010, 5_000_000, 6_000_000, 6_100_000)
    loci = loci_table([("G", "chr1", p, "A", "G") for p in kb_pos])
    records = [("chr1", p, "A", "G", ["0|1"]) for p in kb_pos[:5]]
    records += [("chr1", p, "C", "T", ["1|1"]) for p in (15, 50_000, 100_005)]  # not KB positions
    records += [("chr1", 20, "AC", "A", ["1|0"])]  # a deletion at a KB SNV: novel there
    # one reference block over two query regions (6.0 and 6.1 Mb): read once, covering both
    records += [("chr1", 5_999_990, "A", "<NON_REF>", ["0/0"], "END=6100005")]
    path = make_vcf(tmp_path / "x.vcf.gz", records=records, bgzip=True, index=True)
    indexed = read_genotypes([path], loci)
    streamed = read_genotypes([make_vcf(tmp_path / "x.vcf", records=records)], loci)
    same_matrix(indexed, streamed)
    assert indexed.codes[0, :5, 1].tolist() == [1, 1, 1, 1, 1]
    assert indexed.codes[0, 1, 0] == 2 and indexed.novel_alleles == {(1, 2): "AC>A"}
    assert indexed.codes[0, 5:].tolist() == [[0, 0], [0, 0]]
    assert (indexed.status[0] == STATUS_CALLED).all()
    assert indexed.warnings == []


def test_windows_line_endings_read_like_unix_ones(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["A", "B"], records=RECORDS)
    crlf = tmp_path / "crlf.vcf"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    same_matrix(read(path), read(crlf))


def test_make_vcf_defaults_every_kb_position_to_reference(make_vcf, tmp_path):
    """The PharmCAT-style builder: name only the variant positions; the rest are 0/0."""
    path = make_vcf(tmp_path / "x.vcf", samples=["S1"], loci=LOCI, records=[("chr10", 100, "C", "T", ["0/1"])])
    gm = read(path)
    assert (gm.status == STATUS_CALLED).all()
    assert at(gm, "S1", 100)[0] == (0, 1)
    assert (np.delete(gm.codes[0], COL[100], axis=0) == 0).all()


# --- matching by allele -------------------------------------------------------------------


def test_split_and_joined_multiallelic_records_give_the_same_codes(make_vcf, tmp_path):
    joined = make_vcf(
        tmp_path / "joined.vcf", samples=["A", "B", "C"], records=[("chr10", 200, "G", "A,C", ["1|2", "0|2", "0/0"])]
    )
    split = make_vcf(
        tmp_path / "split.vcf",
        samples=["A", "B", "C"],
        records=[("chr10", 200, "G", "A", ["1|0", "0|0", "0/0"]), ("chr10", 200, "G", "C", ["0|1", "0|1", "0/0"])],
    )
    a, b = read(joined), read(split)
    same_matrix(a, b)
    assert at(a, "A", 200)[0] == (1, 2)
    assert at(a, "B", 200)[0] == (0, 2)


def test_split_multiallelic_ref_on_one_record_alt_on_the_other():
    gm = read(DATA / "split_multiallelic_alt_on_second_record.vcf")
    assert at(gm, "S1", 200) == ((0, 1), STATUS_CALLED, True, 0)  # 0|1 on G>A, 0|0 on G>C
    assert at(gm, "S2", 200) == ((0, 2), STATUS_CALLED, True, 0)  # 0|0 on G>A, 0|1 on G>C
    assert at(gm, "S3", 200) == ((2, 1), STATUS_CALLED, True, 0)  # 0|1 on G>A, 1|0 on G>C


def test_alleles_in_a_different_order_than_the_kb(make_vcf, tmp_path):
    gm = read(make_vcf(tmp_path / "x.vcf", records=[("chr10", 200, "G", "C,A", ["1|2"])]))
    assert at(gm, "S1", 200)[0] == (2, 1)


def test_unphased_split_records_are_combined_without_a_false_conflict(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", records=[("chr10", 200, "G", "A", ["0/1"]), ("chr10", 200, "G", "C", ["0/1"])])
    gm = read(path)
    assert sorted(at(gm, "S1", 200)[0]) == [1, 2]
    assert gm.warnings == []


def test_conflicting_non_reference_calls_keep_the_first_and_warn(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", records=[("chr10", 200, "G", "A", ["1|1"]), ("chr10", 200, "G", "C", ["1|1"])])
    gm = read(path)
    assert at(gm, "S1", 200)[0] == (1, 1)
    # the log counts samples and never names one (it would tell who carries a variant there);
    # the sample's own call carries the detail
    assert any("chr10:200: 1 sample(s) have different non-reference" in w for w in gm.warnings)
    assert not any("S1" in w for w in gm.warnings)
    assert [(s, g) for s, g, text, *_ in gm.read_findings() if "different non-reference" in text] == [("S1", "TOY")]


def test_missing_on_one_split_record_beats_reference_on_the_other(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", records=[("chr10", 200, "G", "A", ["0|0"]), ("chr10", 200, "G", "C", ["./."])])
    assert at(read(path), "S1", 200)[:2] == ((MISSING, MISSING), STATUS_MISSING)


def test_deletion_with_a_longer_ref_is_matched_after_trimming_the_common_suffix(make_vcf, tmp_path):
    # joined with a longer deletion, the KB deletion CCTT>C is written CCTTT>CT
    path = make_vcf(tmp_path / "x.vcf", samples=["A", "B"], records=[("chr10", 300, "CCTTT", "CT,C", ["0|1", "1|2"])])
    gm = read(path)
    assert at(gm, "A", 300)[0] == (0, 1)
    code = at(gm, "B", 300)[0]
    assert code[0] == 1 and code[1] == 2
    assert gm.novel_alleles == {(COL[300], 2): "CCTTT>C"}


def test_snv_at_the_padding_base_of_a_kb_deletion_is_a_different_variant():
    gm = read(DATA / "snv_at_deletion_padding_base.vcf")
    j = COL[300]
    # S1 carries the SNV C>T at 300, not the KB deletion: a novel allele TCTT
    assert at(gm, "S1", 300)[0] == (0, 2)
    assert gm.novel_alleles[(j, 2)] == "TCTT"
    assert gm.allele_sequence(j, 2) == "TCTT"
    # S2 carries the deletion (on the other record), S3 both on different haplotypes
    assert at(gm, "S2", 300)[0] == (1, 0)
    assert at(gm, "S3", 300)[0] == (1, 2)


def test_kb_snv_written_with_a_longer_ref_matches(make_vcf, tmp_path):
    gm = read(make_vcf(tmp_path / "x.vcf", records=[("chr10", 100, "CAG", "TAG", ["0|1"])]))
    assert at(gm, "S1", 100)[0] == (0, 1)
    assert gm.novel_alleles == {}


def test_insertion_matched_by_allele_and_other_insertions_are_novel(make_vcf, tmp_path):
    gm = read(make_vcf(tmp_path / "x.vcf", records=[("chr10", 400, "A", "ATT,AT", ["1|2"])]))
    assert at(gm, "S1", 400)[0] == (2, 1)
    assert gm.novel_alleles == {(COL[400], 2): "ATT"}


def test_novel_alleles_get_consistent_codes_across_files(make_vcf, tmp_path):
    a = make_vcf(tmp_path / "a.vcf", samples=["A"], records=[("chr10", 100, "C", "G,A", ["1|2"])])
    b = make_vcf(tmp_path / "b.vcf", samples=["B"], records=[("chr10", 100, "C", "A", ["0|1"])])
    gm = read([a, b])
    assert at(gm, "A", 100)[0] == (2, 3)
    assert at(gm, "B", 100)[0] == (0, 3)
    assert gm.novel_alleles == {(COL[100], 2): "G", (COL[100], 3): "A"}


def test_spanning_deletion_star_allele_is_novel(make_vcf, tmp_path):
    gm = read(make_vcf(tmp_path / "x.vcf", records=[("chr10", 100, "C", "T,*", ["1|2"])]))
    assert at(gm, "S1", 100)[0] == (1, 2)
    assert gm.novel_alleles == {(COL[100], 2): "*"}


def test_symbolic_alt_is_ignored_with_a_warning(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["A", "B"], records=[("chr10", 100, "C", "T,<DEL>", ["0|2", "0|1"])])
    gm = read(path)
    assert at(gm, "A", 100)[:2] == ((0, MISSING), STATUS_PARTIAL)
    assert at(gm, "B", 100)[:2] == ((0, 1), STATUS_CALLED)
    assert any("<DEL>" in w and "chr10:100" in w for w in gm.warnings)


def test_gvcf_reference_block_counts_as_reference_for_covered_positions():
    gm = read(DATA / "gvcf_reference_block_covers_kb_positions.g.vcf")
    # blocks chr10:90-199 and 201-450 (0/0) cover 100, 300 and 400; 500 is outside
    assert at(gm, "S1", 100)[:2] == ((0, 0), STATUS_CALLED)
    assert at(gm, "S1", 300)[:2] == ((0, 0), STATUS_CALLED)
    assert at(gm, "S1", 400)[:2] == ((0, 0), STATUS_CALLED)
    assert at(gm, "S1", 200)[:2] == ((0, 1), STATUS_CALLED)  # G>A,<NON_REF> 0/1
    assert at(gm, "S1", 500)[:2] == ((MISSING, MISSING), STATUS_MISSING)
    # the ./. block over chrX:1000 is missing, not reference
    assert at(gm, "S1", 1000)[:2] == ((MISSING, MISSING), STATUS_MISSING)
    assert any("<NON_REF>" in w and "chr10:200" in w for w in gm.warnings)


def test_gvcf_block_read_identically_from_an_index(tmp_path):
    from pgx.vcf import bgzip_vcf

    plain = DATA / "gvcf_reference_block_covers_kb_positions.g.vcf"
    indexed = bgzip_vcf(plain, tmp_path / "g.vcf.gz", index="tbi")
    same_matrix(read(plain), read(indexed))


# --- several files ---------------------------------------------------------------------------


def test_two_files_splitting_the_samples_are_unioned(make_vcf, tmp_path):
    a = make_vcf(tmp_path / "a.vcf", samples=["A1", "A2"], records=[("chr10", 100, "C", "T", ["0|1", "1|1"])])
    b = make_vcf(
        tmp_path / "b.vcf", samples=["B1"], records=[("chr10", 100, "C", "T", ["0|0"]), ("chr10", 500, "T", "C", ["0|1"])]
    )
    gm = read([a, b])
    assert gm.samples == ["A1", "A2", "B1"]
    assert at(gm, "A2", 100)[0] == (1, 1)
    assert at(gm, "B1", 500)[0] == (0, 1)
    assert at(gm, "A1", 500)[1] == STATUS_MISSING  # a.vcf does not have it
    assert [source_of(gm, s, 100) for s in ["A1", "A2", "B1"]] == [str(a), str(a), str(b)]
    assert (source_of(gm, "B1", 500), source_of(gm, "A1", 500)) == (str(b), None)


def test_two_files_splitting_the_genome_are_unioned(make_vcf, tmp_path):
    chr10 = make_vcf(tmp_path / "chr10.vcf", samples=["S1", "S2"], records=[("chr10", 100, "C", "T", ["0|1", "0|0"])])
    chrx = make_vcf(tmp_path / "chrX.vcf", samples=["S2", "S1"], records=[("chrX", 1000, "G", "A", ["0|1", "1"])])
    gm = read([chr10, chrx])
    assert gm.samples == ["S1", "S2"]
    assert at(gm, "S1", 100)[0] == (0, 1)
    assert at(gm, "S1", 1000)[0] == (1, HAPLOID)
    assert at(gm, "S2", 1000)[0] == (0, 1)
    assert gm.files == [str(chr10), str(chrx)]
    assert [source_of(gm, s, p) for s in ("S1", "S2") for p in (100, 1000)] == [str(chr10), str(chrx)] * 2
    assert source_of(gm, "S1", 500) is None


def test_source_file_of_an_assumed_reference_genotype_is_none(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", records=[("chr10", 100, "C", "T", ["0|1"]), ("chr10", 500, "T", "C", ["./."])])
    gm = read(path, assume_reference=True)
    assert at(gm, "S1", 200)[1] == STATUS_ASSUMED_REFERENCE and source_of(gm, "S1", 200) is None
    assert at(gm, "S1", 500)[1] == STATUS_MISSING and source_of(gm, "S1", 500) == str(path)  # a ./. record is read


def test_source_file_of_a_position_in_two_files_is_the_kept_genotypes(make_vcf, tmp_path):
    a = make_vcf(tmp_path / "a.vcf", records=[("chr10", 100, "C", "T", ["0|1"]), ("chr10", 500, "T", "C", ["./."])])
    b = make_vcf(tmp_path / "b.vcf", records=[("chr10", 100, "C", "T", ["1/0"]), ("chr10", 500, "T", "C", ["0/1"])])
    gm = read([a, b])
    assert source_of(gm, "S1", 100) == str(a)  # agreeing: the first file's is kept
    assert source_of(gm, "S1", 500) == str(b)  # the call is kept over a's no-call
    assert source_of(read([b, a]), "S1", 500) == str(b)


def test_same_sample_in_two_files_with_agreeing_genotypes_is_fine(make_vcf, tmp_path):
    a = make_vcf(tmp_path / "a.vcf", records=[("chr10", 100, "C", "T", ["0|1"]), ("chr10", 500, "T", "C", ["./."])])
    b = make_vcf(tmp_path / "b.vcf", records=[("chr10", 100, "C", "T", ["1/0"]), ("chr10", 500, "T", "C", ["0/1"])])
    gm = read([a, b])
    assert at(gm, "S1", 100)[0] == (0, 1)  # the first file's
    assert at(gm, "S1", 500)[:2] == ((0, 1), STATUS_CALLED)  # a no-call yields to a call


def test_same_sample_in_two_files_with_different_genotypes_is_an_error(make_vcf, tmp_path):
    a = make_vcf(tmp_path / "patient_a.vcf", samples=["SAMPLE1"], records=[("chr10", 100, "C", "T", ["0|1"])])
    b = make_vcf(tmp_path / "patient_b.vcf", samples=["SAMPLE1"], records=[("chr10", 100, "C", "T", ["0|0"])])
    with pytest.raises(VcfError) as err:
        read([a, b])
    msg = str(err.value)
    assert "SAMPLE1" in msg and str(a) in msg and str(b) in msg and "chr10:100" in msg


# --- samples and chunks ----------------------------------------------------------------------


def test_samples_argument_reads_only_those_in_file_order(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["A", "B", "C"], records=[("chr10", 100, "C", "T", ["0|1", "1|1", "0|0"])])
    gm = read(path, samples=["C", "A"])
    assert gm.samples == ["A", "C"]
    assert at(gm, "C", 100)[0] == (0, 0)


@pytest.mark.parametrize("indexed", [False, True])
def test_chunks_reproduce_the_whole_read(make_vcf, tmp_path, indexed):
    rng = np.random.default_rng(7)
    samples = [f"S{i}" for i in range(23)]
    gts = lambda: [f"{rng.integers(0, 2)}|{rng.integers(0, 2)}" for _ in samples]  # noqa: E731
    records = [("chr10", p, "C" if p != 300 else "CCTT", "T" if p != 300 else "C", gts()) for p in (100, 300, 500)]
    path = make_vcf(tmp_path / "x.vcf.gz", samples=samples, records=records, bgzip=indexed, index=indexed)
    whole = read(path)
    chunks = list(iter_genotype_chunks([path], LOCI, chunk_size=5))
    assert [len(c.samples) for c in chunks] == [5, 5, 5, 5, 3]
    assert [s for c in chunks for s in c.samples] == samples
    same_matrix(whole, read(path, chunk_size=5))
    for c in chunks:
        np.testing.assert_array_equal(c.codes, whole.codes[[samples.index(s) for s in c.samples]])


def _mixed_cohort(make_vcf, tmp_path):
    """Two files, 13 samples: a (S0-S8) with phase sets, unphased, missing, partial, haploid
    and three-allele calls and split records at chr10:200 that conflict for some samples;
    b (S5-S12, so S5-S8 are in both) on chrX/chrM with haploid and diploid calls."""
    rng = np.random.default_rng(11)
    pool_a = ["0|1:11", "1|0:11", "1|1:22", "0/1:.", "./.:.", "0/.:.", ".|1:.", "1:.", "0/1/1:.", "0|0:."]
    pool_b = ["0", "1", ".", "0|1", "1/1", "0/0"]
    a_samples, b_samples = [f"S{i}" for i in range(9)], [f"S{i}" for i in range(5, 13)]

    def gts(pool, n):
        return [pool[i] for i in rng.integers(0, len(pool), n)]

    a_records = [("chr10", 100, "C", "T", gts(pool_a, 9)), ("chr10", 300, "CCTT", "C", gts(pool_a, 9))]
    a_records += [("chr10", 200, "G", alt, ["1|1:."] * 3 + gts(pool_a, 6)) for alt in ("A", "C")]
    a_records += [("chr10", 500, "T", "C", gts(pool_a, 9))]
    a = make_vcf(tmp_path / "a.vcf", samples=a_samples, records=a_records, fmt="GT:PS")
    b_records = [("chrX", 1000, "G", "A", gts(pool_b, 8)), ("chrX", 1100, "C", "T", gts(pool_b, 8))]
    b_records += [("chrM", 3000, "A", "G", gts(["0", "1", "."], 8))]
    b = make_vcf(tmp_path / "b.vcf.gz", samples=b_samples, records=b_records, bgzip=True, index=True)
    return [a, b]


def _named_in_conflicts(gm) -> list[str]:
    """The samples whose calls carry the conflict finding (the log only counts them)."""
    return sorted(s for s, _, text, *_ in gm.read_findings() if "different non-reference" in text)


@pytest.mark.parametrize("assume_reference", [False, True])
def test_any_chunk_size_reproduces_the_whole_read(make_vcf, tmp_path, assume_reference):
    """Chunks slice one decode of each file: for every chunk size (dividing 13 or not),
    the chunks put together are the whole read, and each chunk (matrix and warnings) is
    what reading only its samples gives."""
    paths = _mixed_cohort(make_vcf, tmp_path)
    whole = read(paths, assume_reference=assume_reference)
    assert whole.samples == [f"S{i}" for i in range(13)]
    assert (whole.phase_set > 0).any() and (whole.codes[..., 1] == HAPLOID).any()
    assert (whole.status == STATUS_PARTIAL).any() and (whole.status == STATUS_MISSING).any()
    conflicted = _named_in_conflicts(whole)
    assert conflicted[:3] == ["S0", "S1", "S2"]
    assert any("more than two alleles" in w for w in whole.warnings)
    for size in range(1, 15):
        chunks = list(iter_genotype_chunks(paths, LOCI, chunk_size=size, assume_reference=assume_reference))
        assert [len(c.samples) for c in chunks] == [min(size, 13 - i) for i in range(0, 13, size)]
        same_matrix(whole, read(paths, chunk_size=size, assume_reference=assume_reference))
        for c in chunks:
            rows = [whole.samples.index(s) for s in c.samples]
            for name in ("codes", "phased", "phase_set", "status", "origin"):
                np.testing.assert_array_equal(getattr(c, name), getattr(whole, name)[rows], err_msg=f"{size} {name}")
            assert set(_named_in_conflicts(c)) == set(conflicted) & set(c.samples)
            alone = read(paths, samples=c.samples, assume_reference=assume_reference)  # decodes these only
            same_matrix(c, alone)
            assert c.warnings == alone.warnings
        assert sorted(n for c in chunks for n in _named_in_conflicts(c)) == conflicted


def test_allele_codes_beyond_a_byte_are_kept(make_vcf, tmp_path):
    """Decoded codes are stored in a byte when they fit; a locus with more than 127 novel
    alleles keeps its codes (and chunks agree)."""
    alts = ["A" + "T" * k for k in range(1, 141)]  # AT is the KB allele (code 1), the rest novel
    path = make_vcf(
        tmp_path / "x.vcf", samples=["A", "B", "C"], records=[("chr10", 400, "A", ",".join(alts), ["0|140", "1|139", "140|1"])]
    )
    gm = read(path)
    high = gm.codes[:, COL[400]]
    assert high.max() > 127 and at(gm, "B", 400)[0][0] == 1
    assert gm.allele_sequence(COL[400], int(high[0, 1])) == alts[-1]
    same_matrix(gm, read(path, chunk_size=2))


def test_chunks_span_files_that_split_the_samples(make_vcf, tmp_path):
    a = make_vcf(tmp_path / "a.vcf", samples=["A1", "A2", "A3"], records=[("chr10", 100, "C", "T", ["0|1"] * 3)])
    b = make_vcf(tmp_path / "b.vcf", samples=["B1", "B2"], records=[("chr10", 100, "C", "T", ["1|1"] * 2)])
    chunks = list(iter_genotype_chunks([a, b], LOCI, chunk_size=2))
    assert [c.samples for c in chunks] == [["A1", "A2"], ["A3", "B1"], ["B2"]]
    assert [source_of(chunks[1], s, 100) for s in ["A3", "B1"]] == [str(a), str(b)]
    assert chunks[2].files == [str(a), str(b)] and source_of(chunks[2], "B2", 100) == str(b)


def test_no_samples_selected_gives_an_empty_matrix(make_vcf, tmp_path):
    gm = read(make_vcf(tmp_path / "x.vcf", records=[("chr10", 100, "C", "T", ["0|1"])]), samples=[])
    assert gm.samples == [] and gm.codes.shape == (0, len(LOCI), 2)


def test_index_is_not_needed_to_be_fresh_for_plain_files(make_vcf, tmp_path):
    """A plain VCF with a stray index beside it is streamed (the index cannot apply)."""
    path = make_vcf(tmp_path / "x.vcf", records=[("chr10", 100, "C", "T", ["0|1"])])
    Path(f"{path}.tbi").write_bytes(b"")
    gm = read(path)
    assert at(gm, "S1", 100)[0] == (0, 1)
    assert any("not bgzip-compressed" in w for w in gm.warnings)


# --- the real thing ----------------------------------------------------------------------------


@requires_shared_data
def test_1kgp_cyp2c19_all_samples_with_assume_reference():
    vcf = SHARED_DATA / "1kgp" / "GRCh38" / "CYP2C19.vcf.gz"
    loci = kb_loci_for("CYP2C19")
    gm = read_genotypes([vcf], loci, assume_reference=True)
    assert gm.codes.shape == (3202, len(loci), 2)
    assert gm.samples[0] == "HG00096"
    in_file = _positions_in_file(vcf, loci)
    assert in_file, "some KB positions are in the 1000 Genomes file"
    present = loci["pos"].isin(in_file).to_numpy()
    assert (gm.status[:, present] == STATUS_CALLED).all()
    assert (gm.status[:, ~present] == STATUS_ASSUMED_REFERENCE).all()
    assert gm.phased[:, present].all()
    # rs4244285 (*2, chr10:94781859 G>A) is common: about 15% of 1000 Genomes haplotypes
    j = int(np.flatnonzero(loci["pos"].to_numpy() == 94781859)[0])
    freq = (gm.codes[:, j, :] == 1).mean()
    assert 0.10 < freq < 0.25
    assert not any("REF disagrees" in w for w in gm.warnings)


def _positions_in_file(vcf: Path, loci) -> set[int]:
    import gzip

    wanted = set(loci["pos"].astype(int))
    found = set()
    with gzip.open(vcf, "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                pos = int(line.split("\t", 2)[1])
                if pos in wanted:
                    found.add(pos)
    return found


def test_shared_data_tests_skip_with_a_clear_reason_when_the_data_is_absent(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PGX_SHARED_DATA": str(tmp_path / "no-such-dir")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_1kgp_cyp2c19_all_samples_with_assume_reference",
        ],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "upstream data not found" in result.stdout and "PGX_SHARED_DATA" in result.stdout
