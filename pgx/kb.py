"""Load the knowledge base (``resources/kb``) once, validate it, and answer lookups.

The tables are tidy TSVs whose columns are declared in ``pgx.schema.KB_TABLES``; the
manifest records where each came from. Loading is cached per directory, so every stage
of a run shares one parsed copy.

What the stages derive from the tables (the matcher's per-gene models, the phenotype
lookups, the guideline index, truth translations) is built once and kept on the KB
object itself (:meth:`KnowledgeBase.derived`), so it lives exactly as long as the KB and
no module keeps a cache of its own.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd

from pgx.errors import KnowledgeBaseError
from pgx.schema import KB_TABLES, NO_RESULT

#: the KB shipped with the package; ``PGX_KB`` overrides it
DEFAULT_KB_DIR = Path(__file__).resolve().parent / "resources" / "kb"

T = TypeVar("T")


class DerivedIndexes:
    """What the stages derived from one KB's tables, by key (see :meth:`KnowledgeBase.derived`).

    Never pickled with its KB: a copy sent to another process starts empty and builds
    only what it uses there, so passing a KB stays as cheap as passing its tables.
    """

    def __init__(self) -> None:
        self.built: dict[Hashable, object] = {}

    def __reduce__(self) -> tuple:
        return (DerivedIndexes, ())


@dataclass(frozen=True)
class KnowledgeBase:
    """All knowledge tables plus the manifest they were built from, and what the stages
    derive from them (built on first use, see :meth:`derived`)."""

    root: Path
    manifest: dict
    tables: dict[str, pd.DataFrame]
    _derived: DerivedIndexes = field(default_factory=DerivedIndexes, init=False, repr=False, compare=False)

    def derived(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, built once for this KB and ``key`` and then kept with it.

        The one cache of indexes over the KB: each stage names its own key (its module and
        what it builds, plus the gene for per-gene indexes), e.g. ``("match.setup", gene)``.
        The tables are read-only once loaded, so nothing ever invalidates an entry.
        """
        built = self._derived.built
        if key not in built:
            built[key] = build()
        return built[key]  # type: ignore[return-value]

    @property
    def version(self) -> str:
        return self.manifest["kb_version"]

    @property
    def genes(self) -> list[str]:
        """Genes the KB can call from a VCF, sorted."""
        g = self.tables["genes"]
        return sorted(g.loc[g["called_from"] == "vcf", "gene"].tolist())

    @property
    def mito_genes(self) -> list[str]:
        """Genes with the ``mitochondrial`` gene rule (one haplotype, see :mod:`pgx.mito`), sorted."""
        rules = self.tables.get("gene_rules")
        if rules is None:
            return []
        return sorted(set(rules.loc[rules["rule"] == "mitochondrial", "gene"]))

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
                f"unknown gene(s) {', '.join(unknown)}; the knowledge base {self.version} knows: {', '.join(self.genes)}"
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
        raise KnowledgeBaseError(f"{path} has columns {list(df.columns)}, expected {list(declared)}; rebuild with `pgx kb build`")
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
_CALLED_FROM = ("vcf", "outside")
#: gene_rules vocabulary (declared in pgx.schema with the table) and what its value is
GENE_RULES = {
    "required_position": "position",
    "fallback_position": "position",
    "unphased_priority": "diplotypes",
    "lowest_function": "empty",
    "hemizygous": "chrom",
    "copy_number_not_assessed": "empty",
    "ignored_allele": "allele",
    "mitochondrial": "chrom",
    "outside_only_allele": "allele",
    "inferred_allele": "defined_allele",
    "undocumented_as_reference": "empty",
    "unassigned_function": "function",
    "reference_name": "name",
}
#: outside_results kinds (declared in pgx.schema with the table)
OUTSIDE_KINDS = ("allele_status", "activity_score", "allele_activity")
#: lookup-key values the calling layer produces itself (no call, disagreeing ties, no score)
CALLER_KEYS = (NO_RESULT, "Indeterminate", "n/a")


