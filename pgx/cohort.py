"""The cohort dataset: every batch's tables as one hive-partitioned Parquet dataset.

Each batch of the workflow writes its own tables (``results/<batch>/calls.parquet``, ...).
Downstream tools want one dataset across batches, so :func:`build_cohort` lays them out as

    <out>/<table>/batch=<batch>/part-0.parquet

for every table of :data:`pgx.schema.OUTPUT_SCHEMAS`. Each part is the batch's own file,
copied byte for byte after checking that it has exactly the declared schema and the
current ``pgx_schema_version``: every part of a table has the same schema, and the dataset
is deterministic (the same batches give the same bytes; nothing is re-encoded, no
timestamps). The batch is not a column inside the files: readers take it from the
directory name (hive partitioning), so one call reads the whole table::

    pd.read_parquet("results/_cohort/calls")                      # pandas (pyarrow)
    pyarrow.dataset.dataset("results/_cohort/calls", partitioning="hive")
    SELECT * FROM read_parquet('results/_cohort/calls/*/*.parquet', hive_partitioning=true)  -- DuckDB

Decisions:

* **Which batches.** Every directory of ``results_root`` whose name is a valid batch name
  (letters, digits, ``.``, ``_``, ``-``; starting with a letter or digit) and that holds
  one complete run: all the tables, committed together (:func:`pgx.outputs.verify_run`:
  the run marker is there and every table carries its run id). A directory with only
  some tables, or tables of two runs (a run killed while committing), is skipped and
  listed in the log; so are other names (``_cohort`` itself, ``.runs``).
* **One update at a time.** Two batches finishing together run the step at once: the
  whole update (find, copy, prune, manifest) holds a lock on ``<out>/.lock``
  (:func:`pgx.outputs.locked`), so one never prunes what the other just added.
* **The manifest is what is on disk** (``batches.tsv`` lists the partitions found after
  the update), and its time stamp is the moment the update looked at the batches: a
  batch committed while an update ran is newer than the manifest, so the workflow runs
  the step again for it instead of calling the cohort "up to date" without it.
  The workflow's ``results/`` may hold batches of earlier sample sheets: they stay in
  the cohort until their directory is removed.
* **Stale partitions** (a batch directory since removed) are deleted, so the dataset is
  exactly the batches present. Each part is replaced atomically; a reader during an
  update sees every file complete.
* **Another schema version** in a batch (written by another pgx version) is an error
  naming the batch: re-run it, or move it out of the results directory.
* **All-numeric batch names** (``007``): readers infer the partition type, so a cohort
  whose batch names are all digits reads ``batch`` as an integer. Ask for text:
  ``pd.read_parquet(path, partitioning=pyarrow.dataset.partitioning(pyarrow.schema([("batch",
  pyarrow.string())]), flavor="hive"))``, or in DuckDB ``hive_types={'batch': 'VARCHAR'}``.
"""

from __future__ import annotations

import filecmp
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from pgx.errors import InputError
from pgx.outputs import atomic_path, clean_stale_temporaries, locked, make_folder, run_problem, schema_for, writing
from pgx.schema import OUTPUT_SCHEMAS, SCHEMA_VERSION

log = logging.getLogger(__name__)

#: the cohort dataset's directory under the workflow's results/ (a name no batch can have)
COHORT_DIR = "_cohort"

#: a batch name (as the workflow's sample sheet allows; see workflow/rules/common.smk)
BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

#: the file each partition holds
PART_NAME = "part-0.parquet"

#: the manifest written beside the tables: one row per batch and table
MANIFEST_NAME = "batches.tsv"

#: the lock file of the dataset: one update at a time
LOCK_NAME = ".lock"


@dataclass(frozen=True)
class CohortBatch:
    """One batch found under the results root."""

    name: str
    tables: dict[str, Path]  # table name -> the batch's Parquet file


