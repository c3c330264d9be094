"""Checking a batch before anything runs (``pgx.input_check.check_batch``), the workflow's
``check_inputs`` rule that calls it, and the lab-staff command ``pgx batch``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pgx.batch import Progress, default_name, find_vcfs
from pgx.input_check import check_batch
from tests.conftest import kb_loci_for

REPO = Path(__file__).resolve().parents[1]
DEMO_VCF = REPO / "resources" / "demo" / "simulated.vcf.gz"
GRCH37_CHR6 = "##contig=<ID=chr6,length=171115067>"  # TPMT's chromosome, GRCh37 length
GRCH38_CHR6 = "##contig=<ID=chr6,length=170805979>"


def tpmt_vcf(make_vcf, path: Path, samples: list[str], **kw) -> Path:
    """Every TPMT KB position, reference for every sample."""
    return make_vcf(path, samples=samples, loci=kb_loci_for("TPMT"), **kw)


def check(vcfs, tmp_path, **kw) -> tuple[list[str], str]:
    report = tmp_path / "checks.txt"
    problems = check_batch(vcfs, report, genes=kw.pop("genes", ["TPMT"]), **kw)
    return problems, report.read_text(encoding="utf-8")


def run_pgx(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgx", *args], capture_output=True, text=True, cwd=cwd, timeout=900)


# --- check_batch ---------------------------------------------------------------------------


def test_every_problem_of_a_three_file_batch_is_reported_at_once(make_vcf, tmp_path):
    """A truncated bgzip, a sample in two files, and an unusable sample ID: three files,
    three problems, each naming its file, from one call."""
    cut = tpmt_vcf(make_vcf, tmp_path / "a.vcf.gz", ["A1"], bgzip=True)
    cut.write_bytes(cut.read_bytes()[:-40])
    tpmt_vcf(make_vcf, tmp_path / "b.vcf", ["B1", "SAMPLE1"])
    tpmt_vcf(make_vcf, tmp_path / "c.vcf", ["bad\x07id", "SAMPLE1"])
    vcfs = [tmp_path / "a.vcf.gz", tmp_path / "b.vcf", tmp_path / "c.vcf"]

    problems, report = check(vcfs, tmp_path)

    assert len(problems) == 3, problems
    truncated, unsafe, duplicate = problems
    assert "a.vcf.gz" in truncated and "truncated" in truncated and "bgzip" in truncated
    assert "c.vcf" in unsafe and "'bad\\x07id'" in unsafe and "bcftools reheader" in unsafe
    assert "c.vcf" in duplicate and "b.vcf" in duplicate and "'SAMPLE1'" in duplicate
    assert "TPMT" in duplicate and "distinct IDs" in duplicate
    assert "# result\t3 problem(s)" in report
    assert sum(line.startswith("# problem\t") for line in report.splitlines()) == 3


def test_a_clean_batch_has_no_problems_and_a_per_gene_table(make_vcf, tmp_path):
    vcf = tpmt_vcf(make_vcf, tmp_path / "x.vcf.gz", ["S1", "S2"], bgzip=True, index=True)
    problems, report = check([vcf], tmp_path, batch="b1")
    assert problems == []
    lines = report.splitlines()
    assert lines[0] == "# batch\tb1" and lines[1] == "# result\tok"
    assert "# samples\t2" in lines
    assert any(line.startswith("# file\t") and "bgzip, indexed (x.vcf.gz.tbi)" in line for line in lines)
    assert f"TPMT\t{len(kb_loci_for('TPMT'))}\t0\t0" in lines


def test_files_that_split_the_genome_may_share_samples(make_vcf, tmp_path):
    """A cohort split by chromosome: the same samples in two files, different genes."""
    a = tpmt_vcf(make_vcf, tmp_path / "chr6.vcf", ["S1", "S2"])
    b = make_vcf(tmp_path / "chr10.vcf", samples=["S1", "S2"], loci=kb_loci_for("CYP2C19"))
    problems, report = check([a, b], tmp_path, genes=["TPMT", "CYP2C19"])
    assert problems == []
    assert "# samples\t2" in report


def test_the_same_file_twice_under_two_names_is_a_problem_even_though_it_agrees(make_vcf, tmp_path):
    a = tpmt_vcf(make_vcf, tmp_path / "patient.vcf", ["SAMPLE1"])
    b = shutil.copy(a, tmp_path / "patient_copy.vcf")
    problems, _ = check([a, b], tmp_path)
    assert len(problems) == 1
    assert "patient_copy.vcf" in problems[0] and "patient.vcf" in problems[0]
    assert "keep only one of the files" in problems[0]


def test_two_patients_called_sample1_with_variants_at_different_positions(make_vcf, tmp_path):
    """Variant-only single-sample VCFs: no position in common, but the same gene, so the
    two people would be merged into one chimera if this passed."""
    loci = kb_loci_for("TPMT").reset_index(drop=True)
    first, second = loci.iloc[0], loci.iloc[1]
    alt = lambda row: str(row.alts).split(",")[0]  # noqa: E731
    a = make_vcf(
        tmp_path / "lab1.vcf", samples=["SAMPLE1"], records=[(first.chrom, int(first.pos), first.ref, alt(first), ["0/1"])]
    )
    b = make_vcf(
        tmp_path / "lab2.vcf", samples=["SAMPLE1"], records=[(second.chrom, int(second.pos), second.ref, alt(second), ["0/1"])]
    )
    problems, _ = check([a, b], tmp_path, assume_reference=True)
    assert len(problems) == 1 and "'SAMPLE1'" in problems[0] and "lab1.vcf" in problems[0]


def test_a_sample_id_duplicated_inside_one_file(make_vcf, tmp_path):
    vcf = tpmt_vcf(make_vcf, tmp_path / "x.vcf", ["S1", "S1"])
    problems, _ = check([vcf], tmp_path)
    assert len(problems) == 1 and "more than once" in problems[0] and "x.vcf" in problems[0]


def test_a_file_with_an_unusable_id_is_still_checked_for_truncation(make_vcf, tmp_path):
    vcf = tpmt_vcf(make_vcf, tmp_path / "x.vcf.gz", ["ok", "bell\x07"], bgzip=True)
    vcf.write_bytes(vcf.read_bytes()[:-28])
    problems, _ = check([vcf], tmp_path)
    assert any("'bell\\x07'" in p and "control character" in p for p in problems)
    assert any("truncated" in p for p in problems)


def test_missing_file_and_not_a_vcf_are_both_reported(tmp_path):
    junk = tmp_path / "notes.vcf"
    junk.write_text("hello\n")
    problems, _ = check([tmp_path / "gone.vcf.gz", junk], tmp_path)
    assert len(problems) == 2
    assert "gone.vcf.gz" in problems[0] and "no such file" in problems[0]
    assert "notes.vcf" in problems[1] and "not a VCF" in problems[1]


def test_files_on_two_genome_builds(make_vcf, tmp_path):
    a = tpmt_vcf(make_vcf, tmp_path / "b38.vcf", ["S1"], contigs=["chr6"], header_extra=[GRCH38_CHR6])
    b = tpmt_vcf(make_vcf, tmp_path / "b37.vcf", ["S2"], contigs=[], header_extra=[GRCH37_CHR6])
    problems, _ = check([a, b], tmp_path)
    assert any("different genome builds" in p and "b37.vcf: GRCh37" in p for p in problems), problems


def test_ref_bases_of_another_build_are_a_problem(make_vcf, tmp_path):
    loci = kb_loci_for("TPMT")
    records = [(row.chrom, int(row.pos), "A" if row.ref[0] != "A" else "C", ".", ["0/0"]) for row in loci.itertuples()]
    vcf = make_vcf(tmp_path / "other_build.vcf", records=records)
    problems, _ = check([vcf], tmp_path)
    assert len(problems) == 1 and "other_build.vcf" in problems[0] and "another genome build" in problems[0]


def test_variant_only_vcf_gets_a_note_about_assume_reference(make_vcf, tmp_path):
    row = kb_loci_for("TPMT").iloc[0]
    vcf = make_vcf(tmp_path / "x.vcf", records=[(row.chrom, int(row.pos), row.ref, str(row.alts).split(",")[0], ["0/1"])])
    problems, report = check([vcf], tmp_path)
    assert problems == []
    assert "--assume-reference" in report
    problems, report = check([vcf], tmp_path, assume_reference=True)
    assert f"TPMT\t{len(kb_loci_for('TPMT'))}\t0\t0" in report.splitlines()


def test_genes_no_file_covers_are_named_and_stay_missing_even_with_assume_reference(make_vcf, tmp_path):
    vcf = tpmt_vcf(make_vcf, tmp_path / "x.vcf", ["S1"])
    n = len(kb_loci_for("CYP2C19"))
    for assume_reference in (False, True):
        _, report = check([vcf], tmp_path, genes=["TPMT", "CYP2C19"], assume_reference=assume_reference)
        assert (
            "no file has any record in or near (within 20 kb of its positions) CYP2C19: these genes will be reported as not called"
            in report
        )
        assert f"CYP2C19\t{n}\t1\t{n}" in report.splitlines()


def test_missing_counts_match_the_reader_s_union_of_the_files(make_vcf, tmp_path):
    """The per-gene table is what the run will see: the union over files, with the
    reader's --assume-reference rule (fill only genes some file of the sample covers)."""
    from pgx.genotypes import STATUS_MISSING
    from pgx.kb import load_kb
    from pgx.vcf import iter_genotype_chunks

    tpmt, cyp = kb_loci_for("TPMT").reset_index(drop=True), kb_loci_for("CYP2C19").reset_index(drop=True)
    alt = lambda row: str(row.alts).split(",")[0]  # noqa: E731
    files = [
        make_vcf(
            tmp_path / "a.vcf",
            samples=["S1", "S2"],
            records=[(r.chrom, int(r.pos), r.ref, alt(r), ["0/1", "./."]) for r in tpmt.iloc[:3].itertuples()],
        ),
        make_vcf(
            tmp_path / "b.vcf",
            samples=["S2", "S3"],
            records=[(r.chrom, int(r.pos), r.ref, alt(r), ["0|1", "0/0"]) for r in cyp.iloc[:2].itertuples()],
        ),
        make_vcf(tmp_path / "c.vcf", samples=["S4"], loci=cyp),
    ]
    genes = ["CYP2C19", "TPMT"]
    loci = load_kb().loci(genes)
    for assume_reference in (False, True):
        _, report = check(files, tmp_path, genes=genes, assume_reference=assume_reference)
        expected = {}
        for gm in iter_genotype_chunks(files, loci, chunk_size=2, assume_reference=assume_reference):
            missing = gm.status == STATUS_MISSING
            for g in genes:
                m = missing[:, gm.gene_columns(g)]
                a, b = expected.get(g, (0, 0))
                expected[g] = (a + int(m.any(axis=1).sum()), b + int(m.sum()))
        got = {line.split("\t")[0]: tuple(map(int, line.split("\t")[2:])) for line in report.splitlines()[-2:]}
        assert got == expected, assume_reference


