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
    return KnowledgeBase(root=rootp, manifest=manifest, tables=tables)


def load_kb(root: Path | str | None = None) -> KnowledgeBase:
    """The knowledge base at ``root`` (default: :func:`kb_dir`), loaded once per process."""
    return _load(str(Path(root or kb_dir()).resolve()))