def find_batches(results_root: Path | str) -> tuple[list[CohortBatch], list[str]]:
    """Complete batches under ``results_root`` (sorted by name), and why others were skipped."""
    root = Path(results_root)
    if not root.is_dir():
        raise InputError(f"{root}: no such results directory; run the workflow (or pgx batch) first")
    batches, skipped = [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if not BATCH_NAME.fullmatch(d.name):
            continue
        tables = {t: d / f"{t}.parquet" for t in OUTPUT_SCHEMAS}
        have = [t for t, p in tables.items() if p.is_file()]
        if len(have) == len(tables):
            for table, path in tables.items():  # another pgx's schema: an error naming it
                check_part(path, table, d.name)
            problem = run_problem(d, tuple(OUTPUT_SCHEMAS))
            if problem is None:
                batches.append(CohortBatch(d.name, tables))
            else:
                skipped.append(f"{d}: not one complete run ({problem}); left out until it is run again")
        elif have:
            missing = ", ".join(f"{t}.parquet" for t in tables if t not in have)
            skipped.append(f"{d}: incomplete batch (no {missing}; still running, or its run failed); left out")
    return batches, skipped


def check_part(path: Path, table: str, batch: str) -> None:
    """Raise unless ``path`` has exactly table ``table``'s declared schema and version."""
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(f"{path}: cannot be read as Parquet ({exc}); re-run batch {batch} or remove its directory") from exc
    meta = schema.metadata or {}
    version = meta.get(b"pgx_schema_version", b"").decode() or "none"
    if version != SCHEMA_VERSION:
        raise InputError(
            f"{path}: batch {batch} was written with table schema version {version}, this pgx writes "
            f"version {SCHEMA_VERSION}; re-run batch {batch} with this pgx (or move its directory out of "
            "the results directory) so that every batch of the cohort has the same schema"
        )
    declared = schema_for(table)
    if not schema.equals(declared, check_metadata=False):
        raise InputError(
            f"{path}: batch {batch}'s {table} table does not have the declared columns of schema version "
            f"{SCHEMA_VERSION}; re-run batch {batch}"
        )


def build_cohort(results_root: Path | str, out: Path | str) -> list[str]:
    """Collect every complete batch's tables under ``results_root`` into the hive-partitioned
    dataset ``out/<table>/batch=<name>/part-0.parquet``; return the batch names.

    Also writes ``out/batches.tsv`` (batch, table, rows, bytes of each part), which is
    deterministic too. ``out`` may lie inside ``results_root`` (the workflow's
    ``results/_cohort``): it is never taken for a batch.
    """
    root, out = Path(results_root), Path(out)
    if not root.is_dir():
        raise InputError(f"{root}: no such results directory; run the workflow (or pgx batch) first")
    make_folder(out)
    with locked(out / LOCK_NAME, waiting=f"{out}: another batch is updating the cohort dataset; waiting for it"):
        return _update(root, out)


def _update(root: Path, out: Path) -> list[str]:
    """The cohort update proper, under the lock."""
    snapshot = time.time()  # what the manifest describes: the batches as found from now on
    batches, skipped = find_batches(root)
    for reason in skipped:
        log.warning(reason)
    for b in batches:  # check everything before changing anything
        for table, path in b.tables.items():
            check_part(path, table, b.name)
    for table in OUTPUT_SCHEMAS:
        table_dir = out / table
        for b in batches:
            dst = table_dir / f"batch={b.name}" / PART_NAME
            clean_stale_temporaries(dst.parent)
            _copy_if_changed(b.tables[table], dst)
        _remove_stale(table_dir, {b.name for b in batches})
    manifest = out / MANIFEST_NAME
    with atomic_path(manifest) as tmp:
        lines = ["batch\ttable\trows\tbytes", *(f"{b}\t{t}\t{n}\t{size}" for b, t, n, size in _partitions(out))]
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with writing(manifest):
        os.utime(manifest, (snapshot, snapshot))
    return [b.name for b in batches]


def _partitions(out: Path) -> list[tuple[str, str, int, int]]:
    """(batch, table, rows, bytes) of every partition in the dataset, as found on disk."""
    rows = []
    for table in OUTPUT_SCHEMAS:
        for part in sorted((out / table).glob(f"batch=*/{PART_NAME}")):
            rows.append((part.parent.name[len("batch=") :], table, pq.ParquetFile(part).metadata.num_rows, part.stat().st_size))
    return sorted(rows)


def _copy_if_changed(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically, unless ``dst`` already has the same bytes."""
    if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
        return
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _remove_stale(table_dir: Path, keep: set[str]) -> None:
    """Delete the partitions of batches that are no longer there."""
    if not table_dir.is_dir():
        return
    for part in sorted(table_dir.glob("batch=*")):
        if part.is_dir() and part.name[len("batch=") :] not in keep:
            log.info("removing %s: its batch is no longer in the results directory", part)
            shutil.rmtree(part)
