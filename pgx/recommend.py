"""Look up guideline recommendations (CPIC, DPWG) for every sample and every drug in the KB.

For each sample and each (source, drug, genes) with recommendation rows, the sample's
result for each gene is matched against the rows' ``lookup_key`` (``GENE=key;GENE=key``,
genes sorted).

**What a sample brings, per gene** (from the calls table): ``lookup_key`` (the
phenotype, or the activity score as CPIC writes it, ``1.5``, ``2.0``), ``phenotype``,
the two alleles (``allele_1``/``allele_2``, or ``diplotype``) and ``call_status``. A
gene without a call for the sample, a ``no_call`` and an empty ``lookup_key`` are
``No Result``, as CPIC writes it.

**Key grammar.** Each gene's part of a row key is one of (parsed once, when the index is
built; nothing is evaluated):

============  ==========================================  =====================================
kind          example                                     matches the sample when
============  ==========================================  =====================================
exact         ``Poor Metabolizer``, ``1.25``, ``n/a``,     the call's ``lookup_key`` or its
              ``No Result``, ``-1639 AA``                  ``phenotype`` is this text
bound         ``≥3.75`` (also ``>=``)                      the ``lookup_key`` is this bound, or a
                                                          number or bound at or above it
status        ``*57:01 positive``, ``*15:02 negative``,    every statement holds for the HLA
              ``*15:02 positive + *15:11 positive``        result (:func:`hla_allele_status`)
genotype      ``*1/*3``, ``*80+*28/*80+*28`` (a ``/``)     the call's two alleles are these two
                                                          (DPWG's ``{allele: count}`` keys)
qualified     ``1.0 (Phenotyping)``                        the ``lookup_key`` is this text; or,
                                                          as a last resort, the plain score
============  ==========================================  =====================================

A genotype part matches only a ``called`` or ``outside_call`` result (an ambiguous call
is not one genotype).

**Which rows win.** Every row whose parts all match is a candidate; only the most
specific candidates are returned, compared by (sum of part tiers, number of status
statements, sum of bounds) with tiers genotype 3, exact/status 2, bound 1, qualified
fallback 0. So an exact key beats a bound (score 4.0 gets ``4.0``, not ``≥3.0``); of
bounds the tightest wins (score 4.5 gets ``≥4.0``, not ``≥3.0``); a genotype row beats
the phenotype row of the same guideline (DPWG siponimod: ``*1/*3`` before
``Intermediate Metabolizer``); ``*15:02 positive + *15:11 positive`` beats either alone;
``1.0 (Phenotyping)`` is used for a DPYD score of 1.0 only when the guideline has no row
for ``1.0`` itself (DPWG has one for 1.0, none for 0.5). Every winning row is one output
row, so several populations give several rows, all shown.

**HLA allele status** (:func:`hla_allele_status`, :func:`allele_status_key`). A drug keyed
on ``*58:01`` needs that allele's status whatever the HLA result names: an outside call
with the genotype ``*57:01/*08:01`` is ``*57:01 positive`` and ``*58:01 negative``; one
that only states ``*57:01 positive`` (its ``lookup_key``) says nothing about ``*58:01``,
which is then ``No Result`` (CPIC's key for an untested gene). The ``lookup_key`` used
and shown for an HLA gene is therefore per drug: the statuses of the alleles that
drug's rows name.

**Drugs whose genes are only partly covered.** A drug needs the genes its rows name
(amitriptyline: CYP2C19 and CYP2D6). A gene without calls is looked up as ``No Result``;
CPIC writes rows for exactly that case (``CYP2C19=Normal Metabolizer;CYP2D6=No Result``)
and ``phenotypes`` shows ``CYP2D6: No Result`` so the report can say the advice rests on
part of the genotype. When the guideline has no row for the sample's result, the drug
gets one ``no_guideline_match`` row naming that result. Nothing is guessed.

**Verbatim texts.** With ``overlay`` (a user's own CPIC export, see :mod:`pgx.overlay`)
the frame has two more columns, ``verbatim_text`` and ``implications``, filled for CPIC
rows the overlay holds; without it the frame has exactly ``schema.RECOMMENDATIONS``.

**Speed.** Drugs are grouped by the view they need of each gene (which HLA alleles,
whether genotypes matter); samples are grouped by their tuple of per-gene results for
that view; each distinct tuple is looked up once per drug (:func:`match_rows`) and the
result is broadcast to the samples that share it. The index is built once per KB and kept on it.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd
import pyarrow as pa

from pgx.errors import InputError, KnowledgeBaseError
from pgx.kb import KnowledgeBase
from pgx.naming import format_diplotype
from pgx.schema import CALLED, NO_CALL, NO_RESULT, OUTSIDE_CALL, RECOMMENDATIONS

NO_MATCH = "no_guideline_match"
BOUND_PREFIXES = ("≥", ">=")
OVERLAY_COLUMNS = ["verbatim_text", "implications"]
#: the columns filled from the KB; the overlay's are null unless an overlay is given
COLUMNS = [f.name for f in RECOMMENDATIONS if f.name not in OVERLAY_COLUMNS]
ALL_COLUMNS = [f.name for f in RECOMMENDATIONS]
#: call statuses whose two alleles are one genotype
GENOTYPE_STATUSES = (CALLED, OUTSIDE_CALL)

# tiers of a matched key part (see the module docstring)
TIER_GENOTYPE, TIER_EXACT, TIER_BOUND, TIER_FALLBACK = 3, 2, 1, 0

# --- key grammar -------------------------------------------------------------------------

_STATUS = re.compile(r"^(?P<allele>\S+) (?P<status>positive|negative)$")
_QUALIFIED = re.compile(r"^(?P<base>\d+(?:\.\d+)?) \((?P<qualifier>[^()]+)\)$")


@dataclass(frozen=True)
class KeyPart:
    """One gene's part of a recommendation key, parsed (see the module docstring)."""

    text: str
    kind: str  # exact | bound | status | genotype | qualified
    bound: float | None = None
    statuses: tuple[tuple[str, str], ...] = ()  # status: (allele, "positive"|"negative")
    base: str = ""  # qualified: the plain key it falls back to


