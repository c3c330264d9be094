# Sample-sheet loading and validation, and the input helpers of every rule.
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from pgx.schema import OUTPUT_SCHEMAS

#: the Parquet tables of every batch, written by rule `call` (one per declared schema)
TABLES = list(OUTPUT_SCHEMAS)

BATCH_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"


wildcard_constraints:
    batch=BATCH_PATTERN,


def load_samples(path):
    """The sample sheet as strings, validated; one row per (batch, VCF)."""
    if not Path(path).is_file():
        raise WorkflowError(
            f"sample sheet {path} not found; set `samples:` in the config (paths are relative to the working directory)"
        )
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    sheet.columns = sheet.columns.str.strip()
    sheet = sheet.apply(lambda col: col.str.strip())
    validate(sheet, schema="../schemas/samples.schema.yaml")
    if sheet.empty:
        raise WorkflowError(f"sample sheet {path} has no rows")
    dup = sheet[sheet.duplicated(["batch", "vcf"], keep=False)]
    if not dup.empty:
        rows = ", ".join(f"{b}: {v}" for b, v in dup[["batch", "vcf"]].drop_duplicates().values)
        raise WorkflowError(f"sample sheet {path} lists the same VCF twice in one batch ({rows})")
    if "outside_calls" not in sheet.columns:
        sheet["outside_calls"] = ""
    if "outside_calls_sample" not in sheet.columns:
        sheet["outside_calls_sample"] = ""
    given = sheet[sheet["outside_calls"] != ""].groupby("batch")["outside_calls"].nunique()
    if (given > 1).any():
        batches = ", ".join(given[given > 1].index)
        raise WorkflowError(
            f"sample sheet {path}: batch {batches} names several outside_calls files; merge them into one TSV per batch"
        )
    return sheet


samples = load_samples(config["samples"])


def get_batches():
    """Batch names, in sample-sheet order."""
    return list(dict.fromkeys(samples["batch"]))


def get_batch_vcfs(wildcards):
    """The VCFs of one batch, in sample-sheet order."""
    return samples.loc[samples["batch"] == wildcards.batch, "vcf"].tolist()


def get_outside_calls(wildcards):
    """The batch's outside-call TSV as a one-element list, or [] when it has none."""
    files = samples.loc[samples["batch"] == wildcards.batch, "outside_calls"]
    return sorted(set(files) - {""})


def runtime_per_attempt(minutes):
    """A runtime (minutes) that grows with each attempt: a job killed at its time limit is
    retried (the profiles' `retries`) with twice, then three times, the time."""
    return lambda wildcards, attempt: minutes * attempt


def memory_per_attempt(mb):
    """Memory (MB) that grows by half on each retry: a job killed for its memory gets more."""
    return lambda wildcards, attempt: int(mb * (1 + 0.5 * (attempt - 1)))


_sample_counts = {}


def batch_chunks(batch):
    """How many chunk jobs the batch has: its samples (from the VCF headers, read once
    while the workflow is planned) over `chunk_size`."""
    from pgx.scatter import count_samples, n_chunks

    if batch not in _sample_counts:
        vcfs = samples.loc[samples["batch"] == batch, "vcf"].tolist()
        _sample_counts[batch] = count_samples(vcfs)
    return n_chunks(_sample_counts[batch], config["chunk_size"])


def chunk_parts(wildcards):
    """The part folders of every chunk of the batch, in chunk order."""
    return [f"results/{wildcards.batch}/.scatter/parts/{k}" for k in range(batch_chunks(wildcards.batch))]


def get_outside_calls_sample(wildcards):
    """The sample a PharmCAT-format outside-call file of the batch belongs to ('' = the batch's only sample)."""
    given = set(samples.loc[samples["batch"] == wildcards.batch, "outside_calls_sample"]) - {""}
    if len(given) > 1:
        raise WorkflowError(f"batch {wildcards.batch} names several outside_calls_sample values; give one")
    return given.pop() if given else ""


def get_kb():
    """Knowledge-base directory from the config ('' = pgx's default)."""
    return config.get("kb") or ""


def batch_tables():
    """The Parquet tables of batch `{batch}` by name, for a rule's input or output:
    `input: **batch_tables()` gives `input.calls`, `input.provenance`, ..."""
    return {table: f"results/{{batch}}/{table}.parquet" for table in TABLES}


def get_final_outputs():
    """The final targets: checks, Parquet tables (and PDFs) of every batch."""
    outputs = expand("results/{batch}/{table}.parquet", batch=get_batches(), table=TABLES)
    outputs += expand("results/{batch}/checks.txt", batch=get_batches())
    if config["reports"]:
        outputs += expand("results/{batch}/reports", batch=get_batches())
    if config.get("fhir", False):
        outputs += expand("results/{batch}/fhir", batch=get_batches())
    if config.get("patient_json", False):
        outputs += expand("results/{batch}/json", batch=get_batches())
    return outputs