def validate(tables: dict[str, pd.DataFrame], where: str = "knowledge base") -> None:
    """Raise KnowledgeBaseError listing every integrity problem of the loaded ``tables``.

    Checks what the matcher and phenotyper silently rely on: unique genes, loci and
    alleles; definitions only at known core positions of known alleles; one reference
    allele per gene; known roles and lookup methods; well-formed score ranges; gene
    rules from the vocabulary naming known genes, positions, alleles and chromosomes;
    outside results of known kinds for known genes; no loci for outside-call genes.
    """
    problems = _table_problems(tables)
    problems += _gene_rule_problems(tables)
    problems += _outside_problems(tables)
    problems += _legacy_problems(tables)
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
    problems += [f"called_from {c!r} unknown" for c in sorted(set(genes["called_from"]) - set(_CALLED_FROM))]
    outside = set(genes.loc[genes["called_from"] == "outside", "gene"])
    with_loci = sorted(outside & (set(loci["gene"]) | set(defs["gene"])))
    if with_loci:
        problems.append(f"outside-call genes have loci or definitions: {', '.join(with_loci)}")
    structural = set(zip(alleles.loc[alleles["is_structural"], "gene"], alleles.loc[alleles["is_structural"], "allele"]))
    defined_structural = sorted({f"{g} {a}" for g, a in zip(defs["gene"], defs["allele"]) if (g, a) in structural})
    if defined_structural:
        problems.append(f"structural alleles with definitions: {', '.join(defined_structural[:5])}")
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
    problems += [
        f"function_phenotypes pair not sorted: {g} {a} / {b}"
        for g, a, b in zip(bad_pairs["gene"], bad_pairs["function_1"], bad_pairs["function_2"])
    ]
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


def _gene_rule_problems(t: dict[str, pd.DataFrame]) -> list[str]:
    """gene_rules rows: known gene and rule, a value of the kind the rule takes."""
    rules = t.get("gene_rules")
    if rules is None or rules.empty:
        return []
    genes = t["genes"].set_index("gene")
    loci = t["loci"]
    core = set(zip(loci.loc[loci["role"] == "core", "gene"], loci.loc[loci["role"] == "core", "pos"]))
    alleles = set(zip(t["alleles"]["gene"], t["alleles"]["allele"]))
    problems = []
    for gene, rule, value in zip(rules["gene"], rules["rule"], rules["value"]):
        what = f"gene_rules {gene} {rule} {value!r}"
        if gene not in genes.index:
            problems.append(f"{what}: unknown gene")
            continue
        kind = GENE_RULES.get(rule)
        if kind is None:
            problems.append(f"{what}: rule not in the vocabulary ({', '.join(GENE_RULES)})")
        elif kind == "position" and not (str(value).isdigit() and (gene, int(value)) in core):
            problems.append(f"{what}: not a core locus of {gene}")
        elif kind == "chrom" and value != genes.loc[gene, "chrom"]:
            problems.append(f"{what}: {gene} is on {genes.loc[gene, 'chrom']}")
        elif kind == "empty" and value:
            problems.append(f"{what}: this rule takes no value")
        elif kind == "diplotypes":
            options, sep, pick = str(value).partition(">")
            named = {a for d in options.split("|") + [pick] for a in d.split("/")}
            if not sep or pick not in options.split("|") or any((gene, a) not in alleles for a in named):
                problems.append(f"{what}: not 'A/B|C/D>C/D' over known alleles")
        elif kind == "allele" and not value:
            problems.append(f"{what}: names no allele")
        elif kind == "defined_allele" and (gene, value) not in alleles:
            problems.append(f"{what}: not an allele of {gene}")
        elif kind in ("function", "name") and not value:
            problems.append(f"{what}: needs a value")
    return problems