def parse_bound(key: str) -> float | None:
    """The number in a lower-bound key (``≥3.75`` -> 3.75); None for any other key."""
    for prefix in BOUND_PREFIXES:
        if key.startswith(prefix):
            try:
                return float(key[len(prefix) :])
            except ValueError:
                return None
    return None


def parse_key_part(text: str) -> KeyPart:
    """Parse one gene's key text into a :class:`KeyPart`."""
    if (bound := parse_bound(text)) is not None:
        return KeyPart(text, "bound", bound=bound)
    pieces = text.split(" + ")
    statuses = [_STATUS.match(p) for p in pieces]
    if all(statuses):
        return KeyPart(text, "status", statuses=tuple((m["allele"], m["status"]) for m in statuses))
    if "/" in text:
        alleles = text.split("/")
        if len(alleles) != 2 or not all(alleles):
            raise KnowledgeBaseError(f"genotype key {text!r} does not name two alleles")
        return KeyPart(format_diplotype(*alleles), "genotype")
    if m := _QUALIFIED.match(text):
        return KeyPart(text, "qualified", base=m["base"])
    return KeyPart(text, "exact")


def split_lookup_key(lookup_key: str) -> dict[str, str]:
    """``"A=x;B=y"`` -> ``{"A": "x", "B": "y"}``."""
    return dict(part.split("=", 1) for part in lookup_key.split(";") if part)


# --- HLA allele status (pure functions) ----------------------------------------------------

_HLA_PREFIX = re.compile(r"^(?:HLA-)?[A-Z]+\d*\*|^\*")
_EXPRESSION_SUFFIX = re.compile(r"[NLSCAQG]$")


def hla_fields(name: str) -> tuple[int, ...] | None:
    """The numeric fields of an HLA allele name: ``HLA-B*57:01:01`` -> ``(57, 1, 1)``.

    A leading ``HLA-B*`` or ``*`` and a trailing expression/group letter (``N``, ``L``,
    ``S``, ``C``, ``A``, ``Q``, ``G``) are dropped; old four-digit names (``5701``) are
    read as two fields. None when the name is not an HLA allele.
    """
    s = _HLA_PREFIX.sub("", name.strip())
    s = _EXPRESSION_SUFFIX.sub("", s)
    if re.fullmatch(r"\d{4}", s):
        s = f"{s[:2]}:{s[2:]}"
    if not re.fullmatch(r"\d+(?::\d+)*", s):
        return None
    return tuple(int(f) for f in s.split(":"))


def _carries(allele: tuple[int, ...], target: tuple[int, ...]) -> bool | None:
    """Whether a typed allele belongs to ``target``: True, False, or None when too coarse."""
    if allele[: len(target)] == target:
        return True
    if len(allele) < len(target) and target[: len(allele)] == allele:
        return None  # "*57" cannot say whether it is "*57:01"
    return False


_STATEMENT = re.compile(r"(?P<allele>\S*\*?[\d:]+[A-Z]?)\s+(?P<status>positive|negative)\b", re.IGNORECASE)


