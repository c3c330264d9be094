"""Scatter by sample chunk (pgx/scatter.py and the workflow's prepare / call_chunk / call):
the gathered tables are byte-identical to the single-process run with the same chunk size,
and a chunk job never reads a VCF."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pgx import scatter
from pgx.kb import load_kb
from pgx.pipeline import TABLES, run_batch
from pgx.simulate import simulate_cohort

REPO = Path(__file__).resolve().parents[1]
DEMO_VCF = REPO / "resources" / "demo" / "simulated.vcf.gz"


def same_bytes(a: Path, b: Path) -> list[str]:
    """The files of the batch's run that differ between folders ``a`` and ``b``."""
    names = [f"{t}.parquet" for t in TABLES] + ["run.json"]
    return [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]


def options(chunk_size: int, **kw) -> dict:
    base = dict(batch="b", assume_reference=False, genes=None, chunk_size=chunk_size, outside_calls=None,
                build="auto", overlay="auto", combinations=False)  # fmt: skip
    return {**base, **kw}


def scatter_run(vcfs, tmp: Path, kb, **opts) -> Path:
    """prepare, every chunk, gather: as the workflow's jobs do, each from files only."""
    expected = scatter.n_chunks(scatter.count_samples(vcfs), opts["chunk_size"])
    scatter.prepare(vcfs, tmp / "work", kb=kb, expected_chunks=expected, **opts)
    parts = []
    for k in range(expected):
        scatter.call_chunk_job(tmp / "work", k, tmp / "parts" / str(k), kb=kb)
        parts.append(tmp / "parts" / str(k))
    scatter.gather(tmp / "work", parts, tmp / "gathered", kb=kb)
    return tmp / "gathered"


@pytest.fixture(scope="module")
def split_cohort(tmp_path_factory) -> list[Path]:
    """One cohort split across two files by gene (the same 11 sample IDs in both), unphased
    in one: the reader unions the files per sample."""
    kb = load_kb()
    root = tmp_path_factory.mktemp("split")
    a, _ = simulate_cohort(kb, ["CYP2C19", "TPMT"], 11, root / "a", seed=3)
    b, _ = simulate_cohort(kb, ["CYP2C9", "DPYD", "SLCO1B1"], 11, root / "b", phased=False, seed=4)
    return [a, b]


@pytest.mark.parametrize("chunk_size", [1, 4, 11, 50])
def test_gathered_tables_equal_the_single_process_run(split_cohort, tmp_path, chunk_size):
    kb = load_kb()
    opts = options(chunk_size)
    single = tmp_path / "single"
    run_batch(split_cohort, single, reports=False, kb=kb, **opts)
    gathered = scatter_run(split_cohort, tmp_path, kb, **opts)
    assert same_bytes(single, gathered) == []
    assert len(list((tmp_path / "parts").iterdir())) == scatter.n_chunks(11, chunk_size)


