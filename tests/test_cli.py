"""The ``pgx`` command line: help, version, exit codes, and that each subcommand passes
its options to the contract function unchanged (stages replaced by recording fakes)."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

import pgx
import pgx.kb
from pgx.cli import main
from pgx.sample_ids import read_file_index
from pgx.errors import KnowledgeBaseError, VcfError

REPO = Path(__file__).resolve().parents[1]
DEMO_VCF = REPO / "resources" / "demo" / "simulated.vcf.gz"


def run_pgx(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m pgx ARGS`` in a fresh interpreter, as a user would run it."""
    return subprocess.run([sys.executable, "-m", "pgx", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture
def fake_module(monkeypatch):
    """Install a fake ``pgx.<name>`` module whose functions record their arguments."""

    def install(name: str, **functions):
        module = types.ModuleType(f"pgx.{name}")
        for fname, fn in functions.items():
            setattr(module, fname, fn)
        monkeypatch.setitem(sys.modules, f"pgx.{name}", module)
        return module

    return install


@pytest.fixture
def vcf(tmp_path) -> Path:
    path = tmp_path / "patient.vcf"
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    return path


# --- help and version ----------------------------------------------------------------


def test_help_lists_every_subcommand():
    result = run_pgx("--help")
    assert result.returncode == 0, result.stderr
    for command in ("run", "annotate", "kb", "simulate"):
        assert command in result.stdout


@pytest.mark.parametrize("command", [["run"], ["annotate"], ["kb", "build"], ["kb", "info"], ["simulate"]])
def test_subcommand_help_exits_0(command, capsys):
    assert main([*command, "--help"]) == 0
    assert "usage: pgx" in capsys.readouterr().out


def test_help_does_not_import_the_heavy_stages():
    """`pgx --help` must stay fast: the stages are imported inside each subcommand."""
    code = (
        "import sys, contextlib, io\n"
        "from pgx.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "heavy = {'pandas', 'pyarrow', 'numpy', 'cyvcf2', 'pysam', 'reportlab', 'pgx.pipeline'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_version_prints_package_version():
    result = run_pgx("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pgx {pgx.__version__}"


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "pgx"
    assert script.exists(), "the `pgx` console script is missing; install with `pip install -e .`"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"pgx {pgx.__version__}"


def test_assume_reference_help_explains_variant_only_vcfs(capsys):
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--assume-reference" in text
    assert "Variant-only VCFs need this" in text
    assert "1000 Genomes" in text
    assert "every call made with it" in text


# --- exit codes ----------------------------------------------------------------------


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage: pgx" in capsys.readouterr().err


def test_run_missing_vcf_exits_2_without_traceback(tmp_path):
    missing = tmp_path / "no_such.vcf.gz"
    result = run_pgx("run", str(missing), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.startswith("pgx: error: ")
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_run_directory_instead_of_vcf_exits_2(tmp_path, capsys):
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_pgx_error_from_a_stage_exits_2_with_its_message(fake_module, vcf, tmp_path, capsys):
    def run_batch(*args, **kwargs):
        raise VcfError(f"{vcf}: no FORMAT/GT field; pgx needs genotypes")

    fake_module("pipeline", run_batch=run_batch)
    assert main(["run", str(vcf), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"pgx: error: {vcf}: no FORMAT/GT field; pgx needs genotypes\n"


def test_missing_knowledge_base_exits_2(monkeypatch, capsys):
    def load_kb(root=None):
        raise KnowledgeBaseError("no knowledge base at /nowhere")

    monkeypatch.setattr(pgx.kb, "load_kb", load_kb)
    assert main(["kb", "info"]) == 2
    assert capsys.readouterr().err == "pgx: error: no knowledge base at /nowhere\n"


def test_keyboard_interrupt_exits_130(fake_module, vcf, tmp_path, capsys):
    def run_batch(*args, **kwargs):
        raise KeyboardInterrupt

    fake_module("pipeline", run_batch=run_batch)
    assert main(["run", str(vcf), "--out", str(tmp_path / "out")]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_simulate_rejects_n_below_1(capsys):
    assert main(["simulate", "--genes", "TPMT", "--n", "0", "--out", "x"]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err


def test_kb_build_rejects_missing_sources_dir(tmp_path, capsys):
    assert main(["kb", "build", "--sources", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


# --- options reach the contract functions ------------------------------------------


def test_run_passes_options_to_run_batch(fake_module, vcf, tmp_path, capsys):
    seen = {}

    def run_batch(vcfs, out_dir, **kwargs):
        seen.update(vcfs=vcfs, out_dir=out_dir, **kwargs)
        return {"calls": Path(out_dir) / "calls.parquet"}

    fake_module("pipeline", run_batch=run_batch)
    out = tmp_path / "lab_batch_7"
    assert main(["run", str(vcf), str(vcf), "--out", str(out), "--assume-reference", "--no-reports"]) == 0
    assert seen == {
        "vcfs": [vcf, vcf],
        "out_dir": out,
        "batch": "lab_batch_7",  # defaults to the name of --out
        "assume_reference": True,
        "reports": False,
        "kb": None,  # None: run_batch loads the default KB
        "genes": None,
        "outside_calls": None,
        "build": "auto",
        "overlay": "auto",  # the imported CPIC overlay, if any
        "combinations": False,  # combinations no guideline defines are no-calls unless asked for
        "paper": "A4",
        "appendix": True,
        "fhir": False,  # FHIR bundles and patient JSON only when asked for
        "patient_json": False,
        "outside_sample": None,  # the sample of a PharmCAT-format outside-call file: the batch's only one
    }
    assert capsys.readouterr().out == f"calls\t{out / 'calls.parquet'}\n"
    assert main(["run", str(vcf), "--out", str(out), "--fhir", "--json"]) == 0
    assert (seen["fhir"], seen["patient_json"]) == (True, True)
    assert main(["run", str(vcf), "--out", str(out), "--no-overlay"]) == 0
    assert seen["overlay"] is None
    assert main(["run", str(vcf), "--out", str(out), "--find-combinations"]) == 0
    assert seen["combinations"] is True
    assert main(["run", str(vcf), "--out", str(out), "--overlay", str(tmp_path)]) == 0
    assert seen["overlay"] == tmp_path
    assert main(["run", str(vcf), "--out", str(out), "--no-appendix", "--paper", "letter"]) == 0
    assert seen["appendix"] is False and seen["paper"] == "letter"


def test_run_defaults_are_safe(fake_module, vcf, tmp_path):
    seen = {}
    fake_module("pipeline", run_batch=lambda vcfs, out_dir, **kw: seen.update(kw) or {})
    assert main(["run", str(vcf), "-o", str(tmp_path), "--batch", "B1"]) == 0
    assert seen["batch"] == "B1"
    assert seen["assume_reference"] is False  # missing is never silently reference
    assert seen["reports"] is True


def test_run_passes_genes_build_and_outside_calls(fake_module, vcf, tmp_path):
    seen = {}
    outside = tmp_path / "cyp2d6.tsv"
    outside.write_text("sample_id\tgene\tdiplotype\nP1\tCYP2D6\t*1/*2x2\n")
    fake_module("pipeline", run_batch=lambda vcfs, out_dir, **kw: seen.update(kw) or {})
    argv = ["run", str(vcf), "-o", str(tmp_path), "--genes", "TPMT", "CYP2C19", "--build", "GRCh37"]
    assert main([*argv, "--outside-calls", str(outside)]) == 0
    assert seen["genes"] == ["TPMT", "CYP2C19"]
    assert seen["build"] == "GRCh37"
    assert seen["outside_calls"] == outside


def test_run_missing_outside_calls_file_exits_2(vcf, tmp_path, capsys):
    assert main(["run", str(vcf), "-o", str(tmp_path), "--outside-calls", str(tmp_path / "no.tsv")]) == 2
    assert "outside-call file" in capsys.readouterr().err


def test_run_unknown_build_is_a_usage_error(vcf, tmp_path, capsys):
    assert main(["run", str(vcf), "-o", str(tmp_path), "--build", "hg19"]) == 2
    assert "invalid choice: 'hg19'" in capsys.readouterr().err


def test_annotate_passes_options_to_annotate_batch(fake_module, vcf, tmp_path, capsys):
    seen = {}

    def annotate_batch(vcfs, out, **kwargs):
        seen.update(vcfs=vcfs, out=out, **kwargs)
        return out

    fake_module("pipeline", annotate_batch=annotate_batch)
    out = tmp_path / "annotated.vcf.gz"
    assert main(["annotate", str(vcf), "--out", str(out), "--assume-reference", "--genes", "TPMT"]) == 0
    assert seen == {
        "vcfs": [vcf],
        "out": out,
        "assume_reference": True,
        "kb": None,
        "genes": ["TPMT"],
        "build": "auto",
    }
    assert capsys.readouterr().out == f"{out}\n"


def test_run_kb_option_loads_that_kb(fake_module, monkeypatch, vcf, tmp_path):
    seen = {}
    sentinel = object()
    monkeypatch.setattr(pgx.kb, "load_kb", lambda root=None: seen.setdefault("root", root) and sentinel)
    fake_module("pipeline", run_batch=lambda vcfs, out_dir, **kw: seen.update(kw) or {})
    assert main(["run", str(vcf), "--out", str(tmp_path), "--kb", str(tmp_path / "kb")]) == 0
    assert seen["root"] == tmp_path / "kb"
    assert seen["kb"] is sentinel


def test_kb_info_prints_describe(monkeypatch, tmp_path, capsys):
    kb = object()
    monkeypatch.setattr(pgx.kb, "load_kb", lambda root=None: kb if root == tmp_path else None)
    monkeypatch.setattr(pgx.kb, "describe", lambda k: "KB 2025.01.01-abcdef12" if k is kb else "wrong", raising=False)
    assert main(["kb", "info", "--kb", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "KB 2025.01.01-abcdef12\n"


def test_kb_build_passes_sources_and_out(fake_module, tmp_path, capsys):
    seen = {}

    def build_kb(sources, out_dir, *args, **kwargs):
        seen.update(sources=sources, out_dir=out_dir)
        return out_dir / "manifest.json"

    fake_module("kb_build", build_kb=build_kb)
    assert main(["kb", "build", "--sources", str(tmp_path), "--out", str(tmp_path / "kb")]) == 0
    assert seen == {"sources": tmp_path, "out_dir": tmp_path / "kb"}
    assert capsys.readouterr().out == f"{tmp_path / 'kb' / 'manifest.json'}\n"


def test_kb_build_defaults_to_the_kb_in_use(fake_module, monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setenv("PGX_KB", str(tmp_path / "my_kb"))
    fake_module("kb_build", build_kb=lambda sources, out_dir, *a, **k: seen.setdefault("out", out_dir))
    assert main(["kb", "build", "--sources", str(tmp_path)]) == 0
    assert seen["out"] == tmp_path / "my_kb"


def test_simulate_passes_options(fake_module, monkeypatch, tmp_path, capsys):
    seen = {}
    kb = object()
    monkeypatch.setattr(pgx.kb, "load_kb", lambda root=None: kb)

    def simulate_cohort(kb_, genes, n, out_dir, **kwargs):
        seen.update(kb=kb_, genes=genes, n=n, out_dir=out_dir, **kwargs)
        return out_dir / "simulated.vcf.gz", out_dir / "truth.tsv"

    fake_module("simulate", simulate_cohort=simulate_cohort)
    argv = ["simulate", "--genes", "CYP2C19", "TPMT", "--n", "12", "--out", str(tmp_path), "--seed", "7", "--unphased"]
    assert main(argv) == 0
    assert seen == {
        "kb": kb,
        "genes": ["CYP2C19", "TPMT"],
        "n": 12,
        "out_dir": tmp_path,
        "phased": False,
        "seed": 7,
        "known_function": False,
        "mito_ploidy": "haploid",
        "showcase": False,
    }
    assert main([*argv, "--showcase"]) == 0
    assert seen["showcase"] is True
    assert main([*argv, "--mito-ploidy", "diploid"]) == 0
    assert seen["mito_ploidy"] == "diploid"
    assert main([*argv, "--known-function"]) == 0
    assert seen["known_function"] is True
    out = capsys.readouterr().out
    assert f"vcf\t{tmp_path / 'simulated.vcf.gz'}" in out


# --- the real stages -------------------------------------------------------------------


def test_kb_info_describes_the_shipped_kb():
    result = run_pgx("kb", "info")
    assert result.returncode == 0, result.stderr
    assert pgx.kb.load_kb().version in result.stdout


def test_kb_info_on_an_empty_directory_exits_2(tmp_path):
    result = run_pgx("kb", "info", "--kb", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("pgx: error: ")
    assert str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr


def test_run_on_a_file_that_is_not_a_vcf_exits_2(tmp_path):
    bad = tmp_path / "notes.vcf"
    bad.write_text("this is not a VCF\n")
    result = run_pgx("run", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("pgx: error: ")
    assert "notes.vcf" in result.stderr
    assert "Traceback" not in result.stderr


def test_simulate_writes_vcf_and_truth(tmp_path):
    result = run_pgx("simulate", "--genes", "TPMT", "--n", "3", "--out", str(tmp_path), "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "simulated.vcf.gz").exists()
    truth = (tmp_path / "truth.tsv").read_text().splitlines()
    assert len(truth) == 1 + 3  # header + one TPMT row per sample


# --- end to end on the shipped demo batch ---------------------------------------------


@pytest.mark.slow
def test_run_demo_vcf_end_to_end(tmp_path):
    """`pgx run` on the demo batch writes the four tables and one PDF per sample."""
    out = tmp_path / "demo"
    result = run_pgx("run", str(DEMO_VCF), "--out", str(out))
    assert result.returncode == 0, result.stderr
    for table in ("genotypes", "calls", "recommendations", "provenance"):
        assert (out / f"{table}.parquet").stat().st_size > 0
    truth = (DEMO_VCF.parent / "truth.tsv").read_text().splitlines()[1:]
    samples = {line.split("\t")[0] for line in truth}
    index = read_file_index(out / "reports" / "index.tsv")
    assert set(index) == samples
    assert {p.name for p in (out / "reports").glob("*.pdf")} == set(index.values())