def hla_allele_status(
    allele: str,
    *,
    diplotype: str | None = None,
    alleles: tuple[str | None, ...] = (),
    statements: str | None = None,
) -> str | None:
    """``"positive"``, ``"negative"`` or None (unknown) for HLA ``allele`` (``*58:01``).

    From the genotype (``alleles``, else ``diplotype`` split at ``/``): positive when
    either typed allele lies within ``allele`` (its leading fields equal the key's:
    ``*57:01:01`` is ``*57:01``); negative when two alleles are typed, at enough
    resolution, and neither does; unknown when an allele is too coarse to tell (``*57``
    for ``*57:01``) or only one allele is given and it is not ``allele``.

    From ``statements`` (the call's ``lookup_key``, e.g. ``*57:01 positive`` or
    ``*57:01 negative; *15:02 positive``): a positive statement about ``S`` makes every
    key ``S`` lies within positive; a negative one makes every key within ``S`` negative.
    Statements about other alleles say nothing.

    The genotype decides when it can; otherwise the statements; when the two disagree
    the status is unknown.
    """
    target = hla_fields(allele)
    if target is None:
        raise ValueError(f"{allele!r} is not an HLA allele name")
    typed = [a for a in alleles if a] or ([a for a in (diplotype or "").split("/") if a.strip()])
    from_genotype = None
    if typed:
        fields = [hla_fields(a) for a in typed]
        carried = [None if f is None else _carries(f, target) for f in fields]
        if any(c is True for c in carried):
            from_genotype = "positive"
        elif len(carried) == 2 and all(c is False for c in carried):
            from_genotype = "negative"
    from_statements = None
    for m in _STATEMENT.finditer(statements or ""):
        said = hla_fields(m["allele"])
        if said is None:
            continue
        if m["status"].lower() == "positive" and said[: len(target)] == target:
            from_statements = "positive" if from_statements in (None, "positive") else "conflict"
        elif m["status"].lower() == "negative" and target[: len(said)] == said:
            from_statements = "negative" if from_statements in (None, "negative") else "conflict"
    if from_statements == "conflict":
        from_statements = None
    if from_genotype and from_statements and from_genotype != from_statements:
        return None
    return from_genotype or from_statements


def allele_status_key(allele: str, **result) -> str:
    """The CPIC key for ``allele`` given an HLA result: ``*58:01 negative``, or ``No Result``.

    ``result`` takes the keywords of :func:`hla_allele_status`.
    """
    status = hla_allele_status(allele, **result)
    return NO_RESULT if status is None else f"{allele} {status}"


# --- the index ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneView:
    """What one drug needs to know about one gene."""

    gene: str
    status_alleles: tuple[str, ...] = ()  # HLA alleles whose status the rows name
    genotype: bool = False  # some row is keyed on a genotype


@dataclass(frozen=True)
class GeneResult:
    """A sample's result for one gene, as one drug view sees it (hashable: grouped on)."""

    key: str  # the lookup key shown (HLA: the derived statuses)
    shown: str  # what `phenotypes` shows
    phenotype: str  # the phenotype matched against exact parts (= key when absent)
    genotype: str | None = None
    statuses: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class DrugEntry:
    """What the lookup needs to know about one (source, drug, genes)."""

    source: str
    drug: str
    genes: tuple[str, ...]
    view: tuple[GeneView, ...]
    rows_by_key: dict[tuple[str, ...], tuple[int, ...]]  # part texts -> row positions
    parts: tuple[tuple[KeyPart, ...], ...]  # per gene: the distinct parts of the rows
    cpic_level: str | None
    guideline: str | None
    url: str | None
    pmid: str | None
    drug_id: str | None = None


@dataclass(frozen=True)
class LookupIndex:
    """All drugs of one KB version, ready for matching."""

    version: str
    drugs: tuple[DrugEntry, ...]
    rows: pd.DataFrame  # the recommendations table, positionally indexed
    records: tuple[dict, ...] = ()  # the same rows as dicts (fast access by position)
    #: (id of a drug entry, results) -> its output rows: sample chunks share lookups
    hits_memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def genes(self) -> tuple[str, ...]:
        """Every gene some drug needs, sorted."""
        return tuple(sorted({g for d in self.drugs for g in d.genes}))


#: KB columns copied to the output as text (null when empty), as floats, as lists (``;``-split)
TEXT_ADVICE_COLUMNS = (
    "population", "indication", "age", "risk_factors", "other_conditions", "dose_applies_to", "dose_reference",
    "dose_amount", "dose_schedule", "dose_unchanged",
)  # fmt: skip
FACTOR_COLUMNS = ("dose_factor_min", "dose_factor_max")
LIST_COLUMNS = ("other_actions", "dose_caps", "followup", "alternatives", "not_alternatives")
INT_COLUMNS = ("branch", "clauses_not_represented")
#: every advice column of a row (null for no_guideline_match)
ADVICE_COLUMNS = (*TEXT_ADVICE_COLUMNS, *FACTOR_COLUMNS, *INT_COLUMNS, "strength", "recommendation_id")


