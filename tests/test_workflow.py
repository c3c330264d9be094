"""The Snakemake workflow: lint, dry runs, config/sample-sheet validation, and a real run
of the demo batch in a temporary working directory (as CI of catalog workflows does)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pypdf import PdfReader

from pgx.sample_ids import read_file_index
from pgx.schema import OUTPUT_SCHEMAS

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
DEMO = REPO / "resources" / "demo"
TABLES = ("genotypes", "calls", "recommendations", "provenance")


def snakemake(*args: str, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python -m snakemake -s <repo>/Snakefile ARGS`` with output captured."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A working directory holding a copy of the default config and the demo batch."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copytree(DEMO, tmp_path / "resources" / "demo")
    return tmp_path


def write_sheet(workdir: Path, text: str) -> None:
    (workdir / "config" / "samples.tsv").write_text(text)


# --- static checks -------------------------------------------------------------------


def test_lint_is_clean(workdir):
    result = snakemake("--lint", "--directory", str(workdir), cwd=workdir)
    assert result.returncode == 0, output_of(result)


def test_dry_run_of_default_config_plans_every_rule(workdir):
    """The README's `snakemake --cores 2`, dry, in a copy of the repository's config and
    demo: a demo already run in the checkout (its results/) must not change the answer."""
    result = snakemake("-n", "--cores", "2", "--nolock", cwd=workdir)
    out = output_of(result)
    assert result.returncode == 0, out
    for rule in ("check_inputs", "call", "reports", "fhir", "patient_json", "all"):
        assert rule in out


def has_slurm_plugin() -> bool:
    return importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None


@pytest.mark.parametrize("profile", ["local", "slurm", "slurm-noacct"])
def test_profiles_parse(workdir, profile):
    args = ["-n", "--profile", str(REPO / "config" / "profiles" / profile), "--directory", str(workdir)]
    if profile.startswith("slurm") and not has_slurm_plugin():
        # without `pip install -e '.[slurm]'` the executor is unknown; still check the
        # rest of the profile (resources, options) parses, with the local executor
        args += ["--executor", "local"]
    result = snakemake(*args, cwd=workdir)
    assert result.returncode == 0, output_of(result)


def test_batch_with_several_vcfs_reads_them_all(workdir):
    vcf = "resources/demo/simulated.vcf.gz"
    shutil.copy(workdir / vcf, workdir / "resources" / "demo" / "second.vcf.gz")
    write_sheet(workdir, f"batch\tvcf\nb1\t{vcf}\nb1\tresources/demo/second.vcf.gz\nb2\t{vcf}\n")
    result = snakemake("-n", "--cores", "1", "--directory", str(workdir), "--printshellcmds", cwd=workdir)
    out = output_of(result)
    assert result.returncode == 0, out
    assert "results/b1/calls.parquet" in out and "results/b2/calls.parquet" in out
    assert "resources/demo/second.vcf.gz" in out


def test_reports_false_skips_the_pdfs(workdir):
    result = snakemake("-n", "--cores", "1", "--directory", str(workdir), "--config", "reports=False", cwd=workdir)
    out = output_of(result)
    assert result.returncode == 0, out
    assert "rule reports" not in out


def test_gene_subset_and_build_are_accepted(workdir):
    result = snakemake("-n", "--directory", str(workdir), "--config", "genes=[TPMT, CYP2C19]", "build=GRCh38", cwd=workdir)
    assert result.returncode == 0, output_of(result)


# --- validation of config and sample sheet --------------------------------------------


@pytest.mark.parametrize(
    "batch",
    ["../escape", "has space", "-dash_first", "a/b", ""],
    ids=["dotdot", "space", "dash_first", "slash", "empty"],
)
def test_unsafe_batch_name_is_rejected(workdir, batch):
    write_sheet(workdir, f"batch\tvcf\n{batch}\tresources/demo/simulated.vcf.gz\n")
    result = snakemake("-n", "--directory", str(workdir), cwd=workdir)
    assert result.returncode != 0
    assert "batch" in output_of(result)


def test_numeric_batch_name_is_read_as_text(workdir):
    write_sheet(workdir, "batch\tvcf\n007\tresources/demo/simulated.vcf.gz\n")
    result = snakemake("-n", "--cores", "1", "--directory", str(workdir), cwd=workdir)
    assert result.returncode == 0, output_of(result)
    assert "results/007/calls.parquet" in output_of(result)


def test_sheet_without_vcf_column_is_rejected(workdir):
    write_sheet(workdir, "batch\tpath\nb1\tresources/demo/simulated.vcf.gz\n")
    result = snakemake("-n", "--directory", str(workdir), cwd=workdir)
    assert result.returncode != 0
    assert "'vcf' is a required property" in output_of(result)


def test_same_vcf_twice_in_a_batch_is_rejected(workdir):
    vcf = "resources/demo/simulated.vcf.gz"
    write_sheet(workdir, f"batch\tvcf\nb1\t{vcf}\nb1\t{vcf}\n")
    result = snakemake("-n", "--directory", str(workdir), cwd=workdir)
    assert result.returncode != 0
    assert "lists the same VCF twice in one batch" in output_of(result)


def test_several_outside_call_files_in_a_batch_are_rejected(workdir):
    vcf = "resources/demo/simulated.vcf.gz"
    shutil.copy(workdir / vcf, workdir / "resources" / "demo" / "second.vcf.gz")
    write_sheet(
        workdir,
        f"batch\tvcf\toutside_calls\nb1\t{vcf}\ta.tsv\nb1\tresources/demo/second.vcf.gz\tb.tsv\n",
    )
    result = snakemake("-n", "--directory", str(workdir), cwd=workdir)
    assert result.returncode != 0
    assert "batch b1 names several outside_calls files" in output_of(result)


def test_outside_calls_file_is_an_input_of_call(workdir):
    (workdir / "cyp2d6.tsv").write_text("sample_id\tgene\tdiplotype\nSIM0001\tCYP2D6\t*1/*2x2\n")
    write_sheet(workdir, "batch\tvcf\toutside_calls\nb1\tresources/demo/simulated.vcf.gz\tcyp2d6.tsv\n")
    result = snakemake("-n", "--cores", "1", "--directory", str(workdir), "--printshellcmds", cwd=workdir)
    out = output_of(result)
    assert result.returncode == 0, out
    assert "cyp2d6.tsv" in out


def test_pharmcat_outside_call_file_in_the_sheet_fills_the_named_sample(workdir):
    (workdir / "SIM0003.outside.tsv").write_text("CYP2D6\t*1/*4\n")  # PharmCAT's format: no header, one sample
    write_sheet(
        workdir,
        "batch\tvcf\toutside_calls\toutside_calls_sample\nb1\tresources/demo/simulated.vcf.gz\tSIM0003.outside.tsv\tSIM0003\n",
    )
    result = snakemake(
        "--cores", "1", "--directory", str(workdir), "--config", "reports=False", "fhir=False", "patient_json=False",
        "genes=[CYP2C19]", "--", "results/b1/calls.parquet", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, output_of(result)
    calls = pq.read_table(workdir / "results" / "b1" / "calls.parquet").to_pandas()
    outside = calls[calls["call_status"] == "outside_call"]
    assert outside[["sample_id", "gene", "diplotype"]].values.tolist() == [["SIM0003", "CYP2D6", "*1/*4"]]


def test_missing_sample_sheet_is_named(workdir):
    (workdir / "config" / "samples.tsv").unlink()
    result = snakemake("-n", "--directory", str(workdir), cwd=workdir)
    assert result.returncode != 0
    assert "sample sheet config/samples.tsv not found" in output_of(result)


def test_missing_vcf_is_named(workdir):
    write_sheet(workdir, "batch\tvcf\nb1\tresources/demo/not_there.vcf.gz\n")
    result = snakemake("-n", "--directory", str(workdir), cwd=workdir)
    assert result.returncode != 0
    assert "resources/demo/not_there.vcf.gz" in output_of(result)


def test_unknown_config_key_is_rejected(workdir):
    result = snakemake("-n", "--directory", str(workdir), "--config", "assume_referense=true", cwd=workdir)
    assert result.returncode != 0
    assert "assume_referense" in output_of(result)


@pytest.mark.parametrize("setting", ["threads=0", "build=hg19", "reports=maybe"])
def test_invalid_config_value_is_rejected(workdir, setting):
    result = snakemake("-n", "--directory", str(workdir), "--config", setting, cwd=workdir)
    assert result.returncode != 0
    assert setting.split("=")[0] in output_of(result)


# --- real run -------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_workflow_runs_end_to_end(workdir):
    """The default config on the demo batch: tables with the declared schemas, one PDF per
    simulated patient, a log and a benchmark per rule, and nothing left to do after."""
    result = snakemake("--cores", "2", "--directory", str(workdir), cwd=workdir)
    assert result.returncode == 0, output_of(result)

    results = workdir / "results" / "demo"
    for table in TABLES:
        schema = pq.read_schema(results / f"{table}.parquet")
        assert schema.remove_metadata().equals(OUTPUT_SCHEMAS[table].remove_metadata()), table

    truth = (workdir / "resources" / "demo" / "truth.tsv").read_text().splitlines()
    samples = {line.split("\t")[0] for line in truth[1:] if line}
    assert len(samples) == 17
    calls = pq.read_table(results / "calls.parquet").to_pandas()
    assert set(calls["sample_id"]) == samples
    pdfs = sorted((results / "reports").glob("*.pdf"))
    index = read_file_index(results / "reports" / "index.tsv")
    assert set(index) == samples and {p.name for p in pdfs} == set(index.values())
    assert (calls["call_status"] == "outside_call").sum() == 3  # the demo's outside calls were used
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert (results / "checks.txt").read_text().startswith("# batch\tdemo\n")

    for folder in ("fhir", "json"):  # named like the PDFs, with the same kind of index
        exported = read_file_index(results / folder / "index.tsv")
        assert set(exported) == samples
        assert {p.name for p in (results / folder).glob("*.json")} == set(exported.values())

    for rule in ("check_inputs", "call", "reports", "fhir", "patient_json"):
        assert (workdir / "logs" / "demo" / f"{rule}.log").exists(), rule
        assert (workdir / "benchmarks" / "demo" / f"{rule}.tsv").exists(), rule

    again = snakemake("-n", "--cores", "2", "--directory", str(workdir), cwd=workdir)
    assert again.returncode == 0, output_of(again)
    assert "Nothing to be done" in output_of(again)

    # the report settings: US Letter without the appendix redoes only the PDFs
    with_appendix = PdfReader(pdfs[0]).pages
    short = snakemake("--cores", "2", "--directory", str(workdir), "--config", "report_appendix=False",
                      "report_paper=letter", cwd=workdir)  # fmt: skip
    assert short.returncode == 0, output_of(short)
    assert "rule reports" in output_of(short)
    pages = PdfReader(pdfs[0]).pages
    assert len(pages) < len(with_appendix)
    assert [round(float(x)) for x in pages[0].mediabox[2:]] == [612, 792]
    text = "\n".join(page.extract_text() for page in pages)
    assert "Appendix: details for the record" not in text and "was left out of this copy" in text


def planned_resources(out: str) -> dict[str, str]:
    """{rule: its `resources:` line} from a dry run's plan."""
    found, rule = {}, None
    for line in out.splitlines():
        if line.startswith("rule ") or line.startswith("localrule "):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("resources:") and rule:
            found[rule] = line.strip()
    return found


