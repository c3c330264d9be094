"""Bad VCF input: each problem has its own error (or warning) naming the file, line or
sample, and saying what to do."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from pgx.errors import GenomeBuildError, PgxError, SampleError, VcfError
from pgx.genotypes import STATUS_CALLED, STATUS_MISSING
from pgx.vcf import read_genotypes
from tests.conftest import loci_table

LOCI = loci_table([("TOY", "chr10", p, "C", "T") for p in (100, 200, 300, 400, 500)] + [("TOY", "chr10", 600, "G", "A")])
ALL_REF = [("chr10", p, "C", "T", ["0|1"]) for p in (100, 200, 300, 400, 500)]


def read(path, **kw):
    return read_genotypes([path], LOCI, **kw)


def test_errors_are_user_errors():
    for cls in (VcfError, SampleError, GenomeBuildError):
        assert issubclass(cls, PgxError)


def test_missing_file(tmp_path):
    with pytest.raises(VcfError, match=r"nope\.vcf: no such file"):
        read(tmp_path / "nope.vcf")


@pytest.mark.parametrize(
    "content",
    [b"sample\tgene\tdiplotype\nS1\tCYP2C19\t*1/*2\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b""],
    ids=["tsv", "png", "empty"],
)
def test_a_file_that_is_not_a_vcf(tmp_path, content):
    path = tmp_path / "calls.vcf"
    path.write_bytes(content)
    with pytest.raises(VcfError, match=r"calls\.vcf: not a VCF.*##fileformat=VCF"):
        read(path)


def test_a_gzipped_file_that_is_not_a_vcf(tmp_path):
    path = tmp_path / "notes.vcf.gz"
    path.write_bytes(gzip.compress(b"just some notes\n"))
    with pytest.raises(VcfError, match="not a VCF"):
        read(path)


def test_a_bcf_file_is_refused_with_the_conversion_command(tmp_path):
    path = tmp_path / "x.bcf"
    path.write_bytes(gzip.compress(b"BCF\x02\x02rest"))
    with pytest.raises(VcfError, match="BCF file.*bcftools view -Oz"):
        read(path)


def test_a_directory_is_not_a_vcf(tmp_path):
    with pytest.raises(VcfError, match="is a directory"):
        read(tmp_path)


def test_truncated_bgzf(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf.gz", records=ALL_REF, bgzip=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    with pytest.raises(VcfError, match=r"x\.vcf\.gz: the BGZF file is truncated.*re-download"):
        read(path)


def test_bgzf_missing_only_its_end_of_file_block(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf.gz", records=ALL_REF, bgzip=True)
    path.write_bytes(path.read_bytes()[:-28])  # a copy cut exactly at a block boundary
    with pytest.raises(VcfError, match="truncated"):
        read(path)


def test_truncated_plain_gzip_names_the_line(make_vcf, tmp_path):
    plain = make_vcf(
        tmp_path / "x.vcf",
        samples=[f"S{i}" for i in range(50)],
        records=[("chr10", p, "C", "T", ["0|1"] * 50) for p in range(100, 5000)],
    )
    data = gzip.compress(plain.read_bytes())
    path = tmp_path / "x.vcf.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VcfError, match=r"x\.vcf\.gz, line \d+: the compressed file is truncated or corrupt"):
        read(path)


def test_truncated_plain_vcf_last_line(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["A", "B"], records=[("chr10", 100, "C", "T", ["0|1", "0|0"])])
    path.write_text(path.read_text()[:-5])
    with pytest.raises(VcfError, match=r"x\.vcf, line \d+: the last line is cut short"):
        read(path)


def test_no_gt_field_in_format(make_vcf, tmp_path):
    path = make_vcf(
        tmp_path / "x.vcf",
        fmt="DP",
        records=[("chr10", 100, "C", "T", ["12"])],
        header_extra=['##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">'],
    )
    path.write_text(path.read_text().replace('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n', ""))
    with pytest.raises(VcfError, match=r"x\.vcf: no GT field in FORMAT \(FORMAT is DP\).*re-export"):
        read(path)


def test_sites_only_vcf(tmp_path):
    path = tmp_path / "sites.vcf"
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr10\t100\t.\tC\tT\t.\t.\t.\n")
    with pytest.raises(VcfError, match=r"sites\.vcf: the VCF has no sample columns"):
        read(path)


def test_duplicate_sample_ids(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["S1", "S2", "S1"], records=[("chr10", 100, "C", "T", ["0|1"] * 3)])
    with pytest.raises(SampleError, match=r"x\.vcf: sample ID\(s\) 'S1' appear more than once.*reheader"):
        read(path)


@pytest.mark.parametrize(
    "sample, why",
    [("x\x01y", "control character"), ("tab\x7f", "control character"), ("", "is empty"),
     ("\u202eevil", "invisible format character"), ("a\u2028b", "line separator"), ("x" * 1001, "longer than 1000")],
    ids=["control", "delete", "empty", "rtl_override", "line_separator", "too_long"],
)  # fmt: skip
def test_a_sample_id_that_is_not_printable_text_is_refused(make_vcf, tmp_path, sample, why):
    path = make_vcf(tmp_path / "x.vcf", samples=["OK", sample], records=[("chr10", 100, "C", "T", ["0|1", "0|0"])])
    with pytest.raises(SampleError) as err:
        read(path)
    message = str(err.value)
    assert "x.vcf" in message and why in message and "rename" in message
    assert len(message) < 600  # a long ID is shown by its start, never echoed whole


@pytest.mark.parametrize(
    "sample",
    ["NA12878", "Patient 12", "O'Brien & Co", "a/b", "..", ".", "-S1", "back\\slash", "患者1", "Ünïcödé " * 25,
     "x" * 1000, '<b>"quoted"</b>'],
)  # fmt: skip
def test_any_printable_sample_id_is_accepted_as_written(make_vcf, tmp_path, sample):
    gm = read(make_vcf(tmp_path / "x.vcf", samples=[sample], records=[("chr10", 100, "C", "T", ["0|1"])]))
    assert gm.samples == [sample]


def test_an_unusable_sample_not_selected_is_not_an_error(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["OK", "bad\x01"], records=[("chr10", 100, "C", "T", ["0|1", "0|0"])])
    assert read(path, samples=["OK"]).samples == ["OK"]


def test_samples_absent_from_the_file(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["S1"], records=[("chr10", 100, "C", "T", ["0|1"])])
    with pytest.raises(SampleError, match=r"sample\(s\) 'NA1', 'NA2' are not in .*x\.vcf.*bcftools query -l"):
        read(path, samples=["S1", "NA1", "NA2"])


def test_wrong_genome_build(make_vcf, tmp_path):
    # the same positions, but every REF differs from the KB: another build's coordinates
    path = make_vcf(tmp_path / "hg19.vcf", records=[("chr10", p, "A", "G", ["0|1"]) for p in (100, 200, 300, 400)])
    with pytest.raises(GenomeBuildError, match=r"hg19\.vcf: the REF base disagrees .* 4 of 4 .*another genome build"):
        read(path)


def test_a_single_ref_disagreement_is_a_warning_naming_the_position(make_vcf, tmp_path):
    records = [r for r in ALL_REF if r[1] != 300] + [("chr10", 300, "G", "T", ["0|1"])]
    gm = read(make_vcf(tmp_path / "x.vcf", records=records))
    warning = [w for w in gm.warnings if "REF disagrees" in w]
    assert len(warning) == 1 and "chr10:300" in warning[0] and "VCF REF G, KB REF C" in warning[0]
    assert gm.status[0, 0] == STATUS_CALLED
    # the record is not matched (README): its genotype is missing, and the call says why
    assert (gm.codes[0, 2] == -1).all() and gm.status[0, 2] == STATUS_MISSING
    assert [
        (s, g, reason) for s, g, text, no_call, reason in gm.read_findings() if "REF G disagrees" in text and not no_call
    ] == [("S1", "TOY", "unusable_record")]


def test_contig_names_matching_no_kb_chromosome_are_an_error_not_an_empty_result(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "scaffolds.vcf", records=[("scaffold_10", 100, "C", "T", ["0|1"])])
    with pytest.raises(
        VcfError,
        match=r"scaffolds\.vcf: no contig names a chromosome of the knowledge base "
        r"\(contigs found: scaffold_10.*nothing can be called.*--rename-chrs",
    ):
        read(path)


def test_one_file_without_kb_chromosomes_beside_a_good_one_is_a_warning(make_vcf, tmp_path):
    other = make_vcf(tmp_path / "chrY.vcf", records=[("chrY", 100, "C", "T", ["0|1"])])
    good = make_vcf(tmp_path / "good.vcf", records=ALL_REF)
    gm = read_genotypes([good, other], LOCI)
    assert any("chrY.vcf: no KB chromosome present" in w for w in gm.warnings)
    assert (gm.status[0, :5] == STATUS_CALLED).all()


@pytest.mark.parametrize("accession", ["NC_000010.11", "NC_000010.10"], ids=["GRCh38", "GRCh37"])
def test_refseq_accessions_name_their_chromosome(make_vcf, tmp_path, accession):
    records = [(accession, p, "C", "T", ["0|1"]) for p in (100, 200, 300, 400, 500)]
    gm = read(make_vcf(tmp_path / "refseq.vcf", records=records))
    assert (gm.status[0, :5] == STATUS_CALLED).all()
    assert [list(c) for c in gm.codes[0, :5]] == [[0, 1]] * 5


def test_refseq_contig_names_in_the_header_say_the_build(make_vcf, tmp_path):
    from pgx.vcf import header_evidence

    path = make_vcf(tmp_path / "refseq.vcf", records=[("NC_000010.10", 100, "C", "T", ["0|1"])])
    build, why = header_evidence(path)
    assert build == "GRCh37" and "RefSeq contig names" in why


def test_a_record_whose_format_lacks_gt_is_missing_with_a_warning(make_vcf, tmp_path):
    path = make_vcf(
        tmp_path / "nogt.vcf",
        samples=["S1", "S2"],
        records=[r[:4] + (["0|1", "1|1"],) for r in ALL_REF],
        header_extra=['##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">'],
    )
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("chr10\t300\t"))
    lines[at] = "\t".join(lines[at].split("\t")[:8] + ["DP", "12", "30"])
    path.write_text("\n".join(lines) + "\n")
    gm = read(path)
    assert any("nogt.vcf: chr10:300: the record has no GT" in w for w in gm.warnings)
    assert (gm.codes[:, 2] == -1).all()  # 300: missing for both samples
    assert [list(c) for c in gm.codes[1, [0, 1, 3, 4]]] == [[1, 1]] * 4  # the rest of the file is read


def test_a_first_record_without_gt_is_not_an_error_when_the_header_declares_gt(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "first.vcf", records=[r[:4] + (["0|1"],) for r in ALL_REF])
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines[at] = "\t".join(lines[at].split("\t")[:8] + ["PS", "7"])
    path.write_text("\n".join(lines) + "\n")
    gm = read(path)
    assert (gm.codes[0, 0] == -1).all() and (gm.status[0, 1:5] == STATUS_CALLED).all()


# --- indexes that belong to another file --------------------------------------------------


def _two_bgzipped_vcfs(make_vcf, tmp_path, index="tbi"):
    mine = make_vcf(tmp_path / "mine.vcf.gz", samples=["S1"], records=ALL_REF, bgzip=True, index=index)
    many = [("chr10", p, "C", "T", ["0|1"] * 40) for p in range(1000, 60000, 7)]
    other = make_vcf(tmp_path / "other.vcf.gz", samples=[f"O{i}" for i in range(40)], records=many, bgzip=True, index=index)
    return mine, other


@pytest.mark.parametrize("index", ["tbi", "csi"])
def test_an_index_copied_from_another_vcf_is_an_error_naming_the_fix(make_vcf, tmp_path, index):
    import shutil

    mine, other = _two_bgzipped_vcfs(make_vcf, tmp_path, index)
    shutil.copy(f"{other}.{index}", f"{mine}.{index}")
    os.utime(f"{mine}.{index}")  # as fresh as the VCF: the age check cannot catch it
    with pytest.raises(
        VcfError,
        match=rf"mine\.vcf\.gz: its index mine\.vcf\.gz\.{index} does not belong to this "
        r"file .*Re-index the file: tabix -f -p vcf .*mine\.vcf\.gz",
    ):
        read(mine)


@pytest.mark.parametrize("index", ["tbi", "csi"])
def test_the_index_check_accepts_a_files_own_index(make_vcf, tmp_path, index):
    from pgx.tabix import index_problem

    mine, other = _two_bgzipped_vcfs(make_vcf, tmp_path, index)
    assert index_problem(mine, Path(f"{mine}.{index}")) is None
    assert index_problem(other, Path(f"{other}.{index}")) is None
    assert index_problem(mine, Path(f"{other}.{index}")) is not None


def test_a_file_that_is_not_an_index_is_an_error(make_vcf, tmp_path):
    mine, _ = _two_bgzipped_vcfs(make_vcf, tmp_path)
    Path(f"{mine}.tbi").write_bytes(gzip.compress(b"not an index at all"))
    os.utime(f"{mine}.tbi")
    with pytest.raises(VcfError, match=r"does not belong to this file \(not a tabix"):
        read(mine)


@pytest.mark.shared_data
def test_an_index_of_another_1000_genomes_file_is_refused(shared_data, tmp_path):
    import shutil

    src = shared_data / "1kgp" / "GRCh38"
    shutil.copy(src / "TPMT.vcf.gz", tmp_path / "TPMT.vcf.gz")
    shutil.copy(src / "NUDT15.vcf.gz.tbi", tmp_path / "TPMT.vcf.gz.tbi")
    with pytest.raises(VcfError, match="does not belong to this file"):
        read(tmp_path / "TPMT.vcf.gz")


# --- size guards ------------------------------------------------------------------------


def test_a_header_line_beyond_the_limit_is_refused_without_reading_it(tmp_path):
    from pgx.vcf import MAX_LINE_BYTES

    path = tmp_path / "huge.vcf.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b"##fileformat=VCFv4.2\n##comment=")
        block = b"A" * (1 << 20)
        for _ in range((MAX_LINE_BYTES >> 20) + 1):
            fh.write(block)
        fh.write(b"\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n")
    with pytest.raises(VcfError, match=r"huge\.vcf\.gz, line 2: longer than 64 MiB; pgx refuses lines that long") as err:
        read(path)
    assert len(str(err.value)) < 1000  # the line is not echoed


def test_a_data_line_beyond_the_limit_is_refused(make_vcf, tmp_path, monkeypatch):
    import pgx.vcf.inspection

    monkeypatch.setattr(pgx.vcf.inspection, "MAX_LINE_BYTES", 4096)
    path = make_vcf(tmp_path / "long.vcf", records=ALL_REF)
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("chr10\t300\t"))
    lines[at] = lines[at].replace("\t.\tPASS\t.\t", "\t.\tPASS\tX=" + "1" * 5000 + "\t")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(VcfError, match=rf"long\.vcf, line {at + 1}: longer than"):
        read(path)


def test_a_header_beyond_the_limit_is_refused(make_vcf, tmp_path, monkeypatch):
    import pgx.vcf.inspection

    monkeypatch.setattr(pgx.vcf.inspection, "MAX_HEADER_BYTES", 10_000)
    path = make_vcf(tmp_path / "many.vcf", records=ALL_REF, header_extra=[f"##note{i}=x" for i in range(2000)])
    with pytest.raises(VcfError, match=r"many\.vcf: the header is larger than"):
        read(path)


def test_index_older_than_its_vcf_is_not_used(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf.gz", records=ALL_REF, bgzip=True, index=True)
    index = Path(f"{path}.tbi")
    stat = index.stat()
    os.utime(index, (stat.st_atime - 3600, stat.st_mtime - 3600))
    gm = read(path)
    assert any("x.vcf.gz: index x.vcf.gz.tbi is older than the VCF" in w and "streaming" in w for w in gm.warnings)
    assert (gm.status[0, :5] == STATUS_CALLED).all()


def test_malformed_pos_names_the_line(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", records=ALL_REF)
    text = path.read_text().replace("chr10\t300\t", "chr10\tthree hundred\t")
    path.write_text(text)
    lineno = text.splitlines().index(next(line for line in text.splitlines() if "three hundred" in line)) + 1
    with pytest.raises(VcfError, match=rf"x\.vcf, line {lineno}: malformed VCF record \(POS is not a number"):
        read(path)


def test_wrong_number_of_genotype_columns(make_vcf, tmp_path):
    path = make_vcf(tmp_path / "x.vcf", samples=["A", "B"], records=[("chr10", 100, "C", "T", ["0|1", "0|0"])])
    path.write_text(path.read_text().rstrip("\n") + "\tEXTRA\n")
    with pytest.raises(VcfError, match=r"x\.vcf, line \d+: malformed VCF record \(12 columns, but the header names 2"):
        read(path)


def test_a_gt_with_more_than_two_alleles_is_missing_with_a_warning(make_vcf, tmp_path):
    records = [("chr10", 100, "C", "T", ["0/1/1", "0/1"])] + [r[:4] + (["0/0", "0/0"],) for r in ALL_REF[1:]]
    gm = read(make_vcf(tmp_path / "triploid.vcf", samples=["S1", "S2"], records=records))
    assert any("triploid.vcf" in w and "chr10:100" in w and "more than two alleles" in w for w in gm.warnings)
    assert (gm.codes[0, 0] == -1).all()  # S1 at 100: missing, not guessed
    assert list(gm.codes[1, 0]) == [0, 1]  # S2 untouched


def test_haploid_autosomal_genotypes_are_read_and_flagged_by_the_caller(make_vcf, tmp_path):
    from pgx.genotypes import HAPLOID

    records = [r[:4] + (["1"],) for r in ALL_REF]
    gm = read(make_vcf(tmp_path / "haploid.vcf", records=records))
    assert (gm.codes[0, :5, 1] == HAPLOID).all()


def test_an_unparsable_gt_is_an_error_naming_the_record(make_vcf, tmp_path):
    records = [("chr10", 100, "C", "T", ["x/y"])] + ALL_REF[1:]
    with pytest.raises(VcfError, match=r"garbage\.vcf: the record at chr10:100 cannot be parsed .*malformed"):
        read(make_vcf(tmp_path / "garbage.vcf", records=records))


def test_a_gt_naming_an_allele_the_record_lacks_is_missing_with_a_warning(make_vcf, tmp_path):
    records = [("chr10", 100, "C", "T", ["0/5", "0/1"])] + [r[:4] + (["0/0", "0/0"],) for r in ALL_REF[1:]]
    gm = read(make_vcf(tmp_path / "index.vcf", samples=["S1", "S2"], records=records))
    assert any("index.vcf: chr10:100: 1 genotype(s) naming an allele the record does not have" in w for w in gm.warnings)
    assert (gm.codes[0, 0] == -1).all()  # S1: missing, not half-read
    assert list(gm.codes[1, 0]) == [0, 1]


def test_a_duplicated_record_with_another_dosage_makes_the_genotype_missing(make_vcf, tmp_path, caplog):
    records = [
        ("chr10", 100, "C", "T", ["0/1", "0/1"]),
        ("chr10", 100, "C", "T", ["1/1", "0/1"]),  # S1 disagrees with the first record, S2 does not
        *[r[:4] + (["0/0", "0/0"],) for r in ALL_REF[1:]],
    ]
    gm = read(make_vcf(tmp_path / "dup.vcf", samples=["S1", "S2"], records=records))
    assert any("dup.vcf: chr10:100: 1 sample(s) have an allele of this record in another number" in w for w in gm.warnings)
    assert any("another number of copies" in r.getMessage() for r in caplog.records)  # logged, as `pgx run` shows it
    assert (gm.codes[0, 0] == -1).all()
    assert list(gm.codes[1, 0]) == [0, 1]


def test_split_multiallelic_records_are_not_taken_for_disagreeing_duplicates(make_vcf, tmp_path):
    loci = loci_table([("TOY", "chr10", 100, "C", "T,G")])
    split = make_vcf(
        tmp_path / "split.vcf",
        samples=["S1"],
        records=[("chr10", 100, "C", "T", ["1/0"]), ("chr10", 100, "C", "G", ["0/1"])],
    )
    gm = read_genotypes([split], loci)
    assert sorted(gm.codes[0, 0].tolist()) == [1, 2]
    assert not any("another number" in w for w in gm.warnings)


def test_an_unparsable_record_on_an_undeclared_contig_is_an_error_not_a_crash(tmp_path):
    """Found by fuzzing: htslib adding an undeclared contig to the header while parsing a
    record it then rejects crashed cyvcf2 (SIGSEGV). Run in a child process, so a
    regression fails this test instead of killing the test session."""
    import subprocess
    import sys

    path = tmp_path / "crash.vcf"
    path.write_text(
        "##fileformat=VCFv4.2\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        "chr10\t100\t.\tC\tT\t.\tPASS\t.\tGT\t1|.\n"
        "chr10\t200\t.\tG\tA\t.\tPASS\t.\tGT:GT\t:\n"
    )
    script = (
        "import sys\nfrom pgx.errors import PgxError\nfrom pgx.vcf import read_genotypes\n"
        "from tests.conftest import loci_table\n"
        "loci = loci_table([('TOY', 'chr10', 100, 'C', 'T'), ('TOY', 'chr10', 200, 'G', 'A')])\n"
        "try:\n    read_genotypes([sys.argv[1]], loci)\n    print('result')\n"
        "except PgxError as exc:\n    print('pgx error:', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert result.returncode == 0, f"the reader crashed (exit {result.returncode}): {result.stderr[-500:]}"
    assert "pgx error: " in result.stdout and "chr10:200 cannot be parsed" in result.stdout
