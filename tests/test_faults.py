"""Faults: a run killed at any moment, two batches at once, a full disk, a read-only
folder, stale reports, patient data in temporary files. Each test makes the fault for
real (SIGKILL, a tmpfs that fills up, a read-only mount in a user namespace, a file-size
limit) where the machine allows it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pgx.cohort import MANIFEST_NAME, build_cohort
from pgx.errors import IncompleteRunError
from pgx.kb import load_kb
from pgx.outputs import clean_stale_temporaries, run_problem, temporary_name, verify_run
from pgx.pipeline import render_batch_reports, run_batch
from pgx.sample_ids import INDEX_NAME, read_file_index
from pgx.simulate import simulate_cohort
from tests.conftest import write_vcf

REPO = Path(__file__).resolve().parents[1]
GENES = ["TPMT", "CYP2C19"]


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.fixture(scope="module")
def cohort(kb, tmp_path_factory):
    """A 40-sample VCF and a 3-sample VCF of the same genes."""
    d = tmp_path_factory.mktemp("cohort")
    big, _ = simulate_cohort(kb, GENES, 40, d / "big", seed=2)
    small, _ = simulate_cohort(kb, GENES, 3, d / "small", seed=4)
    return big, small


def pgx_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pgx", *args]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- 9: workers die with their parent ---------------------------------------------------


def test_report_workers_die_when_pgx_is_killed(cohort, tmp_path):
    psutil = pytest.importorskip("psutil")
    big, _ = cohort
    proc = subprocess.Popen(pgx_command("run", str(big), "--out", str(tmp_path / "out"), "--genes", *GENES), cwd=tmp_path)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    workers = []
    while time.monotonic() < deadline and proc.poll() is None:
        workers = [c for c in parent.children(recursive=True) if c.is_running()]
        if len(workers) >= 2:
            break
        time.sleep(0.05)
    if len(workers) < 2:
        proc.kill()
        pytest.skip("the run ended before its report workers could be seen (a very fast machine)")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived pgx: {[p.pid for p in alive]}"


def test_a_worker_whose_parent_is_already_gone_exits(tmp_path):
    """The race: the parent dies before the worker arms the death signal."""
    script = textwrap.dedent(
        """
        import os, sys
        from pgx.processes import die_with_parent
        die_with_parent(int(sys.argv[1]))
        print("still here")
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(dead_pid())], capture_output=True, text=True)
    assert result.returncode == 1 and "still here" not in result.stdout


# --- 10: a run is committed as one unit --------------------------------------------------------