def test_account_and_partition_keep_the_rules_resources(workdir):
    """The README's way to give account and partition, and to raise one rule's memory,
    keeps every rule's own memory, runtime and the other resources of that rule."""
    local = ["-n", "--profile", str(REPO / "config" / "profiles" / "local"), "--directory", str(workdir)]
    plain = snakemake(*local, cwd=workdir)
    assert plain.returncode == 0, output_of(plain)
    result = snakemake(
        *local, "--default-resources", "slurm_account=myacc", "slurm_partition=short",
        "--set-resources", "call_chunk:mem_mb=3000",
        cwd=workdir,
    )  # fmt: skip
    out = output_of(result)
    assert result.returncode == 0, out
    before, plan = planned_resources(output_of(plain)), planned_resources(out)

    def value(line: str, key: str) -> int:
        return int(line.split(f" {key}=")[1].split(",")[0])

    for rule in ("check_inputs", "prepare", "call_chunk", "call", "reports", "qc", "cohort"):
        assert "slurm_account=myacc" in plan[rule] and "slurm_partition=short" in plan[rule], plan[rule]
        assert value(plan[rule], "runtime") == value(before[rule], "runtime"), (before[rule], plan[rule])
        assert value(plan[rule], "mem_mb") <= 4000, plan[rule]  # fits a 4 GB node
        if rule != "call_chunk":
            assert value(plan[rule], "mem_mb") == value(before[rule], "mem_mb"), (before[rule], plan[rule])
    assert value(plan["call_chunk"], "mem_mb") == 3000 != value(before["call_chunk"], "mem_mb")
