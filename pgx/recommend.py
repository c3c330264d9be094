"""Look up guideline recommendations for every sample and every drug in the knowledge base.

For each sample and each drug with recommendation rows, the sample's key for the drug's
genes is built from the calls and matched against ``recommendations.lookup_key``:

* a gene's key is the call's ``lookup_key`` (the phenotype, or the activity score written
  as CPIC writes it, ``1.5``, ``2.0``);
* a gene without a call for the sample, with ``call_status`` ``no_call`` or with an
  empty ``lookup_key`` is ``No Result``, as CPIC writes it.

**Drugs whose genes are only partly covered.** A drug needs the genes its guideline rows
name (amitriptyline: CYP2C19 and CYP2D6). A gene the KB does not call (CYP2D6 today) has
no calls, so it is looked up as ``No Result``. CPIC writes rows for exactly that case
(``CYP2C19=Normal Metabolizer;CYP2D6=No Result`` says what to do when only CYP2C19 was
tested), so the recommendation is CPIC's own advice for an untested gene, and
``phenotypes`` shows ``CYP2D6: No Result`` so the report can say the advice rests on
part of the genotype. When CPIC has no row for such a key, the drug gets one
``no_guideline_match`` row naming the result that had no entry. Nothing is guessed.

**Matching.** An exact string match of the whole key wins. Otherwise rows whose
activity-score keys are bounds (``≥3.75``) match a score at or above the bound (the
bounds are parsed once, when the index is built; nothing is evaluated), and of those only
the tightest bound is kept, so a score of 4.5 gets the ``≥4.0`` row rather than also
``≥3.0``. Every matching row is one output row, so several populations give several rows.

**Speed.** Samples are grouped by their tuple of keys (and phenotypes) per gene set;
each distinct tuple is looked up once (:func:`match_rows`) and the result is broadcast
to the samples that share it. The lookup index is built once per KB version.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pgx.errors import InputError, KnowledgeBaseError
from pgx.schema import RECOMMENDATIONS

NO_RESULT = "No Result"
NO_MATCH = "no_guideline_match"
BOUND_PREFIXES = ("≥", ">=")
COLUMNS = [f.name for f in RECOMMENDATIONS]


@dataclass(frozen=True)
class DrugEntry:
    """What the lookup needs to know about one (source, drug)."""

    source: str
    drug: str
    genes: tuple[str, ...]
    exact: dict[tuple[str, ...], tuple[int, ...]]  # key tuple -> row positions
    bounded: tuple[tuple[tuple[str | float, ...], int], ...]  # per row: exact key or float bound per gene
    cpic_level: str | None
    guideline: str | None
    url: str | None
    pmid: str | None


@dataclass(frozen=True)
class LookupIndex:
    """All drugs of one KB version, ready for matching."""

    version: str
    drugs: tuple[DrugEntry, ...]
    rows: pd.DataFrame  # the recommendations table, positionally indexed

    @property
    def genes(self) -> tuple[str, ...]:
        """Every gene some drug needs, sorted."""
        return tuple(sorted({g for d in self.drugs for g in d.genes}))


# --- the index ---------------------------------------------------------------------------


def parse_bound(key: str) -> float | None:
    """The number in a lower-bound key (``≥3.75`` -> 3.75); None for any other key."""
    for prefix in BOUND_PREFIXES:
        if key.startswith(prefix):
            try:
                return float(key[len(prefix) :])
            except ValueError:
                return None
    return None


def split_lookup_key(lookup_key: str) -> dict[str, str]:
    """``"A=x;B=y"`` -> ``{"A": "x", "B": "y"}``."""
    return dict(part.split("=", 1) for part in lookup_key.split(";") if part)


def _factor(value) -> float | None:
    """A KB dose factor (float, NA or text) as a float or None."""
    if value is None or value is pd.NA or (isinstance(value, str) and not value.strip()):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _none_if_empty(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = str(value)
    return value or None


def cpic_level(drugs: pd.DataFrame, source: str, drug: str, genes: tuple[str, ...]) -> str | None:
    """The drug's level: one letter when every gene agrees, else ``GENE: level; ...``."""
    rows = drugs[(drugs["source"] == source) & (drugs["drug"] == drug) & drugs["gene"].isin(genes)]
    levels = {g: lvl for g, lvl in zip(rows["gene"], rows["cpic_level"]) if lvl}
    if not levels:
        return None
    if len(set(levels.values())) == 1 and len(levels) == len(genes):
        return next(iter(levels.values()))
    return "; ".join(f"{g}: {levels[g]}" for g in genes if g in levels)