KILL_DURING_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    import pgx.outputs
    real_replace = os.replace
    moved = []
    def replace_then_die(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(".parquet") and os.path.dirname(os.path.abspath(dst)) == os.path.abspath(sys.argv[2]):
            moved.append(dst)
            if len(moved) == int(sys.argv[4]):
                os.kill(os.getpid(), signal.SIGKILL)  # between two tables' renames
    pgx.outputs.os.replace = replace_then_die
    from pgx.pipeline import run_batch
    run_batch([sys.argv[1]], sys.argv[2], batch=sys.argv[3], reports=False, genes=["TPMT", "CYP2C19"])
    """
)


@pytest.mark.parametrize("moved", [1, 3, 4], ids=["after_first_table", "after_third", "before_marker"])
def test_a_kill_while_committing_never_leaves_two_runs_that_look_complete(cohort, tmp_path, moved):
    big, small = cohort
    results = tmp_path / "results"
    run_batch([small], results / "lab", batch="lab", reports=True, genes=GENES)
    assert (results / "lab" / "reports").is_dir()
    killed = subprocess.run([sys.executable, "-c", KILL_DURING_COMMIT, str(big), str(results / "lab"), "lab", str(moved)])
    assert killed.returncode == -signal.SIGKILL
    genotypes = pq.read_table(results / "lab" / "genotypes.parquet").to_pandas()
    assert genotypes["sample_id"].nunique() == 40  # the new run's first table is in place ...
    assert run_problem(results / "lab") is not None  # ... but the folder is not one run
    with pytest.raises(IncompleteRunError, match=r"lab: does not hold one complete run.*Run the batch again"):
        verify_run(results / "lab")
    with pytest.raises(IncompleteRunError):
        render_batch_reports(results / "lab", results / "lab" / "reports")
    assert not (results / "lab" / "reports").exists()  # the old run's PDFs went with its marker
    assert build_cohort(results, results / "_cohort") == []  # the cohort leaves it out
    # the next run in the folder cleans up and commits as usual
    run_batch([big], results / "lab", batch="lab", reports=False, genes=GENES)
    assert verify_run(results / "lab") and not [p for p in (results / "lab").iterdir() if p.name.startswith(".")]
    assert build_cohort(results, results / "_cohort") == ["lab"]


def test_a_commit_keeps_the_old_run_whole_until_the_new_one_is_ready(cohort, tmp_path):
    """A run that fails before its commit leaves the previous run as it was."""
    _, small = cohort
    out = tmp_path / "out"
    run_batch([small], out, batch="b", reports=False, genes=GENES)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = tmp_path / "bad.vcf"
    bad.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\nchr6\tx\n")
    with pytest.raises(Exception):
        run_batch([bad], out, batch="b", reports=False, genes=GENES)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert verify_run(out)


# --- 11: no stale reports --------------------------------------------------------------


def test_reports_of_samples_not_in_the_new_run_are_gone(cohort, tmp_path):
    _, small = cohort
    out = tmp_path / "same"
    run_batch([small], out, batch="b", genes=GENES)
    assert len(list((out / "reports").glob("*.pdf"))) == 3
    one = write_vcf(tmp_path / "one.vcf", samples=["HG00096"], records=[("chr6", 18130918, "T", "C", ["0/1"])])
    run_batch([one], out, batch="b", genes=GENES, assume_reference=True)
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["HG00096.pdf", INDEX_NAME]
    assert read_file_index(out / "reports" / INDEX_NAME) == {"HG00096": "HG00096.pdf"}


def test_a_run_without_reports_removes_the_previous_runs_reports(cohort, tmp_path):
    big, small = cohort
    out = tmp_path / "out"
    run_batch([small], out, batch="b", genes=GENES)
    (out / "qc_report.html").write_text("<html>an old QC page</html>")
    run_batch([big], out, batch="b", genes=GENES, reports=False)
    assert not (out / "reports").exists() and not (out / "qc_report.html").exists()
    run_batch([big], out, batch="b", genes=GENES, reports=True)
    (out / "qc_report.html").write_text("<html>this run's QC page</html>")
    run_batch([big], out, batch="b", genes=GENES, reports=False)  # the same run again: kept
    assert (out / "reports").is_dir() and (out / "qc_report.html").exists()


# --- 12: no patient data left in temporary files -------------------------------------------


def test_the_reader_leaves_no_named_copy_of_the_genotypes(cohort, tmp_path, monkeypatch):
    import tempfile

    from pgx.vcf import iter_genotype_chunks

    big, _ = cohort
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)
    chunks = iter_genotype_chunks([big], load_kb().loci(GENES), chunk_size=5)
    first = next(chunks)  # the files are extracted and being decoded: the moment a kill would strike
    assert first.samples
    left = [p for p in scratch.rglob("*") if p.is_file()]
    assert left == [], "a named plain-text copy of the genotypes exists while reading"
    chunks.close()


def test_pgx_run_killed_while_reading_leaves_no_genotypes_in_tmpdir(cohort, tmp_path):
    big, _ = cohort
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    script = textwrap.dedent(
        """
        import os, signal, sys
        import pgx.vcf.union
        def decode_then_die(*args, **kw):
            os.kill(os.getpid(), signal.SIGKILL)  # the extracted copies exist now
        pgx.vcf.union.decode_file = decode_then_die
        from pgx.pipeline import run_batch
        run_batch([sys.argv[1]], sys.argv[2], reports=False, genes=["TPMT"])
        """
    )
    killed = subprocess.run([sys.executable, "-c", script, str(big), str(tmp_path / "out")], env=env)
    assert killed.returncode == -signal.SIGKILL
    assert [p for p in scratch.rglob("*") if p.is_file()] == []


def test_temporaries_of_killed_processes_are_cleaned_and_live_ones_kept(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    pid = dead_pid()
    dead_file = temporary_name(folder / "calls.parquet").name.replace(f"@{os.getpid()}@", f"@{pid}@")
    dead_dir = temporary_name(folder / "reports").name.replace(f"@{os.getpid()}@", f"@{pid}@")
    (folder / dead_file).write_text("half a table")
    (folder / dead_dir).mkdir()
    (folder / dead_dir / "x.pdf").write_text("a report")
    live = temporary_name(folder / "genotypes.parquet")  # this process: alive
    live.write_text("being written")
    other_host = folder / f".calls.parquet.pgx@another-node@{pid}@ab12.tmp"
    other_host.write_text("a run on another node")
    removed = clean_stale_temporaries(folder)
    assert sorted(p.name for p in removed) == sorted([dead_file, dead_dir])
    assert live.exists() and other_host.exists()


# --- 13: the cohort dataset: one update at a time, its manifest from disk ------------------

SLOW_COHORT = textwrap.dedent(
    """
    import sys, time
    import pgx.cohort
    real = pgx.cohort._copy_if_changed
    def slow_copy(src, dst):
        print("copying", flush=True)
        time.sleep(1.5)  # a slow file system
        real(src, dst)
    pgx.cohort._copy_if_changed = slow_copy
    pgx.cohort.build_cohort(sys.argv[1], sys.argv[2])
    """
)


def test_two_cohort_updates_at_once_lose_no_batch(cohort, tmp_path):
    big, small = cohort
    results = tmp_path / "results"
    run_batch([small], results / "A", batch="A", reports=False, genes=GENES)
    out = results / "_cohort"
    slow = subprocess.Popen([sys.executable, "-c", SLOW_COHORT, str(results), str(out)], stdout=subprocess.PIPE, text=True)
    assert slow.stdout.readline().strip() == "copying"  # A's update holds the lock, sees only A
    run_batch([big], results / "B", batch="B", reports=False, genes=GENES)  # B finishes meanwhile
    started = time.monotonic()
    assert build_cohort(results, out) == ["A", "B"]  # waits for A's update, then adds B
    assert time.monotonic() - started > 0.5
    assert slow.wait(timeout=120) == 0
    for table in ("calls", "genotypes", "recommendations", "provenance"):
        assert sorted(p.name for p in (out / table).iterdir()) == ["batch=A", "batch=B"]
    manifest = pd.read_csv(out / MANIFEST_NAME, sep="\t", dtype={"batch": str})
    assert sorted(set(manifest["batch"])) == ["A", "B"]


def test_the_manifest_is_what_is_on_disk_and_dated_when_the_batches_were_seen(cohort, tmp_path):
    _, small = cohort
    results = tmp_path / "results"
    run_batch([small], results / "A", batch="A", reports=False, genes=GENES)
    out = results / "_cohort"
    before = time.time()
    build_cohort(results, out)
    after = time.time()
    manifest = out / MANIFEST_NAME
    assert before - 1 <= manifest.stat().st_mtime <= after
    rows = pd.read_csv(manifest, sep="\t", dtype={"batch": str})
    on_disk = {(p.parent.parent.name, p.parent.name[6:]) for p in out.glob("*/batch=*/part-0.parquet")}
    assert {(t, b) for t, b in zip(rows["table"], rows["batch"])} == on_disk
    for row in rows.itertuples():
        part = out / row.table / f"batch={row.batch}" / "part-0.parquet"
        assert part.stat().st_size == row.bytes and pq.ParquetFile(part).metadata.num_rows == row.rows


# --- 14: a full disk, a read-only folder, a file-size limit ----------------------------------


def _in_namespace(setup: str, command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``command`` in a new user and mount namespace after the shell ``setup``."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not available here: {probe.stderr.decode().strip()}")
    quoted = " ".join(f"'{c}'" for c in command)
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"{setup} && exec {quoted}"], capture_output=True, text=True, cwd=cwd)


def test_a_full_disk_is_a_clear_error_and_leaves_nothing_half_written(cohort, tmp_path):
    big, _ = cohort
    disk = tmp_path / "disk"
    disk.mkdir()
    result = _in_namespace(
        f"mount -t tmpfs -o size=48k tmpfs '{disk}'",
        pgx_command("run", str(big), "--out", str(disk / "out"), "--genes", *GENES),
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("pgx: error: cannot write") and "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr and str(disk / "out") in result.stderr
    assert "free space" in result.stderr


def test_a_read_only_folder_is_a_clear_error(cohort, tmp_path):
    big, _ = cohort
    ro = tmp_path / "readonly"
    (ro / "out").mkdir(parents=True)
    result = _in_namespace(
        f"mount --bind -o ro '{ro}' '{ro}'",
        pgx_command("run", str(big), "--out", str(ro / "out"), "--genes", *GENES),
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("pgx: error: cannot write") and "Traceback" not in result.stderr
    assert "Read-only file system" in result.stderr and "writable folder" in result.stderr
    assert list((ro / "out").iterdir()) == []


def test_a_file_size_limit_is_a_clear_error_and_the_old_run_stays(cohort, tmp_path):
    big, small = cohort
    out = tmp_path / "out"
    run_batch([small], out, batch="b", reports=False, genes=GENES)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def limit() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (6_000, 6_000))

    result = subprocess.run(
        pgx_command("run", str(big), "--out", str(out), "--batch", "b", "--no-reports", "--genes", *GENES),
        capture_output=True, text=True, preexec_fn=limit,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("pgx: error: cannot write") and "File too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # untouched
    assert [p for p in out.iterdir() if p.name.startswith(".")] == []
    assert verify_run(out)


def test_snakemake_gets_sigterm_when_its_parent_dies(tmp_path):
    """`pgx batch` starts Snakemake with terminate_with_parent: killed pgx, ended Snakemake."""
    psutil = pytest.importorskip("psutil")
    script = textwrap.dedent(
        """
        import subprocess, sys, time
        from pgx.processes import terminate_with_parent
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=terminate_with_parent)
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    gone, alive = psutil.wait_procs([child], timeout=10)
    assert not alive
