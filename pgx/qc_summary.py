"""What the batch QC page (:mod:`pgx.qc`) counts, streamed from the batch's tables.

A 200,000-genome batch has 3.8 million calls and hundreds of millions of genotypes, so the
QC never holds a whole table. It reads ``calls.parquet`` and ``genotypes.parquet`` in
record batches of :data:`STREAM_ROWS` rows (``pyarrow.parquet.ParquetFile.iter_batches``,
only the columns it needs, list columns flattened in Arrow rather than turned into Python
lists), turns each batch into counts per key, adds the counts up as it goes, and derives
every rate, share and ranking from the sums at the end. Memory follows the number of
distinct keys, not the number of rows.

Each summary is also a pure function of a calls DataFrame (:func:`gene_rates`,
:func:`phenotype_counts`, :func:`missing_by_sample`, :func:`novel_variant_table`,
:func:`reason_table`, :func:`null_warnings`, :func:`population_rates`): the counts of that
one table, then the same finishing step as the stream, so :func:`summarise_calls` gives the
same frames as the whole table (tested on a batch read a few rows at a time).

What needs the whole batch, and what is kept for it:

* distinct samples (the header, population sizes): one set of sample IDs;
* the samples with the most missing positions: each sample's total (one number for each
  sample with any); the per-gene detail is read back only for the :data:`TOP_TABLE` shown;
* novel variants: per variant and gene, its carriers' count and the first
  :data:`CARRIERS_SHOWN` IDs in order. The calls table has one row per sample and gene
  (its declared key), so each carrier is counted once without keeping every ID;
* reason codes: the distinct (code, sample) and (code, gene) pairs, for the samples and
  genes per code.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pgx.schema import CALL_REASONS

__all__ = [
    "CallSummary",
    "gene_rates",
    "missing_by_sample",
    "normalise_populations",
    "null_warnings",
    "novel_variant_table",
    "phenotype_category",
    "phenotype_counts",
    "population_rates",
    "populations_from_sheet",
    "read_populations",
    "reason_table",
    "status_counts",
    "summarise_calls",
]

#: rows of a table read at a time: memory is bounded by this, not by the batch of genomes
STREAM_ROWS = 1 << 20

#: rows of the per-sample / per-variant tables shown on the page (the Parquet has them all)
TOP_TABLE = 25

#: carriers named per novel variant (the rest are counted)
CARRIERS_SHOWN = 6

NO_POPULATION = "(no population)"

#: the phenotype shown for a call without one: the gene has no phenotype rule (CYP4F2, IFNL3)
NO_PHENOTYPE = "No phenotype defined"

#: phenotype categories, in the order of the page's stacked bars (labels and colours: pgx.qc)
CATEGORY_ORDER = ("poor", "intermediate", "normal", "rapid", "ultrarapid", "other", "indeterminate", "no_phenotype", "no_call")
CATEGORY_RANK = {key: i for i, key in enumerate(CATEGORY_ORDER)}
# first match wins, so "uncertain susceptibility" is uncertain and "ultrarapid" is not "rapid"
_CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("indeterminate", ("indeterminate", "uncertain", "unknown")),
    ("other", ("responsive",)),  # CFTR/ivacaftor: a drug response, not a function scale
    ("poor", ("increased risk", "susceptib", "poor", "deficient", "no function", "positive")),
    ("ultrarapid", ("ultrarapid",)),
    ("rapid", ("rapid", "increased")),
    ("intermediate", ("intermediate", "decreased", "variable")),
    ("normal", ("normal", "negative")),
)

#: the columns of calls.parquet the QC reads
CALL_COLUMNS = [
    "sample_id", "gene", "phenotype", "call_status", "missing_positions", "novel_variants", "reason_codes",
    "warnings", "kb_version",
]  # fmt: skip


# --- inputs -----------------------------------------------------------------------------


def read_populations(path: Path | str) -> pd.DataFrame:
    """A population table (TSV): a sample column (``sample_id`` or ``sample``) and a
    ``superpopulation`` and/or ``population`` column, e.g. 1000 Genomes' samples.tsv."""
    return normalise_populations(pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False))