def _drug_entry(source: str, drug: str, rows: pd.DataFrame, drugs: pd.DataFrame) -> DrugEntry:
    """Index the rows of one drug by key tuple, keeping bound keys apart."""
    genes = tuple(sorted(split_lookup_key(rows["lookup_key"].iloc[0])))
    exact: dict[tuple[str, ...], list[int]] = {}
    bounded = []
    for pos, lookup_key in zip(rows.index, rows["lookup_key"]):
        keys = split_lookup_key(lookup_key)
        if tuple(sorted(keys)) != genes:
            raise KnowledgeBaseError(f"{source} {drug}: recommendation rows name different genes ({lookup_key})")
        key = tuple(keys[g] for g in genes)
        exact.setdefault(key, []).append(int(pos))
        spec = tuple(parse_bound(k) if parse_bound(k) is not None else k for k in key)
        if any(isinstance(s, float) for s in spec):
            bounded.append((spec, int(pos)))
    first = rows.iloc[0]
    return DrugEntry(
        source=source,
        drug=drug,
        genes=genes,
        exact={k: tuple(v) for k, v in exact.items()},
        bounded=tuple(bounded),
        cpic_level=cpic_level(drugs, source, drug, genes),
        guideline=_none_if_empty(first["guideline"]),
        url=_none_if_empty(first["url"]),
        pmid=_none_if_empty(first["pmid"]),
    )


def build_index(recommendations: pd.DataFrame, drugs: pd.DataFrame, version: str) -> LookupIndex:
    """A :class:`LookupIndex` over the KB's ``recommendations`` and ``drugs`` tables."""
    rows = recommendations.reset_index(drop=True)
    entries = tuple(
        _drug_entry(source, drug, group, drugs)
        for (source, drug), group in rows.groupby(["source", "drug"], sort=True)
    )
    return LookupIndex(version=version, drugs=entries, rows=rows)


_INDEX_CACHE: dict[str, LookupIndex] = {}


def lookup_index(kb) -> LookupIndex:
    """The index of ``kb``, built once per KB version (the version is a content hash)."""
    if kb.version not in _INDEX_CACHE:
        if len(_INDEX_CACHE) >= 4:
            _INDEX_CACHE.pop(next(iter(_INDEX_CACHE)))
        _INDEX_CACHE[kb.version] = build_index(kb.tables["recommendations"], kb.tables["drugs"], kb.version)
    return _INDEX_CACHE[kb.version]


# --- matching ----------------------------------------------------------------------------


def _as_number(key: str) -> float | None:
    try:
        return float(key)
    except ValueError:
        return None


def match_rows(entry: DrugEntry, key: tuple[str, ...]) -> tuple[int, ...]:
    """Positions of the rows of ``entry`` matching the sample's ``key`` (one per gene).

    Exact match first; otherwise the bound rows (``≥x``) the scores satisfy, keeping
    only those with the tightest bounds.
    """
    if key in entry.exact:
        return entry.exact[key]
    numbers = [_as_number(k) for k in key]
    best: list[int] = []
    best_bound = -math.inf
    for spec, pos in entry.bounded:
        ok = all(
            (n is not None and n >= s) if isinstance(s, float) else s == k
            for s, k, n in zip(spec, key, numbers)
        )
        if not ok:
            continue
        bound = sum(s for s in spec if isinstance(s, float))
        if bound > best_bound:
            best, best_bound = [pos], bound
        elif bound == best_bound:
            best.append(pos)
    return tuple(sorted(best))


# --- samples -----------------------------------------------------------------------------


