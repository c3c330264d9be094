"""A batch as several jobs: read once, call by sample chunk, gather as one committed run.

The workflow splits a batch's calling into three kinds of job, so that a batch of 200,000
genomes is many small SLURM jobs instead of one big one:

1. **prepare** (one job per batch, :func:`prepare`): plans the batch exactly as
   :func:`pgx.pipeline.run_batch` does (:func:`pgx.pipeline.plan_batch`: files, build,
   options, run id), reads every VCF **once** at the knowledge-base positions (the
   reader's own extraction: an indexed file is queried at the KB regions, any other file
   is streamed once) and writes one compact genotype matrix per sample chunk
   (``chunk_size`` samples, the config key), compressed, into the batch's work folder.
   No chunk job ever opens a VCF.
2. **call chunk** (one job per chunk, :func:`call_chunk_job`): calls, phenotypes and
   recommends its chunk (:func:`pgx.pipeline.call_chunk`) and writes the three tables'
   parts (Arrow IPC files of exactly the tables the single-job run hands its writer).
3. **gather** (one job per batch, :func:`gather`): writes the parts, one chunk at a time
   (memory-mapped), into a :class:`pgx.outputs.StagedRun`, adds the provenance table and commits the
   run as one unit (:func:`pgx.pipeline.finish_batch`), the same mechanism as ``pgx run``.

The gathered tables are byte-identical to ``pgx run`` (``run_batch``) with the same
``chunk_size``: the same plan, the same genotype matrices, the same writes. A killed job
leaves nothing that looks complete: every file is written under a temporary name and
renamed when whole, and the batch's tables appear only at the gather's commit.

The work folder holds patient genotypes; it lives inside the batch's results folder (the
same protection as the tables) and the workflow deletes its files once used.
"""

from __future__ import annotations

import json
import math
import pickle
import shutil
from pathlib import Path

import pyarrow as pa

from pgx.errors import ConfigError
from pgx.genotypes import STATUS_MISSING
from pgx.kb import KnowledgeBase
from pgx.outputs import StagedRun, as_table, atomic_path, make_folder, schema_for, writing
from pgx.pipeline import BatchPlan, call_chunk, finish_batch, plan_batch
from pgx.vcf import header_sample_ids

#: the tables each chunk job writes (provenance is the gather's)
PART_TABLES = ("genotypes", "calls", "recommendations")

#: zstd level of the genotype matrices handed from prepare to the chunk jobs
MATRIX_LEVEL = 3

#: the chunk jobs' table parts: Arrow IPC, zstd-compressed
IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def count_samples(vcfs: list[Path | str]) -> int:
    """The batch's number of distinct samples, from the VCF headers alone (the union over
    the files, as the reader takes it); 0 for files whose header cannot be read (the input
    check then says why)."""
    seen: set[str] = set()
    for v in vcfs:
        seen.update(header_sample_ids(v) or [])
    return len(seen)


def n_chunks(n_samples: int, chunk_size: int) -> int:
    """How many chunk jobs a batch of ``n_samples`` has: at least one."""
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive number of samples, not {chunk_size}")
    return max(1, math.ceil(n_samples / chunk_size))


def _dump(obj: object, path: Path) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    packed = pa.Codec("zstd", compression_level=MATRIX_LEVEL).compress(data, asbytes=True)
    with atomic_path(path) as tmp, writing(path):
        tmp.write_bytes(len(data).to_bytes(8, "little") + packed)


def _load(path: Path) -> object:
    raw = Path(path).read_bytes()
    size = int.from_bytes(raw[:8], "little")
    return pickle.loads(pa.Codec("zstd").decompress(raw[8:], decompressed_size=size, asbytes=True))


def plan_path(work: Path) -> Path:
    return Path(work) / "plan.bin"


def matrix_path(work: Path, chunk: int) -> Path:
    return Path(work) / f"matrix-{chunk}.bin"


def prepare(vcfs: list[Path | str], work: Path | str, *, kb: KnowledgeBase, expected_chunks: int, **options) -> BatchPlan:
    """Plan the batch, read its VCFs once and write one genotype matrix per chunk into
    ``work`` (``options`` as for :func:`pgx.pipeline.plan_batch`). ``expected_chunks`` is
    the count the workflow planned from the headers; a different count (the files changed
    while it ran) is an error."""
    work = make_folder(work)
    plan = plan_batch(vcfs, kb=kb, **options)
    k = -1
    for k, gm in enumerate(plan.genotype_chunks()):
        if k >= expected_chunks:
            break
        _dump(gm, matrix_path(work, k))
    made = k + 1
    if made != expected_chunks and not (made == 0 and expected_chunks == 1):
        raise ConfigError(
            f"the VCFs of batch {plan.batch} have another number of samples than their headers had when the "
            f"workflow was planned ({made} chunk(s) read, {expected_chunks} planned); run the workflow again"
        )
    if made == 0:  # no sample at all: one empty chunk keeps the plan's shape
        _dump(None, matrix_path(work, 0))
    _dump(plan, plan_path(work))
    return plan