def normalise_populations(populations: pd.DataFrame) -> pd.DataFrame:
    """``sample_id``, ``population`` from a mapping that names its columns either way.

    ``superpopulation`` is preferred over ``population`` when both are there: a handful of
    groups reads better than 26. Empty labels are dropped; one label per sample is kept.
    """
    sample_col = next((c for c in ("sample_id", "sample") if c in populations.columns), None)
    pop_col = next((c for c in ("superpopulation", "population") if c in populations.columns), None)
    if sample_col is None or pop_col is None:
        raise ValueError(
            "the population table needs a sample column (sample_id or sample) and a population "
            f"column (superpopulation or population); it has {list(populations.columns)}"
        )
    out = populations[[sample_col, pop_col]].astype(str)
    out.columns = ["sample_id", "population"]
    out = out[out["population"].str.strip() != ""]
    out = out.drop_duplicates("sample_id").reset_index(drop=True)
    out.attrs["label"] = populations.attrs.get("label", pop_col)
    return out


def populations_from_sheet(sheet: pd.DataFrame, genotypes: Path | str) -> pd.DataFrame | None:
    """Sample -> population from the sample sheet's ``population`` column (one label per VCF).

    The sheet names VCFs, not samples, so each sample takes the label of the first of its
    files, in sheet order, that has one. A sample's files are those its genotypes were read
    from (``genotypes.source_file``), streamed: what is kept is each sample's first
    labelled file so far. None when no row has a label.
    """
    if "population" not in sheet.columns:
        return None
    label = {_norm_path(v): p for v, p in zip(sheet["vcf"], sheet["population"].fillna("")) if p.strip()}
    if not label:
        return None
    labels = list(label.values())
    first = _first_labelled_file(genotypes, {p: i for i, p in enumerate(label)})
    out = pd.DataFrame({"sample_id": first["sample_id"].tolist(), "population": [labels[r] for r in first["rank"]]})
    out.attrs["label"] = "population"
    return out