def sample_tables(calls: pd.DataFrame, genes: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per sample (rows, sorted) and gene (columns): the lookup key and the phenotype shown.

    Genes without a usable call are ``No Result`` in both tables.
    """
    samples = sorted(pd.unique(calls["sample_id"].astype(str)))
    c = calls[calls["gene"].isin(genes)]
    dup = c.duplicated(["sample_id", "gene"])
    if dup.any():
        first = c.loc[dup].iloc[0]
        raise InputError(f"calls list sample {first['sample_id']} gene {first['gene']} more than once")
    usable = (c["call_status"].astype(str) != "no_call") & c["lookup_key"].fillna("").astype(str).ne("")
    key = c["lookup_key"].where(usable, NO_RESULT).astype(str)
    shown = c["phenotype"].where(usable & c["phenotype"].notna(), None)
    shown = shown.where(shown.notna() & shown.astype(str).ne(""), key).astype(str)
    frame = pd.DataFrame({"sample_id": c["sample_id"].astype(str), "gene": c["gene"], "key": key, "shown": shown})

    def wide(col: str) -> pd.DataFrame:
        table = frame.pivot(index="sample_id", columns="gene", values=col)
        return table.reindex(index=samples, columns=list(genes)).astype(object).fillna(NO_RESULT)

    return wide("key"), wide("shown")


def _joined(table: pd.DataFrame, genes: tuple[str, ...], sep: str, joiner: str) -> pd.Series:
    """Row-wise ``GENE<sep>value`` joined by ``joiner`` (vectorised)."""
    out = None
    for g in genes:
        part = g + sep + table[g]
        out = part if out is None else out + joiner + part
    return out


def no_match_text(entry: DrugEntry, key: tuple[str, ...]) -> str:
    """Which result had no guideline entry, in words."""
    parts = [f"{g} {k}" + (" (not called)" if k == NO_RESULT else "") for g, k in zip(entry.genes, key)]
    return (
        f"{entry.source} has no {entry.drug} recommendation for {' and '.join(parts)}; "
        "decide without genotype guidance."
    )


def _hit_records(
    index: LookupIndex, entry: DrugEntry, key: tuple[str, ...], lookup_key: str, phenotypes: list[str]
) -> list[dict]:
    """Output rows (without sample_id) for one drug and one distinct key."""
    base = {
        "drug": entry.drug,
        "genes": list(entry.genes),
        "lookup_key": lookup_key,
        "phenotypes": phenotypes,
        "source": entry.source,
        "guideline": entry.guideline,
        "cpic_level": entry.cpic_level,
        "url": entry.url,
        "pmid": entry.pmid,
        "kb_version": index.version,
    }
    positions = match_rows(entry, key)
    if not positions:
        return [
            {**base, "population": None, "action": NO_MATCH, "dose_factor": None, "alternatives": [],
             "strength": None, "text": no_match_text(entry, key), "recommendation_id": None}
        ]  # fmt: skip
    rows = index.rows
    out = []
    for pos in positions:
        r = rows.iloc[pos]
        out.append(
            {
                **base,
                "population": _none_if_empty(r["population"]),
                "action": r["action"],
                "dose_factor": _factor(r["dose_factor"]),
                "alternatives": [a for a in str(r["alternatives"]).split(";") if a],
                "strength": _none_if_empty(r["strength"]),
                "text": _none_if_empty(r["text"]),
                "guideline": _none_if_empty(r["guideline"]) or entry.guideline,
                "url": _none_if_empty(r["url"]) or entry.url,
                "pmid": _none_if_empty(r["pmid"]) or entry.pmid,
                "recommendation_id": _none_if_empty(r["recommendation_id"]),
            }
        )
    return out


def empty_recommendations() -> pd.DataFrame:
    """A recommendations frame with no rows and the declared columns."""
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "dose_factor" else object) for c in COLUMNS})


def recommend(calls: pd.DataFrame, kb) -> pd.DataFrame:
    """Recommendations for every sample in ``calls`` and every drug in ``kb`` (``schema.RECOMMENDATIONS``).

    ``calls`` needs sample_id, gene, lookup_key, phenotype and call_status. Rows are
    sorted by sample, drug, source, population and recommendation id.
    """
    index = lookup_index(kb)
    if calls.empty or not index.drugs:
        return empty_recommendations()
    if "kb_version" in calls and (calls["kb_version"].dropna().astype(str) != index.version).any():
        warnings.warn(f"calls were made with another knowledge base than {index.version}", stacklevel=2)
    keys, shown = sample_tables(calls, index.genes)
    hits: list[dict] = []
    pairs_sample, pairs_hit = [], []
    for genes in sorted({d.genes for d in index.drugs}):
        codes, combo_hits = _gene_set_hits(index, genes, keys, shown, hits)
        sample_pos, hit_pos = broadcast(codes, combo_hits)
        pairs_sample.append(sample_pos)
        pairs_hit.append(hit_pos)
    return _assemble(hits, np.concatenate(pairs_sample), np.concatenate(pairs_hit), keys.index.to_numpy())


def _gene_set_hits(
    index: LookupIndex, genes: tuple[str, ...], keys: pd.DataFrame, shown: pd.DataFrame, hits: list[dict]
) -> tuple[np.ndarray, list[list[int]]]:
    """Look up every distinct key of ``genes`` once for each drug that needs exactly them.

    Appends the output rows to ``hits``; returns each sample's combination code and, per
    combination, the positions in ``hits`` that apply to it.
    """
    lookup = _joined(keys, genes, "=", ";")
    phenos = _joined(shown, genes, ": ", "\x1f")
    codes, uniques = pd.factorize(lookup + "\x1e" + phenos)
    first_sample = np.unique(codes, return_index=True)[1]
    entries = [d for d in index.drugs if d.genes == genes]
    combo_hits: list[list[int]] = [[] for _ in range(len(uniques))]
    for combo, row in enumerate(first_sample):
        key = tuple(keys[g].iat[row] for g in genes)
        phenotype_list = phenos.iat[row].split("\x1f")
        for entry in entries:
            for record in _hit_records(index, entry, key, lookup.iat[row], phenotype_list):
                combo_hits[combo].append(len(hits))
                hits.append(record)
    return codes, combo_hits


def broadcast(codes: np.ndarray, combo_hits: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(sample position, hit position) pairs: every hit of a sample's combination, vectorised."""
    sizes = np.array([len(h) for h in combo_hits], dtype=np.int64)
    flat = np.array([h for hs in combo_hits for h in hs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    per_sample = sizes[codes]
    sample_pos = np.repeat(np.arange(len(codes)), per_sample)
    within = np.arange(per_sample.sum()) - np.repeat(np.cumsum(per_sample) - per_sample, per_sample)
    return sample_pos, flat[np.repeat(starts[codes], per_sample) + within]


def _column(hits: list[dict], name: str) -> np.ndarray:
    """One output column over the distinct hits, as a numpy array (lists kept whole)."""
    if name == "dose_factor":
        return np.array([np.nan if h[name] is None else h[name] for h in hits], dtype="float64")
    arr = np.empty(len(hits), dtype=object)
    for i, h in enumerate(hits):
        arr[i] = h[name]
    return arr


def _assemble(hits: list[dict], sample_pos: np.ndarray, hit_pos: np.ndarray, sample_ids: np.ndarray) -> pd.DataFrame:
    """Broadcast the distinct hits to their samples, in the documented order."""
    cols = {c: _column(hits, c) for c in COLUMNS if c != "sample_id"}
    by = ("drug", "source", "population", "recommendation_id")
    sort_keys = [np.array(["" if v is None else str(v) for v in cols[c]]) for c in by]
    rank = np.empty(len(hits), dtype=np.int64)
    rank[np.lexsort(sort_keys[::-1])] = np.arange(len(hits))
    order = np.lexsort([rank[hit_pos], sample_pos])
    take = hit_pos[order]
    # object columns share the few distinct Python strings: no per-row string copies
    data = {"sample_id": sample_ids[sample_pos[order]], **{c: arr[take] for c, arr in cols.items()}}
    return pd.DataFrame({c: pd.Series(data[c], dtype=data[c].dtype, copy=False) for c in COLUMNS})


__all__ = ["recommend", "match_rows", "lookup_index", "build_index", "parse_bound", "NO_RESULT", "NO_MATCH"]
