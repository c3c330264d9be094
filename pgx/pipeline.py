"""Chain the stages for one batch: VCF(s) -> Parquet tables -> PDFs.

This is what ``pgx run`` and the Snakemake scripts call. Samples are processed in
chunks so memory stays flat on large multi-sample VCFs: the genotype table is streamed
to Parquet chunk by chunk; calls and recommendations (a few rows per sample) are kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from pgx import __version__
from pgx.builds import BUILDS, GRCH38, expand_to_kb, loci_on_build
from pgx.errors import ConfigError, InputError
from pgx.genotypes import genotype_frame
from pgx.kb import KnowledgeBase, load_kb
from pgx.match import call_diplotypes
from pgx.outputs import ChunkedTableWriter, read_table, write_table
from pgx.outside import apply_outside_calls, read_outside_calls
from pgx.phenotype import assign_phenotypes
from pgx.recommend import recommend
from pgx.schema import GENOTYPE_STATUSES
from pgx.vcf import header_build, iter_genotype_chunks

TABLES = ("genotypes", "calls", "recommendations", "provenance")
DEFAULT_CHUNK_SIZE = 2000


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance_frame(
    kb: KnowledgeBase,
    vcfs: Sequence[Path],
    *,
    batch: str,
    options: dict[str, object],
    n_samples: int,
    build: str = "GRCh38",
) -> pd.DataFrame:
    """Key/value provenance: pipeline and KB versions, sources, inputs, options."""
    rows = [
        ("batch", batch),
        ("pipeline_version", __version__),
        ("kb_version", kb.version),
        ("genome_build", build),
        ("n_samples", str(n_samples)),
    ]
    for src in kb.manifest.get("sources", []):
        version = src.get("data_version") or "unversioned"
        rows.append((f"kb_source:{src['path']}", f"{version} sha256:{src['sha256']}"))
    for path in vcfs:
        rows.append((f"input_sha256:{Path(path).name}", file_sha256(Path(path))))
    for key in sorted(options):
        rows.append((f"option:{key}", str(options[key]).lower() if isinstance(options[key], bool) else str(options[key])))
    return pd.DataFrame(rows, columns=["key", "value"])


def resolve_build(vcfs: Sequence[Path], build: str) -> str:
    """``build`` itself, or for ``auto`` the build every file's header agrees on
    (GRCh38 when no header says)."""
    if build != "auto":
        if build not in BUILDS:
            raise ConfigError(f"unknown genome build {build!r}; use auto, {' or '.join(BUILDS)}")
        return build
    found = {str(v): header_build(v) for v in vcfs}
    named = {b for b in found.values() if b}
    if len(named) > 1:
        listing = "; ".join(f"{v}: {b or 'unknown'}" for v, b in found.items())
        raise ConfigError(f"the input VCFs are on different genome builds ({listing}); run each build separately")
    return named.pop() if named else GRCH38


def _genotype_chunks(vcfs, loci, *, assume_reference: bool, chunk_size: int, build: str):
    """Genotype matrices per sample chunk, always on the KB's GRCh38 loci."""
    read_loci, index = loci_on_build(loci, build)
    for gm in iter_genotype_chunks(vcfs, read_loci, chunk_size=chunk_size, assume_reference=assume_reference):
        yield gm if build == GRCH38 else expand_to_kb(gm, loci, index)


def run_batch(
    vcfs: Sequence[Path | str],
    out_dir: Path | str,
    *,
    batch: str = "batch",
    assume_reference: bool = False,
    reports: bool = True,
    kb: KnowledgeBase | None = None,
    genes: Sequence[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    outside_calls: Path | str | None = None,
    build: str = "auto",
) -> dict[str, Path]:
    """Call every sample of ``vcfs`` and write the batch's tables (and PDFs) to ``out_dir``.

    ``outside_calls`` is a TSV of results from other assays (see ``pgx.outside``) that
    fill or override genes, e.g. CYP2D6 copy number or HLA types. ``build`` is GRCh38,
    GRCh37 (read at the KB's GRCh37 positions) or auto (from the VCF headers).
    """
    kb = kb or load_kb()
    vcfs = [Path(v) for v in vcfs]
    for v in vcfs:
        if not v.exists():
            raise InputError(f"{v}: no such file; check the path in your command or sample sheet")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    genes = list(genes) if genes else kb.genes
    loci = kb.loci(genes)
    build = resolve_build(vcfs, build)
    paths = {name: out_dir / f"{name}.parquet" for name in TABLES}
    calls_parts, n_samples = [], 0
    with ChunkedTableWriter("genotypes", paths["genotypes"]) as gw:
        for gm in _genotype_chunks(vcfs, loci, assume_reference=assume_reference, chunk_size=chunk_size, build=build):
            gw.write(genotype_frame(gm, kb.version, GENOTYPE_STATUSES))
            calls_parts.append(assign_phenotypes(call_diplotypes(gm, kb, genes), kb))
            n_samples += len(gm.samples)
    calls = pd.concat(calls_parts, ignore_index=True)
    if outside_calls:
        calls = apply_outside_calls(calls, read_outside_calls(outside_calls), kb)
    recs = recommend(calls, kb)
    write_table(calls, "calls", paths["calls"])
    write_table(recs, "recommendations", paths["recommendations"])
    options = {"assume_reference": assume_reference, "genes": ",".join(genes), "chunk_size": chunk_size}
    inputs = list(vcfs)
    if outside_calls:
        options["outside_calls"] = str(outside_calls)
        inputs.append(Path(outside_calls))
    provenance = provenance_frame(kb, inputs, batch=batch, options=options, n_samples=n_samples, build=build)
    write_table(provenance, "provenance", paths["provenance"])
    if reports:
        paths["reports"] = out_dir / "reports"
        render_batch_reports(out_dir, paths["reports"])
    return paths


def render_batch_reports(results_dir: Path | str, reports_dir: Path | str) -> list[Path]:
    """One PDF per sample of a batch, from the batch's Parquet tables."""
    from pgx.report import render_report

    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    calls = read_table(results_dir / "calls.parquet")
    recs = read_table(results_dir / "recommendations.parquet")
    prov = read_table(results_dir / "provenance.parquet")
    provenance = dict(zip(prov["key"], prov["value"]))
    batch = provenance.get("batch", results_dir.name)
    recs_by_sample = dict(tuple(recs.groupby("sample_id", sort=False)))
    empty = recs.iloc[0:0]
    written = []
    for sample_id, sample_calls in calls.groupby("sample_id", sort=False):
        out = reports_dir / f"{sample_id}.pdf"
        render_report(sample_id, sample_calls, recs_by_sample.get(sample_id, empty), provenance, out, batch)
        written.append(out)
    return written


def annotate_batch(
    vcfs: Sequence[Path | str],
    out: Path | str,
    *,
    assume_reference: bool = False,
    kb: KnowledgeBase | None = None,
    genes: Sequence[str] | None = None,
    build: str = "auto",
) -> Path:
    """Write the batch's variants at KB positions as an annotated, indexed VCF."""
    from pgx.annotate import write_annotated_vcf
    from pgx.vcf import concat_matrices

    kb = kb or load_kb()
    vcfs = [Path(v) for v in vcfs]
    loci = kb.loci(list(genes) if genes else kb.genes)
    build = resolve_build(vcfs, build)
    chunks = list(_genotype_chunks(vcfs, loci, assume_reference=assume_reference, chunk_size=DEFAULT_CHUNK_SIZE, build=build))
    return write_annotated_vcf(concat_matrices(chunks, loci), kb, out)
