"""The workflow on a real SLURM: the demo through the SLURM executor equals a local run, a
batch with a broken VCF fails with pgx's message, and a profile whose status command
cannot track jobs fails with a message instead of waiting for ever.

These need a running SLURM and the executor plugin. ``.ci/slurm_cluster.sh`` (called by
``.ci/run``) brings up a single-node SLURM from Debian's packages, runs them with
``PGX_SLURM_CLUSTER=1`` and stops the daemons; elsewhere they are skipped with the reason.
Each run is under a timeout, so a hang fails the test instead of the CI.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
TABLES = ("genotypes", "calls", "recommendations", "provenance")
#: seconds any one workflow run may take on the CI's single node before it counts as a hang
RUN_TIMEOUT = 420

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        not os.environ.get("PGX_SLURM_CLUSTER"),
        reason="needs a running SLURM: `bash .ci/slurm_cluster.sh` brings up one and runs these tests",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
        reason="needs the SLURM executor plugin: pip install -e '.[slurm]'",
    ),
]


def snakemake(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    try:
        return subprocess.run(
            cmd, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT, env={**os.environ, **(env or {})}
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"snakemake {' '.join(args)} did not finish within {RUN_TIMEOUT} s (a hang): {exc.stdout}{exc.stderr}")


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def demo_copy(root: Path) -> Path:
    shutil.copytree(REPO / "config", root / "config")
    shutil.copytree(DEMO, root / "resources" / "demo")
    return root


def profile(name: str) -> str:
    return str(REPO / "config" / "profiles" / name)


def no_jobs_left() -> bool:
    """True when squeue lists no pending or running job (a test cancels what it submits)."""
    out = subprocess.run(["squeue", "-h", "-t", "PD,R,CG"], capture_output=True, text=True, timeout=60)
    return out.returncode == 0 and not out.stdout.strip()


def test_demo_on_slurm_equals_a_local_run(tmp_path):
    slurm_dir = demo_copy(tmp_path / "slurm")
    local_dir = demo_copy(tmp_path / "local")
    on_slurm = snakemake(slurm_dir, "--profile", profile("slurm-noacct"))
    assert on_slurm.returncode == 0, output_of(on_slurm)
    assert "submitted with SLURM jobid" in output_of(on_slurm)  # it really went through SLURM
    local = snakemake(local_dir, "--profile", profile("local"))
    assert local.returncode == 0, output_of(local)

    a, b = slurm_dir / "results" / "demo", local_dir / "results" / "demo"
    for name in [f"{t}.parquet" for t in TABLES] + ["run.json", "reports/index.tsv"]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert sorted(p.name for p in (a / "reports").iterdir()) == sorted(p.name for p in (b / "reports").iterdir())
    assert (slurm_dir / "results" / "demo" / "qc_report.html").is_file()
    assert (slurm_dir / "results" / "_cohort" / "batches.tsv").read_text() == (
        local_dir / "results" / "_cohort" / "batches.tsv"
    ).read_text()


def test_broken_vcf_on_slurm_fails_with_pgx_message(tmp_path):
    workdir = demo_copy(tmp_path)
    good = workdir / "resources" / "demo" / "simulated.vcf.gz"
    data = good.read_bytes()
    (workdir / "broken.vcf.gz").write_bytes(data[: len(data) // 2])  # cut short, as by a failed copy
    (workdir / "config" / "samples.tsv").write_text("batch\tvcf\nbroken\tbroken.vcf.gz\n")
    result = snakemake(workdir, "--profile", profile("slurm-noacct"), "--retries", "0")
    out = output_of(result)
    assert result.returncode != 0, out
    assert "problem(s) with the input files of batch broken" in out  # pgx's own words, from the job's log
    assert "broken.vcf.gz" in out and "truncated" in out
    assert not (workdir / "results" / "broken" / "calls.parquet").exists()


def test_untrackable_jobs_fail_instead_of_hanging(tmp_path):
    """The accounting profile on a cluster without accounting: `sacct` names no job, so
    every job fails at the first status check with pgx's message (the plugin alone waits
    for ever), the job is cancelled, and nothing is left looking complete."""
    probe = subprocess.run(["sacct", "-n", "-X"], capture_output=True, text=True, timeout=60)
    if "accounting storage is disabled" not in (probe.stdout + probe.stderr).lower():
        pytest.skip("this cluster has SLURM accounting; the test needs one without")
    workdir = demo_copy(tmp_path)
    result = snakemake(workdir, "--profile", profile("slurm"), "--retries", "0", "--slurm-init-seconds-before-status-checks", "2")
    out = output_of(result)
    assert result.returncode != 0, out
    assert "cannot be tracked and was cancelled" in out
    assert "config/profiles/slurm-noacct" in out
    assert not (workdir / "results" / "demo" / "run.json").exists()
    assert no_jobs_left()