def clauses_not_represented(clauses: str) -> int:
    """How many clauses of a KB ``clauses`` account (``1:action;2:-evidence``) are not represented."""
    return sum(1 for c in str(clauses or "").split(";") if ":-" in c)


def _factor(value) -> float | None:
    """A KB dose factor (float, NA or text) as a float or None."""
    if value is None or value is pd.NA or (isinstance(value, str) and not value.strip()):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _none_if_empty(value) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
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
    """Index the rows of one (source, drug, genes) by their parsed key parts."""
    genes = tuple(sorted(split_lookup_key(rows["lookup_key"].iloc[0])))
    by_key: dict[tuple[str, ...], list[int]] = {}
    parts: list[dict[str, KeyPart]] = [{} for _ in genes]
    for pos, lookup_key in zip(rows.index, rows["lookup_key"]):
        keys = split_lookup_key(lookup_key)
        if tuple(sorted(keys)) != genes:
            raise KnowledgeBaseError(f"{source} {drug}: recommendation rows name different genes ({lookup_key})")
        parsed = [parse_key_part(keys[g]) for g in genes]
        for i, p in enumerate(parsed):
            parts[i].setdefault(p.text, p)
        by_key.setdefault(tuple(p.text for p in parsed), []).append(int(pos))
    view = tuple(
        GeneView(
            gene=g,
            status_alleles=tuple(sorted({a for p in ps.values() for a, _ in p.statuses})),
            genotype=any(p.kind == "genotype" for p in ps.values()),
        )
        for g, ps in zip(genes, parts)
    )
    first = rows.iloc[0]
    ids = drugs.loc[(drugs["source"] == source) & (drugs["drug"] == drug), "drug_id"]
    return DrugEntry(
        source=source,
        drug=drug,
        genes=genes,
        view=view,
        rows_by_key={k: tuple(v) for k, v in by_key.items()},
        parts=tuple(tuple(ps.values()) for ps in parts),
        cpic_level=cpic_level(drugs, source, drug, genes),
        guideline=_none_if_empty(first["guideline"]),
        url=_none_if_empty(first["url"]),
        pmid=_none_if_empty(first["pmid"]),
        drug_id=next((i for i in ids if i), None),
    )


def build_index(recommendations: pd.DataFrame, drugs: pd.DataFrame, version: str) -> LookupIndex:
    """A :class:`LookupIndex` over the KB's ``recommendations`` and ``drugs`` tables."""
    rows = recommendations.reset_index(drop=True)
    entries = tuple(
        _drug_entry(source, drug, group, drugs)
        for (source, drug, _), group in rows.groupby(["source", "drug", "genes"], sort=True)
    )
    return LookupIndex(version=version, drugs=entries, rows=rows, records=tuple(rows.to_dict("records")))


def lookup_index(kb: KnowledgeBase) -> LookupIndex:
    """The index of ``kb``, built once per KB (kept on it)."""
    return kb.derived("recommend.index", lambda: build_index(kb.tables["recommendations"], kb.tables["drugs"], kb.version))


# --- matching ----------------------------------------------------------------------------


def _as_number(key: str) -> float | None:
    try:
        return float(key)
    except ValueError:
        return None


def match_part(part: KeyPart, result: GeneResult) -> tuple[int, int, float] | None:
    """How specifically ``part`` matches ``result``: (tier, statements, bound), or None."""
    if part.kind == "exact":
        return (TIER_EXACT, 0, 0.0) if part.text in (result.key, result.phenotype) else None
    if part.kind == "bound":
        if result.key == part.text or (parse_bound(result.key) is not None and parse_bound(result.key) == part.bound):
            return TIER_EXACT, 0, 0.0
        n = _as_number(result.key)
        if n is None:
            n = parse_bound(result.key)  # a result that is itself a lower bound ("≥4.5") meets lower bounds
        return (TIER_BOUND, 0, part.bound) if n is not None and n >= part.bound else None
    if part.kind == "status":
        known = dict(result.statuses)
        ok = all(known.get(allele) == status for allele, status in part.statuses)
        return (TIER_EXACT, len(part.statuses), 0.0) if ok else None
    if part.kind == "genotype":
        return (TIER_GENOTYPE, 0, 0.0) if result.genotype == part.text else None
    if result.key == part.text:  # qualified
        return TIER_EXACT, 0, 0.0
    same = result.key == part.base or (_as_number(result.key) is not None and _as_number(result.key) == float(part.base))
    return (TIER_FALLBACK, 0, 0.0) if same else None


