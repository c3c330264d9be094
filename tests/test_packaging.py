"""A non-editable install: the wheel carries the knowledge base and the workflow.

The test builds a wheel from a copy of the sources (so nothing is written into the
checkout), installs it without its dependencies into a folder of its own, and runs pgx
from there (``PYTHONPATH``; the dependencies are this environment's), in a folder outside
the checkout: ``pgx run`` must use the packaged KB, ``pgx batch`` the packaged workflow,
and every output must name the version defined once in ``pgx/__init__.py``. Offline:
pip builds with this environment's setuptools (the ``test`` extra) and reads no index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pypdf import PdfReader

from tests.conftest import kb_loci_for

REPO = Path(__file__).resolve().parents[1]
#: what a wheel is built from (pyproject.toml's package data follows the links in pgx/)
SOURCES = ("pyproject.toml", "README.md", "Snakefile", "pgx", "resources", "workflow", "docs")

pytestmark = pytest.mark.slow


def _pip(*args: str, cwd: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A folder holding pgx installed from a freshly built wheel (and the wheel's path)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "dist"), str(src), cwd=work)
    (wheel,) = (work / "dist").glob("pgx-*.whl")
    target = work / "site"
    _pip("install", "--no-deps", "--no-index", "--target", str(target), str(wheel), cwd=work)
    return target


def run_installed(site: Path, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m pgx ARGS`` with the installed copy first on the path, outside the checkout."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PGX_KB", None)
    cmd = [sys.executable, *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def version_of(site: Path) -> str:
    (dist,) = site.glob("pgx-*.dist-info")
    return next(line.split(": ", 1)[1] for line in (dist / "METADATA").read_text().splitlines() if line.startswith("Version: "))


def test_wheel_metadata_version_is_the_package_version(installed):
    """pyproject.toml's version is dynamic: the wheel's metadata says what pgx/__init__.py says."""
    source = next(line for line in (REPO / "pgx" / "__init__.py").read_text().splitlines() if line.startswith("__version__"))
    assert source == f'__version__ = "{version_of(installed)}"'


def test_installed_pgx_is_the_wheel_and_carries_kb_and_workflow(installed, tmp_path):
    code = (
        "import pgx, pgx.kb, pgx.batch, importlib.metadata as m; "
        "print(pgx.__file__); print(pgx.kb.DEFAULT_KB_DIR); print(pgx.batch.SNAKEFILE); print(m.version('pgx'))"
    )
    result = run_installed(installed, "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    module, kb_dir, snakefile, version = result.stdout.split("\n")[:4]
    assert Path(module).is_relative_to(installed)
    assert Path(kb_dir).is_relative_to(installed) and (Path(kb_dir) / "manifest.json").is_file()
    assert not Path(kb_dir).is_symlink() and Path(snakefile) == installed / "pgx" / "_workflow" / "Snakefile"
    assert (installed / "pgx" / "_workflow" / "workflow" / "scripts" / "fhir_bundles.py").is_file()
    assert version == version_of(installed)
    assert run_installed(installed, "-m", "pgx", "--version", cwd=tmp_path).stdout.strip() == f"pgx {version}"


def _two_patients(make_vcf, folder: Path) -> Path:
    """Two patients at every TPMT position of the KB: one *1/*3C (rs1142345 T>C), one reference."""
    loci = kb_loci_for("TPMT")
    star3c = loci[loci["rsid"] == "rs1142345"].iloc[0]
    record = (star3c.chrom, int(star3c.pos), star3c.ref, "C", ["0/1", "0/0"])
    folder.mkdir()
    return make_vcf(folder / "two.vcf.gz", samples=["P1", "P2"], records=[record], loci=loci, bgzip=True, index=True)


def test_installed_pgx_run_uses_the_packaged_kb_and_names_the_version_in_tables_and_fhir(installed, make_vcf, tmp_path):
    vcf = _two_patients(make_vcf, tmp_path / "in")
    out = tmp_path / "out"
    result = run_installed(
        installed, "-m", "pgx", "run", str(vcf), "--out", str(out), "--genes", "TPMT", "--no-reports", "--fhir", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    version = version_of(installed)
    manifest = json.loads((installed / "pgx" / "resources" / "kb" / "manifest.json").read_text())
    provenance = dict(pq.read_table(out / "provenance.parquet").to_pandas()[["key", "value"]].values)
    assert provenance["pipeline_version"] == version and provenance["kb_version"] == manifest["kb_version"]
    assert pq.read_metadata(out / "calls.parquet").metadata[b"pgx_version"].decode() == version
    calls = pq.read_table(out / "calls.parquet").to_pandas().set_index("sample_id")
    assert calls.loc["P1", "diplotype"] == "*1/*3C" and calls.loc["P2", "diplotype"] == "*1/*1"
    bundle = (out / "fhir" / "P1.json").read_text()
    assert f"Made by pgx {version} with knowledge base {manifest['kb_version']}" in bundle


def test_installed_pgx_batch_runs_the_packaged_workflow_and_its_pdfs_name_the_version(installed, make_vcf, tmp_path):
    vcf = _two_patients(make_vcf, tmp_path / "incoming")
    results = tmp_path / "results"
    args = ("-m", "pgx", "batch", str(vcf.parent), "--name", "b1", "--out", str(results), "--genes", "TPMT", "--cores", "2")
    result = run_installed(installed, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (results / "b1" / "reports").glob("*.pdf")) == ["P1.pdf", "P2.pdf"]
    pdf_text = "".join(page.extract_text() for page in PdfReader(results / "b1" / "reports" / "P1.pdf").pages)
    assert f"pgx {version_of(installed)}" in pdf_text and "*1/*3C" in pdf_text
    log = (results / ".runs" / "b1" / "snakemake.log").read_text()
    assert log.splitlines()[0].startswith("# pgx batch runs: ")
    assert str(installed / "pgx" / "_workflow" / "Snakefile") in log.splitlines()[0]


def test_installed_pgx_batch_without_its_workflow_says_what_to_do(installed, make_vcf, tmp_path):
    """An installation that lost its workflow files fails before running anything, naming
    where it looked and what to do."""
    broken = tmp_path / "site"
    shutil.copytree(installed, broken, ignore=shutil.ignore_patterns("_workflow"))
    vcf = _two_patients(make_vcf, tmp_path / "incoming")
    args = ("-m", "pgx", "batch", str(vcf.parent), "--out", str(tmp_path / "results"), "--genes", "TPMT")
    result = run_installed(broken, *args, cwd=tmp_path)
    assert result.returncode == 2
    assert "the Snakemake workflow is missing from the pgx installation" in result.stderr
    assert "pip install ." in result.stderr and "Traceback" not in result.stderr