def call_chunk_job(work: Path | str, chunk: int, part_dir: Path | str, *, kb: KnowledgeBase) -> None:
    """Call chunk ``chunk`` of the prepared batch in ``work``; write its table parts and a
    summary (its samples, whether any genotype was read) into ``part_dir``."""
    plan: BatchPlan = _load(plan_path(work))
    if plan.kb_version != kb.version:
        raise ConfigError(
            f"the knowledge base changed while batch {plan.batch} ran ({plan.kb_version} -> {kb.version}); run the workflow again"
        )
    gm = _load(matrix_path(work, chunk))
    part_dir = make_folder(part_dir)
    tables = dict(zip(PART_TABLES, call_chunk(plan, gm, kb))) if gm is not None else {}
    for name in PART_TABLES:
        path = part_path(part_dir, name)
        with atomic_path(path) as tmp, writing(path):
            _write_part(tables.get(name), name, tmp)
    samples = list(gm.samples) if gm is not None else []
    read_any = gm is not None and bool((gm.status != STATUS_MISSING).any())
    summary = part_dir / "summary.json"
    with atomic_path(summary) as tmp, writing(summary):
        tmp.write_text(json.dumps({"run_id": plan.run, "samples": samples, "read_any": read_any}), encoding="utf-8")


def _write_part(data, name: str, path: Path) -> None:
    """One table's part as an Arrow IPC file holding exactly the Arrow table the single-job
    writer is handed (:func:`pgx.outputs.as_table`, types not yet conformed: categorical
    columns keep their dictionaries), so the gather's Parquet bytes are the same; no part
    at all (an empty batch) is a stream without batches. (The stream format, not the file
    format: each pandas chunk of a column may carry its own dictionary.)"""
    table = as_table(data, name, conform_types=False) if data is not None else None
    schema = table.schema if table is not None else schema_for(name)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema, options=IPC_OPTIONS) as ipc:
        if table is not None:
            ipc.write_table(table)


def part_path(part_dir: Path | str, table: str) -> Path:
    return Path(part_dir) / f"{table}.arrow"


def _read_part(path: Path) -> pa.Table | None:
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_stream(source).read_all()
    return table if table.num_rows or table.column(0).num_chunks else None


def gather(work: Path | str, part_dirs: list[Path | str], out_dir: Path | str, *, kb: KnowledgeBase) -> BatchPlan:
    """Commit the batch's four tables into ``out_dir`` as one run: the chunk parts in chunk
    order, one row group at a time, then the provenance table."""
    plan: BatchPlan = _load(plan_path(work))
    samples: set[str] = set()
    read_any = False
    for part in part_dirs:
        summary = json.loads((Path(part) / "summary.json").read_text(encoding="utf-8"))
        if summary["run_id"] != plan.run:
            raise ConfigError(f"{part}: a part of another run of batch {plan.batch}; run the workflow again")
        samples.update(summary["samples"])
        read_any = read_any or summary["read_any"]
    with StagedRun(out_dir, plan.run) as staged:
        for name in PART_TABLES:
            # in the foreground: one chunk's table in memory at a time (bytes as in the background)
            with staged.writer(name, background=False) as writer:
                for part in part_dirs:  # one write per chunk, as the single-job run writes
                    table = _read_part(part_path(part, name))
                    if table is not None:
                        writer.write(table)
        plan.check_something_read(samples, read_any)
        finish_batch(staged, plan, kb, samples)
    return plan


# --- PDFs by chunk -------------------------------------------------------------------------

#: what a report chunk folder records beside its PDFs
CHUNK_RECORD = "chunk.json"