def test_the_demo_batch_passes():
    problems = check_batch([DEMO_VCF], Path("/dev/null"), genes=["CYP2C19", "CYP2C9", "TPMT"])
    assert problems == []


# --- pgx batch: the parts ------------------------------------------------------------------


def test_find_vcfs_takes_a_folder_s_vcfs_and_reports_empty_folders(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("b.vcf.gz", "a.vcf", "a.vcf.gz.tbi", "notes.txt", ".hidden.vcf"):
        (tmp_path / "in" / name).write_text("")
    (tmp_path / "empty").mkdir()
    vcfs, problems = find_vcfs([tmp_path / "in", tmp_path / "empty", tmp_path / "nothere.vcf"])
    assert [v.name for v in vcfs] == ["a.vcf", "b.vcf.gz"]
    assert len(problems) == 2 and "no VCF files" in problems[0] and "no such file" in problems[1]


def test_find_vcfs_wants_names_the_workflow_accepts(tmp_path):
    for name in ("UPPER.VCF.GZ", "notes.txt"):
        (tmp_path / name).write_text("")
    vcfs, problems = find_vcfs([tmp_path, tmp_path / "notes.txt"])
    assert [v.name for v in vcfs] == ["UPPER.VCF.GZ", "notes.txt"]
    assert "UPPER.VCF.GZ: the file name must end in lower case" in problems[0]
    assert "notes.txt: the file name must end like a VCF" in problems[1]


@pytest.mark.parametrize(
    "given, name",
    [("/data/incoming/lab 2025-06", "lab_2025-06"), ("/x/patient1.vcf.gz", "patient1"), ("/x/.hidden", "hidden")],
)
def test_default_batch_name(given, name):
    assert default_name([Path(given)]) == name


def test_progress_lines_from_snakemake_output(capsys):
    import io

    out = io.StringIO()
    p = Progress(out)
    for line in [
        "localrule call:",
        "    jobid: 1",
        "Finished jobid: 1 (Rule: call)",
        "2 of 6 steps (33%) done",
        "rule reports:",
        "    jobid: 3",
        "Error in rule reports:",
        "    log: logs/b1/reports.log (check log file(s) for error details)",
    ]:
        p.feed(line)
    text = out.getvalue()
    assert "calling genotypes" in text and "[2/6] called genotypes" in text
    assert p.failed == [("reports", ["logs/b1/reports.log"])]


# --- the workflow's first rule ---------------------------------------------------------------


def test_check_inputs_rule_fails_listing_every_problem(make_vcf, tmp_path):
    cut = tpmt_vcf(make_vcf, tmp_path / "a.vcf.gz", ["A1"], bgzip=True)
    cut.write_bytes(cut.read_bytes()[:-40])
    tpmt_vcf(make_vcf, tmp_path / "b.vcf", ["B1", "SAMPLE1"])
    tpmt_vcf(make_vcf, tmp_path / "c.vcf", ["bad\x07id", "SAMPLE1"])
    shutil.copytree(REPO / "config", tmp_path / "config")
    (tmp_path / "config" / "samples.tsv").write_text("batch\tvcf\nb1\ta.vcf.gz\nb1\tb.vcf\nb1\tc.vcf\n")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "results/b1/checks.txt", "--cores", "1"]
    result = subprocess.run([*cmd, "--config", "genes=[TPMT]"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "b1" / "check_inputs.log").read_text()
    assert "3 problem(s) with the input files of batch b1" in log
    assert "a.vcf.gz: the BGZF file is truncated" in log and "'bad\\x07id'" in log and "'SAMPLE1'" in log


# --- pgx batch, end to end -------------------------------------------------------------------


def test_pgx_batch_on_a_bad_batch_exits_2_listing_every_problem(make_vcf, tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    cut = tpmt_vcf(make_vcf, incoming / "a.vcf.gz", ["A1"], bgzip=True)
    cut.write_bytes(cut.read_bytes()[:-40])
    tpmt_vcf(make_vcf, incoming / "b.vcf", ["B1", "SAMPLE1"])
    tpmt_vcf(make_vcf, incoming / "c.vcf", ["bad\x07id", "SAMPLE1"])
    result = run_pgx("batch", str(incoming), "--out", str(tmp_path / "results"), "--genes", "TPMT", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert "pgx found 3 problem(s); nothing was run" in err
    assert "1. " in err and "2. " in err and "3. " in err
    assert "a.vcf.gz" in err and "'bad\\x07id'" in err and "'SAMPLE1'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "results" / "incoming").exists()  # nothing was run


def test_pgx_batch_with_a_bad_name_and_a_missing_input(tmp_path):
    result = run_pgx("batch", str(tmp_path / "nothere"), "--name", "../up", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert result.returncode == 2
    assert "'../up' cannot be a batch name" in result.stderr and "nothere: no such file" in result.stderr


@pytest.mark.slow
def test_pgx_batch_runs_the_demo_end_to_end(tmp_path):
    """The real workflow (Snakemake) on the demo VCF into a temporary results folder."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for f in DEMO_VCF.parent.glob("simulated.vcf.gz*"):
        shutil.copy(f, incoming / f.name)
    results = tmp_path / "results"
    result = run_pgx("batch", str(incoming), "--name", "demo", "--out", str(results), "--cores", "2", cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    batch = results / "demo"
    pdfs = sorted((batch / "reports").glob("*.pdf"))
    assert len(pdfs) == 17
    assert f"{batch / 'reports'}/  (17 PDF files)" in out
    assert f"{batch}/  (calls.parquet, recommendations.parquet, genotypes.parquet, provenance.parquet)" in out
    assert str(results / "_cohort") in out
    if (batch / "qc_report.html").exists():
        assert str(batch / "qc_report.html") in out
    assert "[1/" in out and "checked the VCF files" in out and "wrote the patient PDFs" in out
    assert "Genome build: GRCh38 (the ##contig lengths in the VCF header are GRCh38's" in out
    # the project's sample sheet is untouched; the run's own sheet names the batch's VCF
    sheet = (results / ".runs" / "demo" / "config" / "samples.tsv").read_text()
    assert f"demo\t{incoming / 'simulated.vcf.gz'}" in sheet
    assert (batch / "checks.txt").read_text().startswith("# batch\tdemo\n# result\tok\n")
    assert (results / "_cohort" / "calls" / "batch=demo" / "part-0.parquet").is_file()

    again = run_pgx("batch", str(incoming), "--name", "demo", "--out", str(results), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing had to be redone" in again.stdout