def _stream(path: Path | str, columns: list[str]):
    """The table's ``columns`` as Arrow record batches of at most STREAM_ROWS rows, with
    dictionary columns decoded to strings."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=STREAM_ROWS, columns=columns):
        arrays = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in batch.columns]
        yield pa.table(arrays, names=columns)


def _lowest_rank(table: pa.Table) -> pa.Table:
    return table.group_by("sample_id").aggregate([("rank", "min")]).rename_columns(["sample_id", "rank"])


def _first_labelled_file(genotypes: Path | str, rank: Mapping[str, int]) -> pd.DataFrame:
    """Per sample (sorted by ID) with a genotype read from a file of ``rank`` (normalised
    path -> its place in the sheet): the lowest rank. Read in batches; memory follows the
    samples, not the rows."""
    ranks: dict[str, int | None] = {}
    parts: list[pa.Table] = []
    for table in _stream(genotypes, ["sample_id", "source_file"]):
        files = pc.unique(table.column("source_file")).drop_null()
        for f in files.to_pylist():
            if f not in ranks:
                ranks[f] = rank.get(_norm_path(f))
        file_rank = pa.array([ranks[f] for f in files.to_pylist()], pa.int64())
        row_rank = pc.take(file_rank, pc.index_in(table.column("source_file"), value_set=files))
        labelled = pa.table({"sample_id": table.column("sample_id"), "rank": row_rank}).filter(pc.is_valid(row_rank))
        parts.append(_lowest_rank(labelled))
        if len(parts) > 64:  # what is held stays bounded by the samples
            parts = [_lowest_rank(pa.concat_tables(parts))]
    if not parts:
        return pd.DataFrame({"sample_id": pd.Series(dtype=object), "rank": pd.Series(dtype=np.int64)})
    return _lowest_rank(pa.concat_tables(parts)).to_pandas().sort_values("sample_id").reset_index(drop=True)


def _norm_path(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if path else path


def status_counts(genotypes: Path | str) -> pd.DataFrame:
    """Genotypes per gene (rows, natural order) and status (columns: called, missing,
    partial, assumed_reference), streamed."""
    parts = [
        table.group_by(["gene", "status"]).aggregate([("gene", "count")]) for table in _stream(genotypes, ["gene", "status"])
    ]
    if not parts:
        parts = [
            pa.table(
                {"gene": pa.array([], pa.string()), "status": pa.array([], pa.string()), "gene_count": pa.array([], pa.int64())}
            )
        ]
    df = pa.concat_tables(parts).to_pandas().rename(columns={"gene_count": "genotypes"})
    out = df.pivot_table(index="gene", columns="status", values="genotypes", fill_value=0, aggfunc="sum")
    return out.loc[sorted(out.index, key=natural)]


# --- one table's calls in long form ---------------------------------------------------------


@dataclass(frozen=True)
class _Calls:
    """Calls as the counts need them: one row per call with the list columns reduced to
    numbers, and the novel variants and reason codes one per row."""

    rows: (
        pd.DataFrame
    )  # sample_id, gene, call_status (text), phenotype (None when null), missing (int), novel (bool), with_reason (bool)
    novel: pd.DataFrame  # sample_id, gene, variant: distinct
    reasons: pd.DataFrame  # sample_id, gene, code: one row per entry of reason_codes
    null_warnings: int
    kb_versions: frozenset[str]


def _from_frame(calls: pd.DataFrame) -> _Calls:
    """A calls DataFrame (as :func:`pgx.outputs.read_table` gives it) in long form."""
    has_reasons = "reason_codes" in calls
    rows = pd.DataFrame(
        {
            "sample_id": calls["sample_id"],
            "gene": calls["gene"],
            "call_status": calls["call_status"].astype(str),
            "phenotype": calls["phenotype"].astype(object).where(calls["phenotype"].notna(), None),
            "missing": calls["missing_positions"].map(_length).astype(np.int64),
            "novel": calls["novel_variants"].map(_length) > 0,
            "with_reason": calls["reason_codes"].map(_length) > 0 if has_reasons else False,
        }
    )
    novel = calls[["sample_id", "gene", "novel_variants"]]
    novel = novel[novel["novel_variants"].map(_length) > 0]
    novel = novel.assign(variant=novel["novel_variants"].map(list)).explode("variant")
    if has_reasons:
        reasons = calls[["sample_id", "gene", "reason_codes"]]
        reasons = reasons[reasons["reason_codes"].map(_length) > 0]
        reasons = reasons.assign(code=reasons["reason_codes"].map(list)).explode("code")
    else:
        reasons = pd.DataFrame({"sample_id": [], "gene": [], "code": []})
    return _Calls(
        rows,
        _clean_novel(novel[["sample_id", "gene", "variant"]]),
        _clean_reasons(reasons[["sample_id", "gene", "code"]]),
        null_warnings=int(sum(sum(not isinstance(w, str) for w in ws) for ws in calls["warnings"] if _length(ws))),
        kb_versions=frozenset(calls["kb_version"].astype(str)),
    )


def _from_arrow(table: pa.Table) -> _Calls:
    """A record batch of calls.parquet (:data:`CALL_COLUMNS`) in long form, the list
    columns reduced in Arrow."""
    table = table.combine_chunks()
    col = {name: table.column(name).chunk(0) if table.column(name).num_chunks else table.column(name).combine_chunks()
           for name in table.column_names}  # fmt: skip
    sample, gene = col["sample_id"], col["gene"]

    def length(name: str) -> pa.Array:
        return pc.fill_null(pc.list_value_length(col[name]), 0)

    def exploded(name: str, as_name: str) -> pd.DataFrame:
        parent = pc.list_parent_indices(col[name])
        return pa.table(
            {"sample_id": sample.take(parent), "gene": gene.take(parent), as_name: pc.list_flatten(col[name])}
        ).to_pandas()

    rows = pa.table(
        {
            "sample_id": sample,
            "gene": gene,
            "call_status": col["call_status"],
            "phenotype": col["phenotype"],
            "missing": pc.cast(length("missing_positions"), pa.int64()),
            "novel": pc.greater(length("novel_variants"), 0),
            "with_reason": pc.greater(length("reason_codes"), 0),
        }
    ).to_pandas()
    rows["phenotype"] = rows["phenotype"].astype(object).where(rows["phenotype"].notna(), None)
    warnings = pc.list_flatten(col["warnings"])
    return _Calls(
        rows,
        _clean_novel(exploded("novel_variants", "variant")),
        _clean_reasons(exploded("reason_codes", "code")),
        null_warnings=warnings.null_count,
        kb_versions=frozenset(pc.unique(col["kb_version"]).to_pylist()),
    )


def _clean_novel(novel: pd.DataFrame) -> pd.DataFrame:
    return novel[novel["variant"].notna()].drop_duplicates()


def _clean_reasons(reasons: pd.DataFrame) -> pd.DataFrame:
    return reasons[reasons["code"].map(lambda c: isinstance(c, str) and c != "").astype(bool)]


def _length(value: object) -> int:
    return 0 if value is None or (isinstance(value, float) and value != value) else len(value)


# --- counts (additive) and what the page shows of them -----------------------------------------------


def _status_tally(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per ``keys``: calls, calls by status, calls with a novel variant / a missing position."""
    status = rows["call_status"]
    df = pd.DataFrame(
        {
            **{k: rows[k] for k in keys},
            "samples": np.ones(len(rows), dtype=np.int64),
            **{s: status.eq(s).astype(np.int64) for s in ("called", "ambiguous", "no_call", "outside_call")},
            "novel": rows["novel"].astype(np.int64),
            "with_missing": (rows["missing"] > 0).astype(np.int64),
        }
    )
    return df.groupby(list(keys)).sum()