def match_rows(entry: DrugEntry, key: tuple[GeneResult, ...]) -> tuple[int, ...]:
    """Positions of the most specific rows of ``entry`` matching the sample's results (one per gene)."""
    per_gene = []
    for parts, result in zip(entry.parts, key):
        matched = [(p.text, spec) for p in parts if (spec := match_part(p, result)) is not None]
        if not matched:
            return ()
        per_gene.append(matched)
    best: list[int] = []
    best_spec = None
    for combo in product(*per_gene):
        positions = entry.rows_by_key.get(tuple(text for text, _ in combo))
        if positions is None:
            continue
        spec = tuple(sum(s[i] for _, s in combo) for i in range(3))
        if best_spec is None or spec > best_spec:
            best, best_spec = list(positions), spec
        elif spec == best_spec:
            best.extend(positions)
    return tuple(sorted(set(best)))


# --- samples -----------------------------------------------------------------------------


def _factorized(calls: pd.DataFrame, name: str, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, texts) of a calls column over the ``keep`` rows: ``texts[codes]`` is the column.

    Missing values and an absent column are ""; every text occurs once in ``texts``.
    """
    n = int(keep.sum())
    if name not in calls:
        return np.zeros(n, dtype=np.int64), np.array([""], dtype=object)
    codes, uniques = pd.factorize(calls[name][keep], use_na_sentinel=True)
    texts = [str(u) for u in uniques] + [""]
    codes = np.where(codes < 0, len(uniques), codes)
    return _dedupe(codes, texts)


def _dedupe(codes: np.ndarray, texts: list) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` into ``texts`` rewritten so that each distinct text has one code."""
    remap, distinct = pd.factorize(pd.Series(texts, dtype=object))
    return remap[codes].astype(np.int64), np.asarray(distinct, dtype=object)


@dataclass
class SampleTables:
    """Per sample (rows, sorted) and gene (columns): codes into one value array per field.

    Fields: ``key`` (lookup key, ``No Result`` without a usable call), ``shown`` (the
    phenotype, else the key), ``genotype`` (the diplotype in canonical order for a called
    or outside call with two alleles, else ""), and for HLA genes ``diplotype``,
    ``allele_1``, ``allele_2``, ``statements`` (the raw ``lookup_key``).
    """

    samples: np.ndarray
    genes: tuple[str, ...]
    codes: dict[str, np.ndarray]  # field -> (samples x genes) int64
    values: dict[str, np.ndarray]  # field -> object array of texts

    def column(self, field: str, gene: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes per sample, values) of one field for one gene."""
        return self.codes[field][:, self.genes.index(gene)], self.values[field]


FIELDS = ("key", "shown", "genotype", "diplotype", "allele_1", "allele_2", "statements")


def sample_tables(calls: pd.DataFrame, genes: tuple[str, ...]) -> SampleTables:
    """The call fields recommend() uses, per sample and gene, as :class:`SampleTables`.

    Everything is done on factorized codes: each distinct text is handled once.
    """
    sample_codes, sample_uniques = pd.factorize(calls["sample_id"].astype(str))
    samples = np.array(sorted(sample_uniques), dtype=object)
    rank = pd.Index(samples).get_indexer(sample_uniques)
    keep = calls["gene"].isin(genes).to_numpy()
    sample_pos = rank[sample_codes[keep]]
    gene_pos = pd.Index(list(genes)).get_indexer(calls["gene"][keep])
    cell = sample_pos.astype(np.int64) * len(genes) + gene_pos
    dup = pd.Series(cell).duplicated().to_numpy()
    if dup.any():
        first = calls[keep].iloc[int(np.flatnonzero(dup)[0])]
        raise InputError(f"calls list sample {first['sample_id']} gene {first['gene']} more than once")
    f = {name: _factorized(calls, name, keep) for name in
         ("call_status", "lookup_key", "phenotype", "allele_1", "allele_2", "diplotype")}  # fmt: skip

    def has(name: str, texts: tuple[str, ...]) -> np.ndarray:  # per call: is the field one of texts
        codes, values = f[name]
        return np.isin(values, texts)[codes]

    usable = ~has("call_status", (NO_CALL,)) & ~has("lookup_key", ("",))
    key_codes, key_texts = f["lookup_key"]
    n_key = len(key_texts)
    key = (np.where(usable, key_codes, n_key), [*key_texts, NO_RESULT])
    pheno_codes, pheno_texts = f["phenotype"]
    with_pheno = usable & ~has("phenotype", ("",))
    shown = (np.where(with_pheno, pheno_codes, len(pheno_texts) + key[0]), [*pheno_texts, *key[1]])
    a1_codes, a1_texts = f["allele_1"]
    a2_codes, a2_texts = f["allele_2"]
    pair_ok = usable & has("call_status", GENOTYPE_STATUSES) & ~has("allele_1", ("",)) & ~has("allele_2", ("",))
    pairs, pair_index = pd.factorize(np.where(pair_ok, a1_codes * len(a2_texts) + a2_codes, -1))
    pair_texts = ["" if u < 0 else format_diplotype(a1_texts[u // len(a2_texts)], a2_texts[u % len(a2_texts)])
                  for u in pair_index]  # fmt: skip
    per_call = {
        "key": key,
        "shown": shown,
        "genotype": (pairs, pair_texts),
        "diplotype": (np.where(usable, f["diplotype"][0], len(f["diplotype"][1])), [*f["diplotype"][1], ""]),
        "allele_1": (np.where(usable, a1_codes, len(a1_texts)), [*a1_texts, ""]),
        "allele_2": (np.where(usable, a2_codes, len(a2_texts)), [*a2_texts, ""]),
        "statements": (np.where(usable, key_codes, n_key), [*key_texts, ""]),
    }
    empty = {"key": NO_RESULT, "shown": NO_RESULT}
    codes_out, values_out = {}, {}
    for name, (codes, texts) in per_call.items():
        codes, values = _dedupe(np.append(codes, len(texts)), [*texts, empty.get(name, "")])
        table = np.full((len(samples), len(genes)), codes[-1], dtype=np.int64)
        table[sample_pos, gene_pos] = codes[:-1]
        codes_out[name], values_out[name] = table, values
    return SampleTables(samples=samples, genes=tuple(genes), codes=codes_out, values=values_out)


def _combine(code_arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One code per distinct tuple of codes (0..n-1), and the first row of each."""
    combined = code_arrays[0]
    for codes in code_arrays[1:]:
        combined, _ = pd.factorize(combined * (int(codes.max()) + 1) + codes)
    combined, _ = pd.factorize(combined)
    first = np.unique(combined, return_index=True)[1]
    return combined.astype(np.int64), first