def _outside_problems(t: dict[str, pd.DataFrame]) -> list[str]:
    """outside_results rows: known gene and kind, unique result per gene and kind."""
    out = t.get("outside_results")
    if out is None or out.empty:
        return []
    known = set(t["genes"]["gene"])
    problems = _duplicates(out, ["gene", "kind", "result"], "outside_results")
    problems += [f"outside_results names unknown gene {g}" for g in sorted(set(out["gene"]) - known)]
    problems += [f"outside_results kind {k!r} unknown" for k in sorted(set(out["kind"]) - set(OUTSIDE_KINDS))]
    alleles = set(zip(t["alleles"]["gene"], t["alleles"]["allele"]))
    activity = out[out["kind"] == "allele_activity"]
    stray = sorted(f"{g} {a}" for g, a in zip(activity["gene"], activity["result"]) if (g, a) not in alleles)
    if stray:
        problems.append(f"outside_results allele_activity for alleles absent from alleles: {', '.join(stray)}")
    return problems


#: legacy_alleles relations (declared in pgx.schema with the table)
LEGACY_RELATIONS = ("renamed", "suballele", "outside_definitions", "split", "unmapped")


def _legacy_problems(t: dict[str, pd.DataFrame]) -> list[str]:
    """legacy_alleles rows: known gene and relation, one row per name, current names that
    are alleles of the gene (none only for ``unmapped``), a legacy name that is not a
    current allele (except for ``split``), ``decided_by`` naming core loci of the gene
    (``split`` only), and a citation."""
    legacy = t.get("legacy_alleles")
    if legacy is None or legacy.empty:
        return []
    alleles = set(zip(t["alleles"]["gene"], t["alleles"]["allele"]))
    loci = t["loci"]
    core = set(zip(loci.loc[loci["role"] == "core", "gene"], loci.loc[loci["role"] == "core", "rsid"]))
    problems = _duplicates(legacy, ["gene", "legacy_name"], "legacy_alleles")
    problems += [f"legacy_alleles names unknown gene {g}" for g in sorted(set(legacy["gene"]) - set(t["genes"]["gene"]))]
    for row in legacy.itertuples(index=False):
        what = f"legacy_alleles {row.gene} {row.legacy_name}"
        current = [a for a in row.current.split("|") if a]
        decided = [r for r in row.decided_by.split(";") if r]
        if row.relation not in LEGACY_RELATIONS:
            problems.append(f"{what}: relation {row.relation!r} unknown")
        problems += [f"{what}: {a} is not an allele of {row.gene}" for a in current if (row.gene, a) not in alleles]
        if (row.relation == "unmapped") != (not current):
            problems.append(f"{what}: only an unmapped name has no current allele")
        if row.relation != "split" and (row.gene, row.legacy_name) in alleles:
            problems.append(f"{what}: a current allele name; only a 'split' row may reuse one")
        if (row.relation == "split") != bool(decided) or (row.relation == "split" and len(current) < 2):
            problems.append(f"{what}: a split (and only a split) names two or more alleles and the loci telling them apart")
        problems += [f"{what}: decided_by {r} is not a core locus of {row.gene}" for r in decided if (row.gene, r) not in core]
        if not row.source:
            problems.append(f"{what}: no source")
    return problems


# --- what the KB can produce ------------------------------------------------------------


def score_text(score: float, lower_bound: bool = False) -> str:
    """An activity score as CPIC writes it: ``0.0``, ``1.25``, ``≥4.0``."""
    text = f"{score:.2f}".rstrip("0")
    text = text + "0" if text.endswith(".") else text
    return ("≥" if lower_bound else "") + text