def chunk_samples(calls: Path | str, chunk: int, chunk_size: int) -> tuple[list[str], list[str]]:
    """(every sample ID of the calls table in its order, the IDs of chunk ``chunk``): the
    calls are written chunk after chunk, so chunk k is the k-th run of ``chunk_size`` IDs.
    Only the ``sample_id`` column is read."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids = pc.unique(pq.read_table(calls, columns=["sample_id"]).column("sample_id")).to_pylist()
    return ids, ids[chunk * chunk_size : (chunk + 1) * chunk_size]


def rows_of_samples(path: Path | str, samples: list[str], columns: list[str] | None = None) -> pa.Table:
    """The rows of the Parquet table ``path`` whose ``sample_id`` is one of ``samples``, in
    file order (only ``columns``, when given). One row group at a time: a row group whose sample_id statistics rule every
    sample out is skipped unread, any other is read as its sample_id column first and in
    full only when it holds one of them. (``pyarrow.parquet.read_table(filters=...)``
    decodes every row group of every column, several at once: at 200,000 genomes 2.1 GB
    and 17 s of CPU for one chunk's rows; this takes 0.3 s and ~300 MB.) The values are
    those of that call; a dictionary column's categories may come in another order, which
    the reports never read (they use the values)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    wanted = pa.array(sorted(set(samples)), pa.string())
    column = parquet.schema_arrow.get_field_index("sample_id")
    low, high = (wanted[0].as_py(), wanted[-1].as_py()) if len(wanted) else (None, None)
    parts = []
    for k in range(parquet.num_row_groups):
        stats = parquet.metadata.row_group(k).column(column).statistics
        if low is None or (stats is not None and stats.has_min_max and (stats.max < low or stats.min > high)):
            continue
        ids = parquet.read_row_group(k, columns=["sample_id"]).column("sample_id")
        mask = pc.is_in(ids, value_set=wanted)
        if pc.any(mask).as_py():
            parts.append(parquet.read_row_group(k, columns=columns).filter(mask))
    if parts:
        return pa.concat_tables(parts)
    empty = parquet.schema_arrow.empty_table()
    return empty.select(columns) if columns is not None else empty


def render_report_chunk(
    results_dir: Path | str, chunk: int, chunk_size: int, out_dir: Path | str, *,
    workers: int | None = None, paper: str = "A4", appendix: bool = True,
) -> list[Path]:  # fmt: skip
    """The PDFs of chunk ``chunk``'s samples, from the batch's committed tables, into
    ``out_dir`` (replaced whole), with a record of the run and of the file names. Only that
    chunk's rows of the calls and recommendations are read. The file names are those of the
    whole batch (:func:`pgx.sample_ids.report_file_names` over every ID), so the gather only
    moves files."""
    import pyarrow.parquet as pq

    from pgx.outputs import replace_folder, temporary_folder, verify_run
    from pgx.pipeline import _render_in_pool
    from pgx.report import PAPERS, read_sample_rows
    from pgx.sample_ids import report_file_names

    if paper not in PAPERS:
        raise ConfigError(f"paper size {paper!r} is not known; use one of {', '.join(PAPERS)}")
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    run = verify_run(results_dir, ("calls", "recommendations", "provenance"))
    every, mine = chunk_samples(results_dir / "calls.parquet", chunk, chunk_size)
    names = report_file_names(every)
    samples = read_sample_rows(results_dir, lambda path, columns: rows_of_samples(path, mine, columns))
    prov = pq.read_table(results_dir / "provenance.parquet").to_pandas()
    provenance = dict(zip(prov["key"], prov["value"]))
    batch = provenance.get("batch", results_dir.name)
    make_folder(out_dir.parent)
    with temporary_folder(out_dir) as staging:
        jobs = [(sample_id, calls, recs, str(staging / names[sample_id])) for sample_id, calls, recs in samples]
        _render_in_pool(jobs, provenance, batch, workers, paper=paper, appendix=appendix)
        record = {"run_id": run, "files": {s: names[s] for s, _, _ in samples}}
        with writing(staging):
            (staging / CHUNK_RECORD).write_text(json.dumps(record), encoding="utf-8")
        replace_folder(staging, out_dir)
    return [out_dir / names[s] for s, _, _ in samples]


def gather_reports(results_dir: Path | str, chunk_dirs: list[Path | str], reports_dir: Path | str) -> Path:
    """Put every chunk's PDFs into ``reports_dir`` (replaced whole) with ``index.tsv``, as
    :func:`pgx.pipeline.render_batch_reports` leaves it; every chunk must be of the batch's
    committed run."""
    import os

    from pgx.outputs import replace_folder, temporary_folder, verify_run
    from pgx.sample_ids import INDEX_NAME, write_file_index

    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    run = verify_run(results_dir, ("calls", "recommendations", "provenance"))
    names: dict[str, str] = {}
    with temporary_folder(reports_dir) as staging:
        for chunk in map(Path, chunk_dirs):
            record = json.loads((chunk / CHUNK_RECORD).read_text(encoding="utf-8"))
            if record["run_id"] != run:
                raise ConfigError(f"{chunk}: PDFs of another run than {results_dir}'s tables; run the workflow again")
            for sample_id, name in record["files"].items():
                with writing(staging):
                    try:  # a hard link: no copy, and the chunk stays whole for a rerun of this step
                        os.link(chunk / name, staging / name)
                    except OSError:
                        shutil.copyfile(chunk / name, staging / name)
                names[sample_id] = name
        with writing(staging):
            write_file_index(names, staging / INDEX_NAME)
        replace_folder(staging, reports_dir)
    return reports_dir