def view_results(tables: SampleTables, view: GeneView) -> tuple[np.ndarray, list[GeneResult]]:
    """Per sample: a code into the list of distinct :class:`GeneResult` for ``view``."""
    g = view.gene
    if view.status_alleles:
        fields = ("key", "diplotype", "allele_1", "allele_2", "statements")
    else:
        fields = ("key", "shown", "genotype") if view.genotype else ("key", "shown")
    cols = {name: tables.column(name, g) for name in fields}
    codes, first = _combine([c for c, _ in cols.values()])
    rows = [{name: v[c[i]] for name, (c, v) in cols.items()} for i in first]
    if view.status_alleles:
        made = [_status_result(view, r) for r in rows]
    else:
        made = [GeneResult(key=r["key"], shown=r["shown"], phenotype=r["shown"], genotype=r.get("genotype") or None)
                for r in rows]  # fmt: skip
    return codes, made


def _status_result(view: GeneView, r: dict) -> GeneResult:
    """The :class:`GeneResult` of an HLA call for the alleles ``view`` names."""
    if r["key"] == NO_RESULT:
        statuses = tuple((a, None) for a in view.status_alleles)
    else:
        statuses = tuple(
            (a, hla_allele_status(a, diplotype=r["diplotype"], alleles=(r["allele_1"], r["allele_2"]),
                                  statements=r["statements"]))
            for a in view.status_alleles
        )  # fmt: skip
    known = [f"{a} {s}" for a, s in statuses if s is not None]
    key = " + ".join(known) if known else NO_RESULT
    typed = r["diplotype"] or (f"{r['allele_1']}/{r['allele_2']}" if r["allele_1"] and r["allele_2"] else "")
    shown = f"{key} ({typed})" if typed and known else key
    return GeneResult(key=key, shown=shown, phenotype=key, statuses=statuses)


def no_match_text(entry: DrugEntry, key: tuple[GeneResult, ...]) -> str:
    """Which result had no guideline entry, in words."""
    parts = [f"{g} {r.key}" + (" (not called)" if r.key == NO_RESULT else "") for g, r in zip(entry.genes, key)]
    return f"{entry.source} has no {entry.drug} recommendation for {' and '.join(parts)}; decide without genotype guidance."


