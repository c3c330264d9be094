"""Load the knowledge base (``resources/kb``) once, validate it, and answer lookups.

The tables are tidy TSVs whose columns are declared in ``pgx.schema.KB_TABLES``; the
manifest records where each came from. Loading is cached per directory, so every stage
of a run shares one parsed copy.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pgx.errors import KnowledgeBaseError
from pgx.schema import KB_TABLES

#: the KB shipped with the package; ``PGX_KB`` overrides it
DEFAULT_KB_DIR = Path(__file__).resolve().parent / "resources" / "kb"


@dataclass(frozen=True)
class KnowledgeBase:
    """All knowledge tables plus the manifest they were built from."""

    root: Path
    manifest: dict
    tables: dict[str, pd.DataFrame]

    @property
    def version(self) -> str:
        return self.manifest["kb_version"]

    @property
    def genes(self) -> list[str]:
        """Genes the KB can call from a VCF, sorted."""
        g = self.tables["genes"]
        return sorted(g.loc[g["called_from"] == "vcf", "gene"].tolist())

    def table(self, name: str, gene: str | None = None) -> pd.DataFrame:
        """One table, optionally restricted to ``gene``."""
        df = self.tables[name]
        if gene is not None:
            df = df[df["gene"] == gene]
        return df

    def loci(self, genes: list[str] | None = None, roles: tuple[str, ...] = ("core", "extra")) -> pd.DataFrame:
        """Loci of ``genes`` (all VCF genes by default) with the given roles, sorted."""
        df = self.tables["loci"]
        genes = self.genes if genes is None else genes
        unknown = sorted(set(genes) - set(self.tables["genes"]["gene"]))
        if unknown:
            raise KnowledgeBaseError(
                f"unknown gene(s) {', '.join(unknown)}; the knowledge base {self.version} "
                f"knows: {', '.join(self.genes)}"
            )
        df = df[df["gene"].isin(genes) & df["role"].isin(roles)]
        return df.sort_values(["gene", "pos"], kind="stable").reset_index(drop=True)


def kb_dir() -> Path:
    """The KB directory in use: ``$PGX_KB`` or the one shipped with the package."""
    return Path(os.environ.get("PGX_KB", DEFAULT_KB_DIR))


def read_table(root: Path, name: str) -> pd.DataFrame:
    """Read one KB TSV with its declared dtypes; fail clearly on missing or extra columns."""
    path = root / f"{name}.tsv"
    if not path.exists():
        raise KnowledgeBaseError(f"{path} is missing; rebuild the knowledge base with `pgx kb build`")
    declared = KB_TABLES[name]
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[])
    if list(df.columns) != list(declared):
        raise KnowledgeBaseError(
            f"{path} has columns {list(df.columns)}, expected {list(declared)}; rebuild with `pgx kb build`"
        )
    for col, dtype in declared.items():
        df[col] = _convert(df[col], dtype)
    return df


def _convert(col: pd.Series, dtype: str) -> pd.Series:
    if dtype == "string":
        return col.astype(object)
    if dtype == "boolean":
        return col.map({"true": True, "false": False, "True": True, "False": False}).astype(bool)
    empty = col == ""
    num = pd.to_numeric(col.where(~empty, None))
    if dtype in ("Int64", "int64"):
        return num.astype(dtype)
    if dtype in ("Float64", "float64"):
        return num.astype(dtype)
    raise ValueError(f"unsupported KB dtype {dtype}")


@functools.lru_cache(maxsize=4)
def _load(root: str) -> KnowledgeBase:
    rootp = Path(root)
    manifest_path = rootp / "manifest.json"
    if not manifest_path.exists():
        raise KnowledgeBaseError(
            f"no knowledge base at {rootp} (manifest.json missing); build it with "
            "`pgx kb build --sources ../shared/data` or set PGX_KB"
        )
    manifest = json.loads(manifest_path.read_text())
    tables = {name: read_table(rootp, name) for name in KB_TABLES}
    validate(tables, where=str(rootp))
    return KnowledgeBase(root=rootp, manifest=manifest, tables=tables)


def load_kb(root: Path | str | None = None) -> KnowledgeBase:
    """The knowledge base at ``root`` (default: :func:`kb_dir`), loaded once per process."""
    return _load(str(Path(root or kb_dir()).resolve()))


# --- validation -------------------------------------------------------------------------

_ROLES = ("core", "extra", "ignored")
_LOOKUP_METHODS = ("activity_score", "phenotype", "allele_status")


def validate(tables: dict[str, pd.DataFrame], where: str = "knowledge base") -> None:
    """Raise KnowledgeBaseError listing every integrity problem of the loaded ``tables``.

    Checks what the matcher and phenotyper silently rely on: unique genes, loci and
    alleles; definitions only at known core positions of known alleles; one reference
    allele per gene; known roles and lookup methods; well-formed score ranges.
    """
    problems = _table_problems(tables)
    if problems:
        shown = "; ".join(problems[:20]) + (f"; ... {len(problems) - 20} more" if len(problems) > 20 else "")
        raise KnowledgeBaseError(f"{where} is inconsistent ({shown}); rebuild it with `pgx kb build`")


def _table_problems(t: dict[str, pd.DataFrame]) -> list[str]:
    genes, loci, alleles = t["genes"], t["loci"], t["alleles"]
    defs, rules, pairs = t["allele_definitions"], t["phenotype_rules"], t["function_phenotypes"]
    known = set(genes["gene"])
    problems = _duplicates(genes, ["gene"], "genes") + _duplicates(loci, ["gene", "pos"], "loci")
    problems += _duplicates(alleles, ["gene", "allele"], "alleles")
    problems += _duplicates(defs, ["gene", "allele", "pos"], "allele_definitions")
    problems += _duplicates(pairs, ["gene", "function_1", "function_2"], "function_phenotypes")
    for name in ("loci", "alleles", "allele_definitions", "function_phenotypes", "phenotype_rules"):
        unknown = sorted(set(t[name]["gene"]) - known)
        if unknown:
            problems.append(f"{name} names genes absent from genes: {', '.join(unknown)}")
    problems += [f"loci role {r!r} unknown" for r in sorted(set(loci["role"]) - set(_ROLES))]
    problems += [f"lookup_method {m!r} unknown" for m in sorted(set(genes["lookup_method"]) - set(_LOOKUP_METHODS))]
    core = set(zip(loci.loc[loci["role"] == "core", "gene"], loci.loc[loci["role"] == "core", "pos"]))
    stray = [f"{g} {a} at {p}" for g, a, p in zip(defs["gene"], defs["allele"], defs["pos"]) if (g, p) not in core]
    if stray:
        problems.append(f"definitions at positions that are not core loci: {', '.join(stray[:5])}")
    named = set(zip(alleles["gene"], alleles["allele"]))
    undefined = sorted({f"{g} {a}" for g, a in zip(defs["gene"], defs["allele"]) if (g, a) not in named})
    if undefined:
        problems.append(f"definitions of alleles absent from alleles: {', '.join(undefined[:5])}")
    problems += _reference_problems(genes, alleles)
    bad_pairs = pairs[pairs["function_1"] > pairs["function_2"].where(pairs["function_2"] != "", pairs["function_1"])]
    problems += [f"function_phenotypes pair not sorted: {g} {a} / {b}" for g, a, b in zip(bad_pairs["gene"], bad_pairs["function_1"], bad_pairs["function_2"])]
    bad_rules = rules[~(rules["min_score"] <= rules["max_score"])]
    problems += [f"phenotype_rules {g} {p}: min_score above max_score" for g, p in zip(bad_rules["gene"], bad_rules["phenotype"])]
    return problems


def _duplicates(df: pd.DataFrame, cols: list[str], name: str) -> list[str]:
    dup = df[df.duplicated(cols, keep=False)]
    if dup.empty:
        return []
    keys = sorted({" ".join(str(v) for v in row) for row in dup[cols].itertuples(index=False)})
    return [f"{name} has duplicate rows for {', '.join(keys[:5])}"]


def _reference_problems(genes: pd.DataFrame, alleles: pd.DataFrame) -> list[str]:
    """Each gene has exactly one reference allele, and genes.reference_allele names it."""
    problems = []
    refs = alleles[alleles["is_reference"]].groupby("gene")["allele"].apply(list).to_dict()
    for gene, declared in zip(genes["gene"], genes["reference_allele"]):
        found = refs.get(gene, [])
        has_alleles = bool((alleles["gene"] == gene).any())
        if has_alleles and found != [declared]:
            problems.append(f"{gene}: reference allele is {declared!r} in genes but {found} in alleles")
    return problems


# --- description (`pgx kb info`) ------------------------------------------------------------


def describe(kb: KnowledgeBase) -> str:
    """A short human-readable summary of ``kb``: what `pgx kb info` prints."""
    m = kb.manifest
    lines = [
        f"knowledge base {kb.version}",
        f"  directory        {kb.root}",
        f"  built by         pgx {m.get('pipeline_version', '?')}",
        f"  genome build     {m.get('genome_build', '?')}",
        "",
        "sources (data version):",
    ]
    lines += [f"  {s['path']}  {s.get('data_version') or '-'}" for s in m.get("sources", [])]
    lines += ["", "genes:", *_gene_lines(kb), "", *_drug_lines(kb)]
    return "\n".join(lines) + "\n"


def _gene_lines(kb: KnowledgeBase) -> list[str]:
    """One aligned row per gene: alleles, alleles with a function, loci by role."""
    header = ("gene", "chrom", "lookup", "reference", "alleles", "with function", "loci core/extra/ignored")
    rows = [header]
    for gene in sorted(kb.tables["genes"]["gene"]):
        g = kb.table("genes", gene).iloc[0]
        alleles = kb.table("alleles", gene)
        roles = kb.table("loci", gene)["role"].value_counts()
        rows.append(
            (
                gene,
                g["chrom"],
                g["lookup_method"],
                g["reference_allele"],
                str(len(alleles)),
                str(int((alleles["function"] != "").sum())),
                "/".join(str(int(roles.get(r, 0))) for r in _ROLES),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _drug_lines(kb: KnowledgeBase) -> list[str]:
    """Drugs per guideline source and recommendation rows per source."""
    drugs, recs = kb.tables["drugs"], kb.tables["recommendations"]
    per_source = drugs.groupby("source")["drug"].nunique().to_dict() if not drugs.empty else {}
    rec_source = recs["source"].value_counts().to_dict() if not recs.empty else {}
    lines = ["drugs: " + (", ".join(f"{s} {n}" for s, n in sorted(per_source.items())) or "none")]
    detail = ", ".join(f"{s} {n}" for s, n in sorted(rec_source.items()))
    lines.append(f"recommendation rows: {len(recs)}" + (f" ({detail})" if detail else ""))
    return lines