def reachable_results(kb: KnowledgeBase) -> dict[str, set[str]]:
    """gene -> every lookup-key value some diplotype or outside result of the KB gives.

    Phenotype genes: the phenotypes of function pairs whose functions some listed allele
    has (single-allele rows only for hemizygous or outside-call genes). Activity-score
    genes: every sum of two listed alleles' activity values (structural ones included,
    lower bounds from ``outside_results`` keeping their ``≥``), the phenotypes the
    rules give, and the gene's ``activity_score`` outside results. Allele-status genes:
    their ``allele_status`` outside results. The caller's own keys (:data:`CALLER_KEYS`)
    are not listed.
    """
    t = kb.tables
    genes = t["genes"].set_index("gene")
    outside = t.get("outside_results", pd.DataFrame(columns=list(KB_TABLES["outside_results"])))
    rules = t["gene_rules"] if "gene_rules" in t else pd.DataFrame(columns=["gene", "rule"])
    haploid = set(rules.loc[rules["rule"].isin(["hemizygous", "mitochondrial"]), "gene"])
    haploid |= set(genes.index[genes["called_from"] == "outside"])
    out: dict[str, set[str]] = {}
    for gene, method in genes["lookup_method"].items():
        alleles = kb.table("alleles", gene)
        mine = outside[outside["gene"] == gene]
        found = set(mine.loc[mine["kind"].isin(["allele_status", "activity_score"]), "lookup_key"])
        if method == "activity_score":
            values = [(float(v), False) for v in alleles["activity_value"].dropna()]
            for text in mine.loc[mine["kind"] == "allele_activity", "lookup_key"]:
                values.append((float(text.lstrip("≥")), text.startswith("≥")))
            for i, (a, ba) in enumerate(values):
                for b, bb in values[i:]:
                    found.add(score_text(a + b, ba or bb))
            found |= set(kb.table("phenotype_rules", gene)["phenotype"])
        else:
            functions = set(alleles["function"]) - {""}
            pairs = kb.table("function_phenotypes", gene)
            for f1, f2, phenotype in zip(pairs["function_1"], pairs["function_2"], pairs["phenotype"]):
                if f1 in functions and (f2 in functions or (f2 == "" and gene in haploid)):
                    found.add(phenotype)
        out[gene] = found - set(CALLER_KEYS)
    return out


def lookup_key_values(recommendations: pd.DataFrame) -> dict[str, set[str]]:
    """gene -> the key values the recommendations table looks up (``GENE=key;...``)."""
    keys: dict[str, set[str]] = {}
    for key in recommendations["lookup_key"]:
        for part in str(key).split(";"):
            gene, _, value = part.partition("=")
            keys.setdefault(gene, set()).add(value)
    return keys