def _hit_records(index: LookupIndex, entry: DrugEntry, key: tuple[GeneResult, ...], overlay=None) -> list[dict]:
    """Output rows (without sample_id) for one drug and one distinct tuple of results.

    With ``overlay``, each row also has ``verbatim_text`` and ``implications``.
    """
    base = {
        "drug": entry.drug,
        "genes": list(entry.genes),
        "lookup_key": ";".join(f"{g}={r.key}" for g, r in zip(entry.genes, key)),
        "phenotypes": [f"{g}: {r.shown}" for g, r in zip(entry.genes, key)],
        "source": entry.source,
        "guideline": entry.guideline,
        "cpic_level": entry.cpic_level,
        "url": entry.url,
        "pmid": entry.pmid,
        "kb_version": index.version,
    }
    base.update(verbatim_text=None, implications=None)  # filled only from a user's overlay
    positions = match_rows(entry, key)
    if not positions:
        return [{**base, **dict.fromkeys(ADVICE_COLUMNS), **{c: [] for c in LIST_COLUMNS}, "action": NO_MATCH,
                 "text": no_match_text(entry, key)}]  # fmt: skip
    out = []
    for pos in positions:
        r = index.records[pos]
        out.append(
            {
                **base,
                **{c: _none_if_empty(r[c]) for c in TEXT_ADVICE_COLUMNS},
                **{c: _factor(r[c]) for c in FACTOR_COLUMNS},
                **{c: [a for a in str(r[c]).split(";") if a] for c in LIST_COLUMNS},
                "action": r["action"],
                "branch": int(r["branch"]),
                "clauses_not_represented": clauses_not_represented(r["clauses"]),
                "strength": _none_if_empty(r["strength"]),
                "text": _none_if_empty(r["text"]),
                "guideline": _none_if_empty(r["guideline"]) or entry.guideline,
                "url": _none_if_empty(r["url"]) or entry.url,
                "pmid": _none_if_empty(r["pmid"]) or entry.pmid,
                "recommendation_id": _none_if_empty(r["recommendation_id"]),
            }
        )
        if overlay is not None and entry.source == "CPIC":
            text, implications = overlay.verbatim(r["recommendation_id"], entry.drug_id, r["lookup_key"], r["population"])
            out[-1].update(verbatim_text=text, implications=implications)
    return out


#: most lookups an index remembers (then it starts again)
HITS_MEMO_LIMIT = 200_000


def _remembered_hit_records(index: LookupIndex, entry: DrugEntry, key: tuple[GeneResult, ...], overlay=None) -> list[dict]:
    """:func:`_hit_records`, remembered by the index across calls (a biobank's sample
    chunks repeat the same results); not with an overlay, which is given per call."""
    if overlay is not None:
        return _hit_records(index, entry, key, overlay)
    memo = index.hits_memo
    at = (id(entry), key)  # the index keeps its entries alive, so their ids stay theirs
    if at not in memo:
        if len(memo) >= HITS_MEMO_LIMIT:
            memo.clear()
        memo[at] = _hit_records(index, entry, key)
    return memo[at]


def empty_recommendations(overlay: bool = False) -> pd.DataFrame:
    """A recommendations frame with no rows and the declared columns."""
    cols = ALL_COLUMNS
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in FACTOR_COLUMNS else object) for c in cols})


def recommend(calls: pd.DataFrame, kb: KnowledgeBase, overlay=None) -> pd.DataFrame:
    """Recommendations for every sample in ``calls`` and every drug in ``kb`` (``schema.RECOMMENDATIONS``).

    ``calls`` needs sample_id, gene, lookup_key, phenotype and call_status; allele_1,
    allele_2 and diplotype are used when present (DPWG genotype keys, HLA statuses).
    Rows are sorted by sample, drug, source, genes, population, recommendation id and branch.
    ``overlay`` (a :class:`pgx.overlay.Overlay` or its directory) adds ``verbatim_text``
    and ``implications``.
    """
    found = _distinct_hits(calls, kb, overlay)
    return empty_recommendations(overlay is not None) if found is None else _assemble(*found)


def recommendation_table(calls: pd.DataFrame, kb: KnowledgeBase, overlay=None) -> pa.Table:
    """:func:`recommend` as an Arrow table of the declared schema, the same values.

    Each distinct output row is converted to Arrow once and repeated with Arrow's
    ``take``: no Python object per output cell (a biobank chunk has hundreds of
    thousands of rows). For writers; :func:`recommend` is the frame for everything else.
    """
    found = _distinct_hits(calls, kb, overlay)
    return RECOMMENDATIONS.empty_table() if found is None else _assemble_table(*found)


def _distinct_hits(calls: pd.DataFrame, kb: KnowledgeBase, overlay) -> tuple | None:
    """(distinct output rows without sample_id, sample position and row position of every
    output row, sample IDs), or None when there is nothing to look up."""
    index = lookup_index(kb)
    if overlay is not None:
        from pgx.overlay import as_overlay

        overlay = as_overlay(overlay)
    if calls.empty or not index.drugs:
        return None
    if "kb_version" in calls and (calls["kb_version"].dropna().astype(str) != index.version).any():
        warnings.warn(f"calls were made with another knowledge base than {index.version}", stacklevel=3)
    tables = sample_tables(calls, index.genes)
    hits: list[dict] = []
    pairs_sample, pairs_hit = [], []
    views: dict[tuple[GeneView, ...], list[DrugEntry]] = {}
    for d in index.drugs:
        views.setdefault(d.view, []).append(d)
    per_gene: dict[GeneView, tuple[np.ndarray, list[GeneResult]]] = {}
    for view, entries in views.items():
        for gv in view:
            if gv not in per_gene:
                per_gene[gv] = view_results(tables, gv)
        codes, combo_hits = _view_hits(index, view, entries, per_gene, hits, overlay)
        sample_pos, hit_pos = broadcast(codes, combo_hits)
        pairs_sample.append(sample_pos)
        pairs_hit.append(hit_pos)
    return hits, np.concatenate(pairs_sample), np.concatenate(pairs_hit), tables.samples


