"""Rebuild the knowledge base (``resources/kb``) from the upstream sources.

``build_kb(sources, out_dir, genes)`` reads ``../shared/data`` (see its README), builds
every table of ``pgx.schema.KB_TABLES`` and writes them with ``manifest.json``:

* genes, loci, allele_definitions, alleles, function_phenotypes, phenotype_rules,
  gene_rules, outside_results: :mod:`pgx.kb_build.gene_tables` (PharmCAT definitions
  and phenotypes, MT-RNR1 variants placed on chrM by :mod:`pgx.kb_build.mito`, PyPGx GRCh37 positions, fallback functions and score equations, CPIC
  gene lookup methods, guideline citations and allele-status keys);
* legacy_alleles: :mod:`pgx.kb_build.legacy` (curated older allele names, each row
  checked against the tables just built);
* drugs, recommendations: ``pgx.kb_build.recommendations.build_recommendation_tables``.

The output is deterministic (see :mod:`pgx.kb_build.tables`) and validated by reading
it back with :func:`pgx.kb.read_table` and :func:`pgx.kb.validate` before any file in
``out_dir`` is replaced, so a failed build leaves the previous KB intact.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

import pgx
from pgx.errors import KnowledgeBaseError
from pgx.kb_build.gene_tables import GENE_TABLES, build_gene_tables, frame
from pgx.kb_build.legacy import legacy_allele_rows
from pgx.kb_build.sources import SourceReader, sha256_bytes
from pgx.kb_build.tables import kb_version, manifest_bytes, table_bytes
from pgx.schema import KB_TABLES

#: genes called from a VCF: every gene with a PharmCAT allele-definition file
VCF_GENES: tuple[str, ...] = (
    "ABCG2",
    "CACNA1S",
    "CFTR",
    "CYP2B6",
    "CYP2C19",
    "CYP2C9",
    "CYP2D6",
    "CYP3A4",
    "CYP3A5",
    "CYP4F2",
    "DPYD",
    "G6PD",
    "IFNL3",
    "NAT2",
    "NUDT15",
    "RYR1",
    "SLCO1B1",
    "TPMT",
    "UGT1A1",
    "VKORC1",
)
#: genes taken only as outside calls (no definition file; CPIC guidelines key on them)
OUTSIDE_GENES: tuple[str, ...] = ("HLA-A", "HLA-B")
#: mitochondrial genes without a definition file whose variant-named alleles are placed
#: on chrM (:mod:`pgx.kb_build.mito`), so they are called from a VCF too
MITO_GENES: tuple[str, ...] = ("MT-RNR1",)
#: genes the shipped KB covers; extend the list to add genes
DEFAULT_GENES: tuple[str, ...] = VCF_GENES + OUTSIDE_GENES + MITO_GENES

RECOMMENDATION_TABLES = ("drugs", "recommendations")


def recommendation_tables(sources: Path, genes: Sequence[str]) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """``drugs`` and ``recommendations`` from ``pgx.kb_build.recommendations``.

    Fails with a KnowledgeBaseError when that module is absent, rather than writing
    empty or invented rows.
    """
    try:
        module = importlib.import_module("pgx.kb_build.recommendations")
    except ModuleNotFoundError as exc:
        if exc.name != "pgx.kb_build.recommendations":
            raise
        raise KnowledgeBaseError(
            "pgx.kb_build.recommendations is not available, so the drugs and recommendations "
            "tables cannot be built; nothing was written"
        ) from None
    tables, paths = module.build_recommendation_tables(sources, tuple(genes))
    missing = [name for name in RECOMMENDATION_TABLES if name not in tables]
    if missing:
        raise KnowledgeBaseError(f"build_recommendation_tables returned no {', '.join(missing)} table")
    return {name: tables[name] for name in RECOMMENDATION_TABLES}, list(paths)


def build_kb(sources: Path, out_dir: Path, genes: Sequence[str] = DEFAULT_GENES) -> Path:
    """Build every KB table for ``genes`` from ``sources`` into ``out_dir``; return the manifest path."""
    sources, out_dir = Path(sources), Path(out_dir)
    if not sources.is_dir():
        raise KnowledgeBaseError(f"sources directory {sources} does not exist; point --sources at ../shared/data")
    genes = tuple(genes)
    reader = SourceReader(sources)
    tables, gene_sources, audit = build_gene_tables(reader, genes)
    tables["legacy_alleles"] = frame("legacy_alleles", legacy_allele_rows(reader, tables, genes))
    extra, used = recommendation_tables(sources, genes)
    tables.update(extra)
    for path in used:
        reader.record(path)
    manifest = {
        "audit": audit,
        "genes": list(genes),
        "genome_build": _genome_build(gene_sources),
        "pipeline_version": pgx.__version__,
        "sources": reader.manifest_entries(),
    }
    definition_versions = [s.translation["version"] for s in gene_sources if s.translation is not None]
    return write_kb(tables, manifest, definition_versions, out_dir)


def _genome_build(gene_sources: list) -> str:
    """The one genome build every definition file uses (``GRCh38.p14``)."""
    builds = {s.translation.get("genomeBuild") for s in gene_sources if s.translation is not None}
    if len(builds) != 1:
        raise KnowledgeBaseError(f"allele definitions use several genome builds: {sorted(map(str, builds))}")
    return builds.pop()


def write_kb(tables: dict[str, pd.DataFrame], manifest: dict, definition_versions: list[str], out_dir: Path) -> Path:
    """Write ``tables`` + manifest into ``out_dir`` after validating a read-back copy."""
    missing = [name for name in KB_TABLES if name not in tables]
    if missing:
        raise KnowledgeBaseError(f"cannot write the knowledge base without tables {', '.join(missing)}")
    data = {f"{name}.tsv": table_bytes(name, tables[name]) for name in KB_TABLES}
    checksums = {file: sha256_bytes(body) for file, body in data.items()}
    manifest = {**manifest, "kb_version": kb_version(definition_versions, checksums), "tables": checksums}
    data["manifest.json"] = manifest_bytes(manifest)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".kb-build-", dir=out_dir))
    try:
        for file, body in data.items():
            (staging / file).write_bytes(body)
        _validate_written(staging)
        for file in data:
            os.replace(staging / file, out_dir / file)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / "manifest.json"


def _validate_written(root: Path) -> None:
    """Read the staged tables back exactly as ``pgx.kb`` will, and validate them."""
    from pgx.kb import read_table, validate

    validate({name: read_table(root, name) for name in KB_TABLES})


__all__ = [
    "DEFAULT_GENES",
    "GENE_TABLES",
    "MITO_GENES",
    "OUTSIDE_GENES",
    "VCF_GENES",
    "build_kb",
    "build_gene_tables",
    "write_kb",
]