def _rates(tally: pd.DataFrame) -> pd.DataFrame:
    """``pgx.validate.call_rates`` from the counts: samples and the four rates, rounded."""
    n = tally["samples"]
    out = pd.DataFrame(
        {
            "samples": n,
            "call_rate": (tally["called"] + tally["ambiguous"]) / n,
            "ambiguity_rate": tally["ambiguous"] / n,
            "no_call_rate": tally["no_call"] / n,
            "novel_variant_rate": tally["novel"] / n,
        }
    )
    return out.round(4).reset_index()


def _gene_rates(tally: pd.DataFrame) -> pd.DataFrame:
    out = _rates(tally).set_index("gene").join(tally[["called", "ambiguous", "no_call", "outside_call"]])
    out["samples_with_missing"] = tally["with_missing"]
    out["outside_call_rate"] = (out["outside_call"] / out["samples"]).round(4)
    return out.reset_index()


def _phenotype_tally(rows: pd.DataFrame, by: Sequence[str]) -> pd.Series:
    """Calls per ``by``, phenotype (null kept) and whether the call is a no-call."""
    df = pd.DataFrame({**{k: rows[k] for k in by}, "phenotype": rows["phenotype"], "no_call": rows["call_status"].eq("no_call")})
    return df.groupby([*by, "phenotype", "no_call"], dropna=False).size().rename("samples")


def _phenotype_table(tally: pd.Series, by: Sequence[str]) -> pd.DataFrame:
    """Samples per phenotype and ``by``, with category and share (see :func:`phenotype_counts`)."""
    df = tally.reset_index()
    df["phenotype"] = df["phenotype"].astype(object).where(df["phenotype"].notna(), None)
    df["category"] = df["phenotype"].map(phenotype_category)
    unphenotyped = df["phenotype"].isna() & ~df["no_call"].astype(bool)
    df.loc[unphenotyped, "category"] = "no_phenotype"
    df["phenotype"] = df["phenotype"].where(~unphenotyped, NO_PHENOTYPE).fillna("No call")
    out = df.groupby([*by, "category", "phenotype"], dropna=False)["samples"].sum().reset_index()
    out["share"] = out["samples"] / out.groupby(list(by))["samples"].transform("sum")
    out["rank"] = out["category"].map(CATEGORY_RANK)
    return out.sort_values([*by, "rank", "samples", "phenotype"], ascending=[*[True] * len(by), True, False, True])[
        [*by, "phenotype", "category", "samples", "share"]
    ].reset_index(drop=True)


def _missing_tally(rows: pd.DataFrame) -> pd.Series:
    """Missing KB positions per sample that has any."""
    missing = rows[rows["missing"] > 0]
    return missing.groupby("sample_id", sort=False)["missing"].sum()


def _novel_tally(novel: pd.DataFrame, keep: int | None) -> pd.DataFrame:
    """Per (variant, gene): carriers and the first ``keep`` of their IDs (all with None)."""
    by = novel.groupby(["variant", "gene"])["sample_id"]
    return pd.DataFrame({"samples": by.nunique(), "sample_ids": by.agg(lambda s: sorted(set(s))[:keep])})


