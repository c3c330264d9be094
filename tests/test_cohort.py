"""The cohort dataset (``pgx.cohort.build_cohort``): every batch's tables as one
hive-partitioned Parquet dataset, read back by pandas, pyarrow and DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pgx.cohort import COHORT_DIR, build_cohort
from pgx.errors import InputError
from pgx.kb import load_kb
from pgx.outputs import schema_for
from pgx.pipeline import run_batch
from pgx.schema import OUTPUT_SCHEMAS, SCHEMA_VERSION
from pgx.simulate import simulate_cohort

REPO = Path(__file__).resolve().parents[1]
DEMO_VCF = REPO / "resources" / "demo" / "simulated.vcf.gz"
GENES = ["CYP2C19", "CYP2C9", "TPMT"]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A results folder with two batches: the demo (17 patients) and 5 other simulated ones."""
    root = tmp_path_factory.mktemp("cohort") / "results"
    kb = load_kb()
    other, _ = simulate_cohort(kb, ["CYP2C19", "TPMT"], 5, root.parent / "sim", seed=3)
    run_batch([DEMO_VCF], root / "demo", batch="demo", reports=False, genes=GENES)
    run_batch([other], root / "lab_2", batch="lab_2", reports=False, genes=GENES)
    return root


@pytest.fixture
def cohort(results, tmp_path) -> Path:
    out = tmp_path / COHORT_DIR
    assert build_cohort(results, out) == ["demo", "lab_2"]
    return out


def test_layout_is_one_part_per_table_and_batch(cohort):
    for table in OUTPUT_SCHEMAS:
        parts = sorted(p.relative_to(cohort).as_posix() for p in (cohort / table).rglob("*.parquet"))
        assert parts == [f"{table}/batch=demo/part-0.parquet", f"{table}/batch=lab_2/part-0.parquet"]
    manifest = (cohort / "batches.tsv").read_text().splitlines()
    assert manifest[0] == "batch\ttable\trows\tbytes" and len(manifest) == 1 + 2 * len(OUTPUT_SCHEMAS)


def test_every_part_has_the_declared_schema_and_its_version(cohort):
    for part in cohort.rglob("*.parquet"):
        schema = pq.read_schema(part)
        table = part.parent.parent.name
        assert schema.equals(schema_for(table), check_metadata=False), part
        assert schema.metadata[b"pgx_schema_version"].decode() == SCHEMA_VERSION
        assert "batch" not in schema.names  # it comes from the directory name


def test_pandas_reads_a_table_of_every_batch_in_one_call(cohort, results):
    calls = pd.read_parquet(cohort / "calls")
    each = {b: pd.read_parquet(results / b / "calls.parquet") for b in ("demo", "lab_2")}
    assert len(calls) == sum(len(df) for df in each.values())
    assert calls.groupby("batch", observed=True)["sample_id"].nunique().to_dict() == {"demo": 17, "lab_2": 5}


def test_pyarrow_dataset_has_the_declared_columns_plus_batch(cohort):
    dataset = ds.dataset(cohort / "recommendations", format="parquet", partitioning="hive")
    declared = OUTPUT_SCHEMAS["recommendations"]
    assert dataset.schema.names == [*declared.names, "batch"]
    for field in declared:
        assert dataset.schema.field(field.name).type == field.type
    lab_2 = dataset.to_table(filter=ds.field("batch") == "lab_2")
    assert set(lab_2.column("sample_id").to_pylist()) == {f"SIM{i:04d}" for i in range(1, 6)}


