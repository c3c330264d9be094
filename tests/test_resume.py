"""Resume after a kill: SIGKILL the whole Snakemake run mid-way, or one chunk job alone;
nothing half-written looks complete, and the rerun finishes with the same bytes as a run
that was never interrupted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgx.outputs import run_problem

REPO = Path(__file__).resolve().parents[1]
TABLES = ("genotypes", "calls", "recommendations", "provenance")

pytestmark = pytest.mark.slow


def workdir(root: Path) -> Path:
    shutil.copytree(REPO / "config", root / "config")
    shutil.copytree(REPO / "resources" / "demo", root / "resources" / "demo")
    return root


def command(root: Path, *extra: str) -> list[str]:
    # one sample per chunk: many short chunk jobs, so a kill lands in the middle
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--profile",
            str(REPO / "config" / "profiles" / "local"), "--directory", str(root),
            "--config", "chunk_size=1", "fhir=False", "patient_json=False", *extra]  # fmt: skip


def run(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(root, *extra), cwd=root, capture_output=True, text=True, timeout=900)


def processes_under(root: Path, word: str) -> list[int]:
    """PIDs of processes whose command line names a script of ``root``'s run and ``word``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if str(root) in cmd and word in cmd:
            found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail("the run never reached the point where the test kills it")
        time.sleep(0.05)


def assert_nothing_looks_complete(batch: Path) -> None:
    """Either a complete committed run is there, or its marker is not: no table set that
    readers would trust, and no reports folder from another run."""
    if (batch / "run.json").exists():
        assert run_problem(batch) is None
    for name in ("reports",):
        folder = batch / name
        if folder.exists():  # a reports folder is replaced whole, and only after a committed run
            assert (folder / "index.tsv").is_file() and (batch / "run.json").exists()
    leftovers = [p.name for p in batch.glob("*.parquet")] if batch.exists() else []
    if leftovers:
        assert (batch / "run.json").exists() or set(leftovers) <= set(f"{t}.parquet" for t in TABLES)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The same workflow, never interrupted."""
    root = workdir(tmp_path_factory.mktemp("uninterrupted"))
    result = run(root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "results" / "demo"


def same_as(reference: Path, batch: Path) -> None:
    for name in [f"{t}.parquet" for t in TABLES] + ["run.json", "reports/index.tsv"]:
        assert (reference / name).read_bytes() == (batch / name).read_bytes(), name
    assert sorted(p.name for p in (reference / "reports").iterdir()) == sorted(p.name for p in (batch / "reports").iterdir())


def test_rerun_after_snakemake_is_killed(reference, tmp_path):
    root = workdir(tmp_path)
    proc = subprocess.Popen(command(root), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # kill once some chunks are done and others are running
        wait_for(lambda: len(list((root / "logs" / "demo" / "call_chunk").glob("*.log"))) >= 4 or proc.poll() is not None)
        assert proc.poll() is None, "the run ended before the test could kill it"
        os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and every job it started, as a lost node
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    batch = root / "results" / "demo"
    assert not (batch / "run.json").exists()
    assert_nothing_looks_complete(batch)
    unlock = run(root, "--unlock")  # a killed Snakemake leaves its lock, as the user sees too
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    again = run(root)
    assert again.returncode == 0, again.stdout + again.stderr
    same_as(reference, batch)


def test_rerun_after_one_chunk_job_is_killed(reference, tmp_path):
    root = workdir(tmp_path)
    proc = subprocess.Popen(
        command(root, "--retries", "0"), cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: processes_under(root, "call_chunk") or proc.poll() is not None)
        victims = processes_under(root, "call_chunk")
        assert victims, "no chunk job was seen running"
        for pid in victims[:1]:
            os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, out  # the killed job failed the run
    assert "Error in rule call_chunk" in out
    batch = root / "results" / "demo"
    assert not (batch / "run.json").exists()  # the gather never ran on a missing chunk
    assert_nothing_looks_complete(batch)
    again = run(root)
    assert again.returncode == 0, again.stdout + again.stderr
    same_as(reference, batch)