def _novel_table(tally: pd.DataFrame) -> pd.DataFrame:
    if tally.empty:
        return pd.DataFrame(columns=["variant", "gene", "samples", "sample_ids"])
    out = tally.reset_index()
    out["_key"] = out["variant"].map(_variant_key)
    out = out.sort_values(["samples", "_key"], ascending=[False, True]).drop(columns="_key")
    return out[["variant", "gene", "samples", "sample_ids"]].reset_index(drop=True)


@dataclass
class _ReasonTally:
    calls: pd.Series  # code -> entries
    samples: pd.DataFrame  # distinct (code, sample_id)
    genes: pd.DataFrame  # distinct (code, gene)

    @classmethod
    def of(cls, reasons: pd.DataFrame) -> _ReasonTally:
        return cls(
            reasons.groupby("code").size(),
            reasons[["code", "sample_id"]].drop_duplicates(),
            reasons[["code", "gene"]].drop_duplicates(),
        )

    def __add__(self, other: _ReasonTally) -> _ReasonTally:
        return _ReasonTally(
            pd.concat([self.calls, other.calls]).groupby(level=0).sum(),
            pd.concat([self.samples, other.samples]).drop_duplicates(),
            pd.concat([self.genes, other.genes]).drop_duplicates(),
        )

    def table(self) -> pd.DataFrame:
        columns = ["code", "meaning", "calls", "samples", "genes"]
        if self.calls.empty:
            return pd.DataFrame(columns=columns)
        out = pd.DataFrame(
            {
                "calls": self.calls,
                "samples": self.samples.groupby("code").size(),
                "genes": self.genes.groupby("code")["gene"].agg(lambda s: ", ".join(sorted(set(s), key=natural))),
            }
        )
        out = out.rename_axis("code").reset_index()
        out["meaning"] = out["code"].map(lambda c: CALL_REASONS.get(c, "(not a code this pgx knows)"))
        return out[columns].sort_values(["calls", "code"], ascending=[False, True]).reset_index(drop=True)


# --- summaries of a whole table (pure, tested) ---------------------------------------------


def gene_rates(calls: pd.DataFrame) -> pd.DataFrame:
    """Per gene: counts by call status and the rates of ``pgx.validate.call_rates``."""
    return _gene_rates(_status_tally(_from_frame(calls).rows, ["gene"]))


def phenotype_category(phenotype: object) -> str:
    """The colour category of a phenotype text (see ``CATEGORIES``); ``no_call`` when null."""
    if not isinstance(phenotype, str) or not phenotype.strip():
        return "no_call"
    low = phenotype.lower()
    for key, words in _CATEGORY_WORDS:
        if any(w in low for w in words):
            return key
    return "other"


def phenotype_counts(calls: pd.DataFrame, by: Sequence[str] = ("gene",)) -> pd.DataFrame:
    """Samples per phenotype and ``by``, with category and share. A null phenotype is
    ``No call`` for a no-call and ``No phenotype defined`` for a call of a gene the
    guidelines give no phenotype rule."""
    rows = _from_frame(calls).rows
    for k in by:
        if k not in rows:
            rows[k] = calls[k]
    return _phenotype_table(_phenotype_tally(rows, by), by)