def test_gathered_tables_with_outside_calls_and_reference_assumed(tmp_path):
    kb = load_kb()
    outside = tmp_path / "outside.tsv"
    outside.write_text("sample_id\tgene\tdiplotype\nnot_in_batch\tCYP2D6\t*1/*4\n")
    samples = subprocess.run(
        [sys.executable, "-c", f"from pgx.vcf import header_sample_ids; print(header_sample_ids({str(DEMO_VCF)!r})[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    outside.write_text(outside.read_text() + f"{samples}\tCYP2D6\t*1/*4\n")
    opts = options(5, assume_reference=True, outside_calls=outside)
    single = tmp_path / "single"
    run_batch([DEMO_VCF], single, reports=False, kb=kb, **opts)
    assert same_bytes(single, scatter_run([DEMO_VCF], tmp_path, kb, **opts)) == []


def test_chunk_jobs_do_not_read_the_vcfs(split_cohort, tmp_path):
    """After prepare, the VCFs may be gone: chunks and gather read only the work folder."""
    kb = load_kb()
    vcfs = []
    for v in split_cohort:  # private copies this test may delete
        dst = tmp_path / "in" / v.parent.name / v.name
        dst.parent.mkdir(parents=True)
        shutil.copy(v, dst)
        shutil.copy(f"{v}.tbi", f"{dst}.tbi")
        vcfs.append(dst)
    opts = options(4)
    expected = scatter.n_chunks(scatter.count_samples(vcfs), 4)
    scatter.prepare(vcfs, tmp_path / "work", kb=kb, expected_chunks=expected, **opts)
    shutil.rmtree(tmp_path / "in")
    parts = [tmp_path / "parts" / str(k) for k in range(expected)]
    for k, part in enumerate(parts):
        scatter.call_chunk_job(tmp_path / "work", k, part, kb=kb)
    scatter.gather(tmp_path / "work", parts, tmp_path / "out", kb=kb)
    assert (tmp_path / "out" / "run.json").is_file()


def test_prepare_refuses_a_changed_sample_count(split_cohort, tmp_path):
    with pytest.raises(Exception, match="another number of samples"):
        scatter.prepare(split_cohort, tmp_path / "work", kb=load_kb(), expected_chunks=7, **options(4))


def test_gather_refuses_a_part_of_another_run(split_cohort, tmp_path):
    kb = load_kb()
    scatter_run(split_cohort, tmp_path / "one", kb, **options(4))
    scatter_run(split_cohort, tmp_path / "two", kb, **options(4, genes=["TPMT"]))
    parts = [tmp_path / "one" / "parts" / "0", tmp_path / "two" / "parts" / "1", tmp_path / "one" / "parts" / "2"]
    with pytest.raises(Exception, match="another run"):
        scatter.gather(tmp_path / "one" / "work", parts, tmp_path / "mixed", kb=kb)
    assert not (tmp_path / "mixed" / "run.json").exists()


@pytest.mark.slow
def test_workflow_scatter_equals_pgx_run(tmp_path, monkeypatch):
    """The workflow with chunk_size 5 on the demo: 3 chunk jobs, and tables byte-identical
    to run_batch (what `pgx run` calls) with the same chunk size."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copytree(REPO / "resources" / "demo", tmp_path / "resources" / "demo")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2",
           "--directory", str(tmp_path), "--config", "chunk_size=5", "reports=False"]  # fmt: skip
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    n = scatter.n_chunks(scatter.count_samples([DEMO_VCF]), 5)
    assert n > 1
    assert len(list((tmp_path / "logs" / "demo" / "call_chunk").glob("*.log"))) == n
    single = tmp_path / "single"
    monkeypatch.chdir(tmp_path)  # the genotypes name their source file as the sheet gives it
    sheet = [line.split("\t") for line in (tmp_path / "config" / "samples.tsv").read_text().splitlines()]
    row = dict(zip(sheet[0], sheet[1]))  # the demo batch's row, as the workflow reads it
    opts = options(
        5, batch="demo", outside_calls=row.get("outside_calls") or None, outside_sample=row.get("outside_calls_sample") or None
    )
    run_batch([Path(row["vcf"])], single, reports=False, **opts)
    assert same_bytes(single, tmp_path / "results" / "demo") == []
    assert not (tmp_path / "results" / "demo" / ".scatter").exists()  # the work files are removed


def test_pdfs_by_chunk_equal_the_single_process_reports(tmp_path):
    """report_chunk for every chunk, then the gather: the same files and index.tsv as
    render_batch_reports (what `pgx run` writes), each PDF with the same bytes."""
    from pgx.pipeline import render_batch_reports

    kb = load_kb()
    results = tmp_path / "results"
    run_batch([DEMO_VCF], results, reports=False, kb=kb, **options(5))
    single = render_batch_reports(results, tmp_path / "single", workers=1)
    n = scatter.n_chunks(scatter.count_samples([DEMO_VCF]), 5)
    chunks = [tmp_path / "chunks" / str(k) for k in range(n)]
    for k, chunk in enumerate(chunks):
        scatter.render_report_chunk(results, k, 5, chunk, workers=1)
    gathered = scatter.gather_reports(results, chunks, tmp_path / "gathered")
    assert sorted(p.name for p in gathered.iterdir()) == sorted([p.name for p in single] + ["index.tsv"])
    assert (gathered / "index.tsv").read_bytes() == (tmp_path / "single" / "index.tsv").read_bytes()
    for pdf in single:
        assert (gathered / pdf.name).read_bytes() == pdf.read_bytes(), pdf.name
    # a chunk of another run is refused, and the reports folder is left as it was
    run_batch([DEMO_VCF], results, reports=False, kb=kb, **options(5, genes=["TPMT"]))
    with pytest.raises(Exception, match="another run"):
        scatter.gather_reports(results, chunks, tmp_path / "gathered")
    assert (gathered / "index.tsv").is_file()


def test_rows_of_samples_equal_a_filtered_read(split_cohort, tmp_path):
    """A report chunk's rows, read row group by row group (skipping those that hold none of
    its samples), are the rows and values a filtered read of the whole table gives."""
    import pyarrow.parquet as pq

    kb = load_kb()
    out = tmp_path / "b"
    run_batch(split_cohort, out, **{**options(3), "kb": kb, "reports": False})
    for table in ("calls", "recommendations", "genotypes"):
        path = out / f"{table}.parquet"
        assert pq.ParquetFile(path).num_row_groups >= 4  # one per chunk of 3 samples at least
        every = pq.read_table(path, columns=["sample_id"]).column("sample_id").unique().to_pylist()
        for samples in (every[3:6], [every[0], every[-1]], every, []):
            got = scatter.rows_of_samples(path, samples)
            want = pq.read_table(path, filters=[("sample_id", "in", samples)]) if samples else pq.read_table(path).slice(0, 0)
            assert got.num_rows == want.num_rows and (got.num_rows > 0) == bool(samples)
            assert got.to_pylist() == want.to_pylist(), (table, samples)
            some = ["sample_id", pq.read_schema(path).names[-1]]  # only the columns asked for
            assert scatter.rows_of_samples(path, samples, some).to_pylist() == want.select(some).to_pylist()