def test_duckdb_phenotype_counts_per_gene_across_two_batches(cohort, results):
    query = f"""
        SELECT batch, gene, phenotype, count(*) AS n
        FROM read_parquet('{cohort}/calls/*/*.parquet', hive_partitioning = true)
        WHERE gene IN ('CYP2C19', 'TPMT') AND phenotype IS NOT NULL
        GROUP BY ALL ORDER BY ALL
    """
    got = duckdb.sql(query).df()
    assert set(got["batch"]) == {"demo", "lab_2"}
    expected = []
    for batch in ("demo", "lab_2"):
        calls = pd.read_parquet(results / batch / "calls.parquet")
        calls = calls[calls["gene"].isin(["CYP2C19", "TPMT"]) & calls["phenotype"].notna()]
        for (gene, phenotype), n in calls.groupby(["gene", "phenotype"]).size().items():
            expected.append((batch, gene, phenotype, n))
    assert sorted(map(tuple, got.itertuples(index=False))) == sorted(expected)
    # the per-gene total over both batches is every sample with a phenotype
    totals = duckdb.sql(f"SELECT gene, sum(n) FROM ({query}) GROUP BY gene ORDER BY gene").fetchall()
    assert [g for g, _ in totals] == ["CYP2C19", "TPMT"]


def test_rebuild_is_byte_identical(results, cohort, tmp_path):
    again = tmp_path / "again"
    build_cohort(results, again)
    first = {p.relative_to(cohort): p.read_bytes() for p in cohort.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first == second
    stamps = {p: p.stat().st_mtime_ns for p in cohort.rglob("*.parquet")}
    build_cohort(results, cohort)  # unchanged parts are left alone
    assert {p: p.stat().st_mtime_ns for p in cohort.rglob("*.parquet")} == stamps


def test_same_inputs_rerun_from_the_vcfs_give_a_byte_identical_cohort(results, cohort, tmp_path):
    root = tmp_path / "results"
    run_batch([DEMO_VCF], root / "demo", batch="demo", reports=False, genes=GENES)
    other = results.parent / "sim" / "simulated.vcf.gz"
    run_batch([other], root / "lab_2", batch="lab_2", reports=False, genes=GENES)
    build_cohort(root, tmp_path / "out")
    first = {p.relative_to(cohort): p.read_bytes() for p in cohort.rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path / "out"): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert first == second


def test_the_cohort_inside_results_is_not_a_batch_and_removed_batches_are_pruned(results, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(results, root)
    out = root / COHORT_DIR
    assert build_cohort(root, out) == ["demo", "lab_2"]
    assert build_cohort(root, out) == ["demo", "lab_2"]  # _cohort itself is never a batch
    shutil.rmtree(root / "lab_2")
    assert build_cohort(root, out) == ["demo"]
    assert not (out / "calls" / "batch=lab_2").exists()
    assert set(pd.read_parquet(out / "calls")["batch"]) == {"demo"}


def test_an_incomplete_batch_is_left_out(results, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(results, root)
    (root / "lab_2" / "recommendations.parquet").unlink()  # e.g. its run was killed
    assert build_cohort(root, tmp_path / "out") == ["demo"]


def test_a_batch_of_another_schema_version_is_an_error_naming_it(results, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(results, root)
    path = root / "lab_2" / "calls.parquet"
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"pgx_schema_version": b"0"}), path)
    with pytest.raises(InputError, match=r"batch lab_2 was written with table schema version 0.*re-run batch lab_2"):
        build_cohort(root, tmp_path / "out")
    # checked before anything is written (only the lock file, taken before looking, is there)
    assert [p.name for p in (tmp_path / "out").iterdir()] == [".lock"]


def test_all_numeric_batch_names_read_as_text_with_the_documented_partitioning(results, tmp_path):
    root = tmp_path / "results"
    root.mkdir()
    shutil.copytree(results / "demo", root / "007")
    build_cohort(root, tmp_path / "out")
    text = ds.partitioning(pa.schema([("batch", pa.string())]), flavor="hive")
    calls = pd.read_parquet(tmp_path / "out" / "calls", partitioning=text)
    assert set(calls["batch"]) == {"007"}
    got = duckdb.sql(
        f"SELECT DISTINCT batch FROM read_parquet('{tmp_path}/out/calls/*/*.parquet', "
        "hive_partitioning = true, hive_types = {'batch': 'VARCHAR'})"
    ).fetchall()
    assert got == [("007",)]


def test_no_results_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such results directory"):
        build_cohort(tmp_path / "nothing", tmp_path / "out")