def missing_by_sample(calls: pd.DataFrame) -> pd.DataFrame:
    """Samples with at least one missing KB position: total, per gene, genes not called.

    Sorted by most missing first (ties by sample ID). A position assumed reference is not
    missing: the provenance says when that option was on.
    """
    df = calls[["sample_id", "gene", "missing_positions", "call_status"]].copy()
    df["missing"] = df["missing_positions"].map(_length)
    df = df[df["missing"] > 0]
    if df.empty:
        return pd.DataFrame(columns=["sample_id", "missing_positions", "genes", "no_call_genes", "per_gene"])
    rows = []
    for sample, g in df.groupby("sample_id", sort=False):
        g = g.sort_values("gene")
        rows.append(
            {
                "sample_id": sample,
                "missing_positions": int(g["missing"].sum()),
                "genes": ", ".join(f"{gene} ({n})" for gene, n in zip(g["gene"], g["missing"])),
                "no_call_genes": ", ".join(g.loc[g["call_status"].astype(str) == "no_call", "gene"]),
                "per_gene": dict(zip(g["gene"], g["missing"].astype(int))),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values(["missing_positions", "sample_id"], ascending=[False, True]).reset_index(drop=True)


def novel_variant_table(calls: pd.DataFrame) -> pd.DataFrame:
    """Each variant no known allele contains: gene, number of samples, the samples."""
    return _novel_table(_novel_tally(_from_frame(calls).novel, None))


def reason_table(calls: pd.DataFrame) -> pd.DataFrame:
    """Calls counted by reason code (``calls.reason_codes``, see :data:`pgx.schema.CALL_REASONS`):
    the calls and samples carrying it, its genes, and its meaning. Grouped by the code,
    never by parsing the prose of ``warnings``; most frequent first."""
    return _ReasonTally.of(_from_frame(calls).reasons).table()


def null_warnings(calls: pd.DataFrame) -> int:
    """Null entries in the ``warnings`` lists: an upstream bug the report points out."""
    return int(sum(sum(not isinstance(w, str) for w in ws) for ws in calls["warnings"] if _length(ws)))


def population_rates(calls: pd.DataFrame, populations: pd.DataFrame) -> pd.DataFrame:
    """``pgx.validate.call_rates`` per population and gene; unlisted samples are
    ``(no population)``."""
    rows = _from_frame(calls).rows
    rows["population"] = _population_column(rows["sample_id"], _mapping(populations))
    return _rates(_status_tally(rows, ["population", "gene"]))


def _mapping(populations: pd.DataFrame) -> dict[str, str]:
    return dict(zip(populations["sample_id"].astype(str), populations["population"].astype(str)))


def _population_column(samples: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    return pd.Series([mapping.get(s, NO_POPULATION) for s in samples], index=samples.index, dtype=object)


# --- the streamed summary of a batch --------------------------------------------------------


@dataclass(frozen=True)
class CallSummary:
    """Everything the QC page shows of a batch's calls."""

    rows: int  # sample x gene results
    samples: int  # distinct samples
    kb_versions: list[str]
    genes: list[str]  # natural order
    status: dict[str, int]  # results per call status
    with_reason: int  # results with a reason code
    rates: pd.DataFrame  # gene_rates, in gene order
    phenotypes: pd.DataFrame  # phenotype_counts
    missing: pd.DataFrame  # missing_by_sample's first TOP_TABLE rows
    samples_with_missing: int
    novel: pd.DataFrame  # novel_variant_table, sample_ids cut to the first CARRIERS_SHOWN
    reasons: pd.DataFrame  # reason_table
    null_warnings: int
    population_sizes: dict[str, int] | None = None  # samples per population
    population_rates: pd.DataFrame | None = None  # population_rates
    population_phenotypes: pd.DataFrame | None = None  # phenotype_counts by gene and population


class _Tally:
    """The running counts of a stream of calls."""

    def __init__(self, populations: pd.DataFrame | None):
        self.mapping = _mapping(populations) if populations is not None else None
        self.rows = self.with_reason = self.null_warnings = 0
        self.samples: set[str] = set()
        self.kb_versions: set[str] = set()
        self.status = self.pop_status = None
        self.phenotypes = self.pop_phenotypes = None
        self.missing = pd.Series(dtype=np.int64)
        self.novel: pd.DataFrame | None = None
        self.reasons = _ReasonTally.of(pd.DataFrame({"sample_id": [], "gene": [], "code": []}))

    def add(self, calls: _Calls) -> None:
        rows = calls.rows
        self.rows += len(rows)
        self.with_reason += int(rows["with_reason"].sum())
        self.null_warnings += calls.null_warnings
        self.samples.update(rows["sample_id"].unique().tolist())
        self.kb_versions |= calls.kb_versions
        self.status = _add(self.status, _status_tally(rows, ["gene"]))
        self.phenotypes = _add(self.phenotypes, _phenotype_tally(rows, ["gene"]), dropna=False)
        if self.mapping is not None:
            rows = rows.assign(population=_population_column(rows["sample_id"], self.mapping))
            self.pop_status = _add(self.pop_status, _status_tally(rows, ["population", "gene"]))
            self.pop_phenotypes = _add(self.pop_phenotypes, _phenotype_tally(rows, ["gene", "population"]), dropna=False)
        self.missing = _add(self.missing, _missing_tally(rows))
        novel = _novel_tally(calls.novel, CARRIERS_SHOWN)
        if self.novel is None or self.novel.empty:
            self.novel = novel
        elif not novel.empty:
            both = pd.concat([self.novel, novel]).groupby(level=[0, 1])
            self.novel = pd.DataFrame(
                {"samples": both["samples"].sum(),
                 "sample_ids": both["sample_ids"].agg(lambda s: sorted(set(chain.from_iterable(s)))[:CARRIERS_SHOWN])}
            )  # fmt: skip
        if not calls.reasons.empty:
            self.reasons = self.reasons + _ReasonTally.of(calls.reasons)


def _add(total, part, *, dropna: bool = True):
    """Counts indexed by their keys, added up."""
    if total is None or total.empty:
        return part
    if part.empty:
        return total
    return pd.concat([total, part]).groupby(level=list(range(part.index.nlevels)), dropna=dropna).sum()


def summarise_calls(calls_path: Path | str, populations: pd.DataFrame | None = None) -> CallSummary:
    """What the QC page shows of ``calls_path`` (a calls.parquet), read STREAM_ROWS rows at a
    time; ``populations`` (``sample_id``, ``population``) adds the per-population counts."""
    tally = _Tally(populations)
    for table in _stream(calls_path, CALL_COLUMNS):
        tally.add(_from_arrow(table))
    genes = sorted(tally.status.index if tally.status is not None else [], key=natural)
    empty_status = pd.DataFrame(columns=["samples", "called", "ambiguous", "no_call", "outside_call", "novel", "with_missing"])
    status = tally.status if tally.status is not None else empty_status.rename_axis("gene")
    rates = _gene_rates(status).set_index("gene").loc[genes].reset_index()
    ranked = tally.missing.rename_axis("sample_id").rename("missing_positions").reset_index()
    ranked = ranked.sort_values(["missing_positions", "sample_id"], ascending=[False, True])
    top = ranked["sample_id"].head(TOP_TABLE).tolist()
    summary = CallSummary(
        rows=tally.rows,
        samples=len(tally.samples),
        kb_versions=sorted(tally.kb_versions),
        genes=genes,
        status={s: int(status[s].sum()) for s in ("called", "ambiguous", "no_call", "outside_call")},
        with_reason=tally.with_reason,
        rates=rates,
        phenotypes=_phenotype_table(tally.phenotypes, ["gene"]) if tally.phenotypes is not None else None,
        missing=missing_by_sample(_calls_of(calls_path, top)).head(TOP_TABLE),
        samples_with_missing=len(ranked),
        novel=_novel_table(tally.novel if tally.novel is not None else pd.DataFrame()),
        reasons=tally.reasons.table(),
        null_warnings=tally.null_warnings,
    )
    if tally.mapping is None or not tally.rows:
        return summary
    return replace(
        summary,
        population_sizes=dict(Counter(tally.mapping.get(s, NO_POPULATION) for s in tally.samples)),
        population_rates=_rates(tally.pop_status),
        population_phenotypes=_phenotype_table(tally.pop_phenotypes, ["gene", "population"]),
    )


def _calls_of(calls_path: Path | str, samples: list[str]) -> pd.DataFrame:
    """Every call of ``samples`` (the columns missing_by_sample reads)."""
    columns = ["sample_id", "gene", "missing_positions", "call_status"]
    if not samples:
        return pq.read_table(calls_path, columns=columns).slice(0, 0).to_pandas()
    return pq.read_table(calls_path, columns=columns, filters=[("sample_id", "in", samples)]).to_pandas()


def _variant_key(variant: str) -> tuple:
    chrom, _, rest = variant.partition(":")
    pos = rest.split(":", 1)[0]
    return (natural(chrom), int(pos) if pos.isdigit() else 0, variant)


def natural(text: str) -> tuple:
    """A sort key that orders the numbers inside a text by value (CYP2C9 before CYP2C19)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text)))