def unreachable_keys(kb: KnowledgeBase, keys: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
    """gene -> guideline key values no diplotype or outside result of the KB gives (sorted).

    ``keys`` defaults to those of the KB's own recommendations table; a gene absent
    from the genes table has every key unreachable. A key that is a diplotype of two
    listed alleles (DPWG's genotype-keyed rows, e.g. CYP2C9 ``*1/*3``) is reachable.
    """
    keys = lookup_key_values(kb.tables["recommendations"]) if keys is None else keys
    reachable = reachable_results(kb)
    alleles = set(zip(kb.tables["alleles"]["gene"], kb.tables["alleles"]["allele"]))
    out = {}
    for gene, values in sorted(keys.items()):
        missing = sorted(
            v for v in set(values) - set(CALLER_KEYS) - reachable.get(gene, set()) if not _is_diplotype_of(gene, v, alleles)
        )
        if missing:
            out[gene] = missing
    return out


def _is_diplotype_of(gene: str, value: str, alleles: set[tuple[str, str]]) -> bool:
    """Is ``value`` a diplotype ``A/B`` of two listed alleles (DPWG keys some rows by genotype)?"""
    parts = value.split("/")
    return len(parts) == 2 and all((gene, a) in alleles for a in parts)


# --- description (`pgx kb info`) ------------------------------------------------------------


def describe(kb: KnowledgeBase) -> str:
    """A human-readable summary of ``kb``: what `pgx kb info` prints.

    Per gene: where it is called from, alleles, alleles with a function, alleles whose
    function no source gives, structural alleles, loci by role, loci with a GRCh37
    position, phenotype rules (function pairs or score ranges) and gene rules; then the
    alleles of unknown function by name, outside results, guideline keys the KB cannot
    reach, drugs per guideline source, recommendation rows, and the source versions.
    """
    m = kb.manifest
    genes = kb.tables["genes"]
    n_vcf = int((genes["called_from"] == "vcf").sum())
    lines = [
        f"knowledge base {kb.version}",
        f"  directory        {kb.root}",
        f"  built by         pgx {m.get('pipeline_version', '?')}",
        f"  genome build     {m.get('genome_build', '?')}",
        "",
        f"genes: {len(genes)} ({n_vcf} called from the VCF, {len(genes) - n_vcf} outside calls only)",
        *_gene_lines(kb),
        "",
        *_unknown_function_lines(kb),
        "",
        *_outside_only_lines(kb),
        "",
        *_outside_lines(kb),
        "",
        *_legacy_lines(kb),
        "",
        *_unreachable_lines(kb),
        "",
        *_drug_lines(kb),
        "",
        "sources (data version):",
    ]
    lines += [f"  {s['path']}  {s.get('data_version') or '-'}" for s in m.get("sources", [])]
    return "\n".join(lines) + "\n"


def _count(n: int) -> str:
    return str(int(n))


def _gene_lines(kb: KnowledgeBase) -> list[str]:
    """One aligned row per gene."""
    header = (
        "gene", "from", "chrom", "lookup", "reference", "alleles", "with function", "function unknown",
        "structural", "loci core/extra/ignored", "GRCh37", "phenotype rules", "gene rules",
    )  # fmt: skip
    rows = [header]
    for gene in sorted(kb.tables["genes"]["gene"]):
        g = kb.table("genes", gene).iloc[0]
        alleles = kb.table("alleles", gene)
        loci = kb.table("loci", gene)
        roles = loci["role"].value_counts()
        core = loci[loci["role"] == "core"]
        if g["lookup_method"] == "activity_score":
            pheno = f"{len(kb.table('phenotype_rules', gene))} score ranges"
        else:
            pheno = f"{len(kb.table('function_phenotypes', gene))} function pairs"
        rule_counts = kb.table("gene_rules", gene)["rule"].value_counts() if "gene_rules" in kb.tables else {}
        rules = ", ".join(f"{r}" + (f" x{int(n)}" if n > 1 else "") for r, n in sorted(dict(rule_counts).items())) or "-"
        rows.append(
            (
                gene,
                g["called_from"],
                g["chrom"],
                g["lookup_method"],
                g["reference_allele"] or "-",
                _count(len(alleles)),
                _count((alleles["function"] != "").sum()),
                _count((alleles["function"] == "").sum()),
                _count(alleles["is_structural"].sum()),
                "/".join(str(int(roles.get(r, 0))) for r in _ROLES),
                f"{int(core['grch37_pos'].notna().sum())}/{len(core)}",
                pheno,
                rules,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _unknown_function_lines(kb: KnowledgeBase, shown: int = 12) -> list[str]:
    """The alleles whose function no source gives, per gene (the first ``shown`` names)."""
    alleles = kb.tables["alleles"]
    unknown = alleles[alleles["function"] == ""]
    if unknown.empty:
        return ["function unknown: none"]
    lines = [f"function unknown (no source gives one): {len(unknown)} alleles"]
    for gene, names in unknown.groupby("gene", sort=True)["allele"]:
        names = list(names)
        more = f", ... {len(names) - shown} more" if len(names) > shown else ""
        lines.append(f"  {gene} ({len(names)}): {', '.join(names[:shown])}{more}")
    return lines


def _outside_only_lines(kb: KnowledgeBase) -> list[str]:
    """Alleles of VCF genes the KB cannot place, so only an outside call can give them
    (``outside_only_allele`` gene rules, e.g. MT-RNR1 ``m.961T>del+Cn``)."""
    rules = kb.tables["gene_rules"]
    rows = rules[rules["rule"] == "outside_only_allele"]
    if rows.empty:
        return ["alleles given by outside calls only: none"]
    lines = ["alleles given by outside calls only (not placed on the genome, so not called from a VCF):"]
    lines += [f"  {g} {a}: {note}" for g, a, note in zip(rows["gene"], rows["value"], rows["note"])]
    return lines


def _outside_lines(kb: KnowledgeBase) -> list[str]:
    """Outside results per gene and kind."""
    out = kb.tables.get("outside_results")
    if out is None or out.empty:
        return ["outside results: none"]
    counts = out.groupby(["gene", "kind"]).size()
    return ["outside results: " + ", ".join(f"{g} {n} {k}" for (g, k), n in counts.items())]


def _legacy_lines(kb: KnowledgeBase) -> list[str]:
    """Legacy allele names per gene (``legacy_alleles``), with what they mean now."""
    legacy = kb.tables.get("legacy_alleles")
    if legacy is None or legacy.empty:
        return ["legacy allele names: none"]
    lines = [f"legacy allele names (for scoring truth written in them): {len(legacy)}"]
    for gene, rows in legacy.groupby("gene", sort=True):
        names = [f"{n} -> {c.replace('|', ' or ') or '(not translated)'}" for n, c in zip(rows["legacy_name"], rows["current"])]
        lines.append(f"  {gene}: {', '.join(names)}")
    return lines


def _unreachable_lines(kb: KnowledgeBase) -> list[str]:
    """Guideline key values (of the recommendations table) no diplotype or outside result gives."""
    missing = unreachable_keys(kb)
    if not missing:
        return ["guideline lookup keys: every key is reachable from a diplotype or an outside result"]
    lines = ["guideline lookup keys no diplotype or outside result reaches:"]
    lines += [f"  {gene}: {'; '.join(values)}" for gene, values in missing.items()]
    return lines


def _drug_lines(kb: KnowledgeBase) -> list[str]:
    """Drugs per guideline source and recommendation rows per source."""
    drugs, recs = kb.tables["drugs"], kb.tables["recommendations"]
    per_source = drugs.groupby("source")["drug"].nunique().to_dict() if not drugs.empty else {}
    rec_source = recs["source"].value_counts().to_dict() if not recs.empty else {}
    lines = ["drugs: " + (", ".join(f"{s} {n}" for s, n in sorted(per_source.items())) or "none")]
    detail = ", ".join(f"{s} {n}" for s, n in sorted(rec_source.items()))
    lines.append(f"recommendation rows: {len(recs)}" + (f" ({detail})" if detail else ""))
    if "clauses" in recs:
        counts = clause_counts(recs)
        lines.append("recommendation clauses (each source text read clause by clause):")
        for row in counts.itertuples(index=False):
            lines.append(
                f"  {row.source:5s} {row.recommendations:5d} recommendations {row.clauses:6d} clauses "
                f"{row.represented:6d} represented {row.not_represented:5d} not represented"
                + (f" ({row.reasons})" if row.reasons else "")
            )
        partly = counts["partly_represented"].sum()
        lines.append(f"  recommendations with a clause not represented: {int(partly)}")
    return lines


def clause_counts(recs: pd.DataFrame) -> pd.DataFrame:
    """Per source: recommendations, clauses, clauses represented, not represented and by reason.

    Read from the ``clauses`` column (``1:action,dose;2:-evidence``), once per source
    recommendation (its branch rows share the account)."""
    rows = []
    one = recs.drop_duplicates("recommendation_id")
    for source, part in one.groupby("source", sort=True):
        entries = [e.split(":", 1)[1] for c in part["clauses"] for e in str(c).split(";") if ":" in e]
        missing = [e[1:] for e in entries if e.startswith("-")]
        reasons = pd.Series(missing, dtype=object).value_counts()
        rows.append(
            {
                "source": source,
                "recommendations": len(part),
                "clauses": len(entries),
                "represented": len(entries) - len(missing),
                "not_represented": len(missing),
                "reasons": ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())),
                "partly_represented": int(part["clauses"].astype(str).str.contains(":-", regex=False).sum()),
            }
        )
    return pd.DataFrame(rows)


def coverage_tables(kb: KnowledgeBase) -> dict[str, pd.DataFrame]:
    """What the KB covers, as two tables: per gene and per drug (``pgx kb info --markdown``)."""
    t = kb.tables
    alleles, loci, rules = t["alleles"], t["loci"], t["gene_rules"]
    genes = []
    for g in t["genes"].itertuples(index=False):
        a = alleles[alleles["gene"] == g.gene]
        n_pairs = int((t["function_phenotypes"]["gene"] == g.gene).sum())
        n_ranges = int((t["phenotype_rules"]["gene"] == g.gene).sum())
        genes.append(
            {
                "gene": g.gene,
                "called_from": g.called_from,
                "lookup": g.lookup_method,
                "alleles": len(a),
                "with_function": int((a["function"] != "").sum()),
                "function_unknown": int((a["function"] == "").sum()),
                "structural": int(a["is_structural"].sum()),
                "loci": int(((loci["gene"] == g.gene) & (loci["role"] == "core")).sum()),
                "phenotype_rules": f"{n_ranges} score ranges" if n_ranges else f"{n_pairs} function pairs",
                "gene_rules": ", ".join(sorted(set(rules.loc[rules["gene"] == g.gene, "rule"]))),
            }
        )
    recs = t["recommendations"]
    drugs = []
    for (source, drug), rows in recs.groupby(["source", "drug"], sort=True):
        levels = t["drugs"][(t["drugs"]["source"] == source) & (t["drugs"]["drug"] == drug)]
        level = "; ".join(f"{g}: {lv}" for g, lv in zip(levels["gene"], levels["cpic_level"]) if lv)
        drugs.append(
            {
                "drug": drug,
                "source": source,
                "genes": ", ".join(sorted({g for gs in rows["genes"] for g in gs.split(";") if g})),
                "cpic_level": level,
                "rows": len(rows),
            }
        )
    return {"genes": pd.DataFrame(genes), "drugs": pd.DataFrame(drugs)}


def coverage_markdown(kb: KnowledgeBase) -> str:
    """:func:`coverage_tables` as Markdown."""

    def table(df: pd.DataFrame) -> str:
        head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns)
        body = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in df.itertuples(index=False)]
        return "\n".join([head, *body])

    tabs = coverage_tables(kb)
    per_source = tabs["drugs"].groupby("source").agg(drugs=("drug", "nunique"), rows=("rows", "sum")).reset_index()
    rules = kb.tables["gene_rules"]
    mito = rules[rules["rule"].isin(["mitochondrial", "outside_only_allele"])][["gene", "rule", "value", "note"]]
    mito_loci = kb.tables["loci"][kb.tables["loci"]["gene"].isin(set(mito["gene"]))]
    mito_loci = mito_loci[["gene", "chrom", "pos", "ref", "alts", "rsid", "hgvs", "grch37_pos"]].rename(
        columns={"hgvs": "alleles"}
    )
    return (
        "\n\n".join(
            [
                f"# Knowledge base {kb.version}",
                "Generated by `pgx kb info --markdown`.",
                "## Genes",
                table(tabs["genes"]),
                "## Mitochondrial genes",
                'Called from chrM as one haplotype (see README, "MT-RNR1 from chrM"). Their gene rules, and the '
                "alleles that only an outside call can give:",
                table(mito),
                "Their loci (rCRS, NC_012920.1: GRCh38 `chrM` = GRCh37/b37 `MT`, so `grch37_pos` = `pos`):",
                table(mito_loci),
                "## Legacy allele names",
                "Older names that truth sets and older reports use, and what they mean in current names "
                "(`legacy_alleles`, curated with a citation per row in `pgx/kb_build/legacy.py`; `pgx validate` "
                "scores truth rows by them, calling never uses them). `split`: the name covered several current "
                "alleles that `decided_by` tells apart; `unmapped`: no established current meaning, not translated. "
                "Variants a legacy allele carries outside current definitions are not read from a VCF.",
                table(kb.tables["legacy_alleles"]),
                "## Recommendation rows per guideline source",
                table(per_source),
                "## Recommendation clauses",
                "Every clause of every source recommendation either feeds a structured field or is listed as not "
                "represented, with a reason (`evidence`: study results; `reference_values`: therapeutic ranges; "
                "`background`: mechanisms, timing, definitions; `no_advice`: the guideline says it cannot advise; "
                "`other`). `partly_represented`: recommendations with at least one clause not represented.",
                table(clause_counts(kb.tables["recommendations"])),
                "## Drugs",
                table(tabs["drugs"]),
            ]
        )
        + "\n"
    )