def _view_hits(
    index: LookupIndex,
    view: tuple[GeneView, ...],
    entries: list[DrugEntry],
    per_gene: dict[GeneView, tuple[np.ndarray, list[GeneResult]]],
    hits: list[dict],
    overlay=None,
) -> tuple[np.ndarray, list[list[int]]]:
    """Look up every distinct tuple of results for ``view`` once per drug that has it.

    Appends the output rows to ``hits``; returns each sample's combination code and, per
    combination, the positions in ``hits`` that apply to it.
    """
    codes, first_sample = _combine([per_gene[gv][0] for gv in view])
    combo_hits: list[list[int]] = [[] for _ in range(len(first_sample))]
    for combo, row in enumerate(first_sample):
        key = tuple(per_gene[gv][1][per_gene[gv][0][row]] for gv in view)
        for entry in entries:
            for record in _remembered_hit_records(index, entry, key, overlay):
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


def _hit_column(hits: list[dict], name: str) -> np.ndarray:
    """One output column over the distinct hits, as a numpy array (lists kept whole)."""
    if name in FACTOR_COLUMNS:
        return np.array([np.nan if h[name] is None else h[name] for h in hits], dtype="float64")
    arr = np.empty(len(hits), dtype=object)
    for i, h in enumerate(hits):
        arr[i] = h[name]
    return arr


def _hit_columns(hits: list[dict]) -> dict[str, np.ndarray]:
    return {c: _hit_column(hits, c) for c in ALL_COLUMNS if c != "sample_id"}


def _row_order(cols: dict[str, np.ndarray], sample_pos: np.ndarray, hit_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sample position, hit position) of every output row, in the documented order."""
    n_hits = len(cols["drug"])
    sort_keys = [
        np.array(["" if v is None else str(v) for v in cols["drug"]]),
        np.array(["" if v is None else str(v) for v in cols["source"]]),
        np.array([";".join(v) for v in cols["genes"]]),
        *(np.array(["" if v is None else str(v) for v in cols[c]]) for c in ("population", "recommendation_id")),
        np.array([0 if v is None else int(v) for v in cols["branch"]]),
    ]
    rank = np.empty(n_hits, dtype=np.int64)
    rank[np.lexsort(sort_keys[::-1])] = np.arange(n_hits)
    order = np.argsort(sample_pos.astype(np.int64) * max(n_hits, 1) + rank[hit_pos], kind="stable")
    return sample_pos[order], hit_pos[order]


def _assemble(hits: list[dict], sample_pos: np.ndarray, hit_pos: np.ndarray, sample_ids: np.ndarray) -> pd.DataFrame:
    """Broadcast the distinct hits to their samples, in the documented order."""
    cols = _hit_columns(hits)
    samples, take = _row_order(cols, sample_pos, hit_pos)
    # object columns share the few distinct Python strings: no per-row string copies
    data = {"sample_id": sample_ids[samples], **{c: arr[take] for c, arr in cols.items()}}
    # one block per column (pd.concat), not one consolidated copy of every object column
    return pd.concat([pd.Series(data[c], dtype=data[c].dtype, name=c, copy=False) for c in ALL_COLUMNS], axis=1)


def _assemble_table(hits: list[dict], sample_pos: np.ndarray, hit_pos: np.ndarray, sample_ids: np.ndarray) -> pa.Table:
    """:func:`_assemble` as Arrow: each column converted once over the distinct values,
    then taken to the rows (a dictionary column is encoded after the take, so its
    dictionary is in order of first appearance, as when converting the frame)."""
    cols = _hit_columns(hits)
    samples, take = _row_order(cols, sample_pos, hit_pos)
    arrays = []
    for f in RECOMMENDATIONS:
        values, rows = (sample_ids, samples) if f.name == "sample_id" else (cols[f.name], take)
        plain = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        arrays.append(pa.array(values, type=plain, from_pandas=True).take(rows).cast(f.type))
    return pa.Table.from_arrays(arrays, schema=RECOMMENDATIONS)


__all__ = [
    "recommend",
    "recommendation_table",
    "match_rows",
    "lookup_index",
    "build_index",
    "parse_bound",
    "parse_key_part",
    "hla_allele_status",
    "allele_status_key",
    "NO_RESULT",
    "NO_MATCH",
]
