"""Star-allele matching: genotypes at KB positions -> diplotype calls.

Semantics (PharmCAT-compatible, see docs/architecture.md and docs/accuracy.md):

* The reference allele fills the blanks of every other allele's definition.
* A position missing for a sample is dropped from every definition; an allele left with
  no defining position is uncallable; the score of the others drops. Every allele a
  missing position hides (uncallable, or no longer distinguishable) is listed.
* Score = number of defining positions an allele matches; a diplotype's score is the
  sum over its two alleles. The highest score wins; ties are all reported, sorted, and
  the call is ``ambiguous`` (no tie is picked, except by a documented priority: NAT2).
* Phased samples (every heterozygous position ``|`` and in one phase set) are matched
  haplotype by haplotype; other samples by testing candidate allele pairs.
* A phased haplotype that only a combination of alleles explains (``[*6 + *18]``) is a
  no-call by default, because no guideline defines its function; ``combinations=True``
  reports it (flagged, phenotype Indeterminate).
* An allele at a defining position that no definition names (a possible novel allele)
  makes a no-call: the sample matches neither the reference nor a defined allele there.
  For the toxicity genes with the gene rule ``undocumented_as_reference`` it counts as
  reference there instead, so their documented actionable variants still give a result.
  Either way it is reported in ``novel_variants``.
* A genotype with one allele missing (``./1``) is completed every possible way; the call
  lists every diplotype those completions give (the phenotype stage makes it a no-call
  unless they agree on the phenotype).
* Genes called variant by variant (DPYD, RYR1, CACNA1S) are solved by
  :mod:`pgx.lowest_function`; mitochondrial genes by :mod:`pgx.mito`, beside this
  module (:mod:`pgx.calling` chooses).
* Calls name alleles as guidelines do (``alleles.guideline_name``: ``*45.001`` -> ``*45``,
  the suballele kept in ``suballeles``).

Performance: genotypes are integer arrays. Samples with identical genotype patterns
are solved once (biobanks have few distinct patterns per gene); allele compatibility is
computed for all distinct patterns at once with bit masks, and only the few compatible
candidates are paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, combinations_with_replacement, product

import numpy as np
import pandas as pd

from pgx.calls import CallNotes, Solution, call_row
from pgx.genotypes import (
    HAPLOID,
    MISSING,
    STATUS_ASSUMED_REFERENCE,
    GenotypeMatrix,
    input_warnings,
    unique_rows,
)
from pgx.kb import KnowledgeBase
from pgx.lowest_function import LowestFunctionGene, combination_name, solve_lowest_function
from pgx.naming import allele_sort_key, definition_matches, format_diplotype
from pgx.schema import AMBIGUOUS, CALLED

_MAX_CODE = 62  # codes above this cannot be represented in the uint64 masks
_ALL = np.uint64(np.iinfo(np.uint64).max)

MODE_UNPHASED, MODE_PHASED, MODE_HAPLOID = 0, 1, 2
#: contigs where one allele per sample is expected (males on X/Y, mitochondria)
_HAPLOID_CONTIGS = ("chrX", "chrY", "chrM")
#: most completions of a sample's partial genotypes (``./1``) that are tried
MAX_COMPLETIONS = 64


@dataclass(frozen=True)
class GeneModel:
    """One gene's allele definitions as arrays over its core positions."""

    gene: str
    positions: np.ndarray  # int64 [L]
    alleles: list[str]  # callable (non-structural) alleles, [A]
    bases: list[list[str | None]]  # [A][L] defining bases, None = reference fill
    defined: np.ndarray  # bool [A, L]
    reference: str  # the reference allele's name
    reported: dict[str, str] | None = None  # definition name -> the name guidelines use, where they differ

    @property
    def reference_bases(self) -> list[str | None] | None:
        """The reference allele's definition per position (None if it is not callable)."""
        return self.bases[self.alleles.index(self.reference)] if self.reference in self.alleles else None

    def report_name(self, name: str | None) -> str | None:
        """``name`` as guidelines write it (``*45.001`` -> ``*45``; combinations inside brackets too)."""
        if not name or not self.reported:
            return name
        if name.startswith("[") and name.endswith("]"):
            return combination_name([self.reported.get(a, a) for a in name[1:-1].split(" + ")])
        return self.reported.get(name, name)


#: function order for genes called by their lowest-function variants, lowest first;
#: a function text not listed (e.g. a disease-susceptibility label) ranks as abnormal
FUNCTION_RANK = {
    "no function": 0.0,
    "decreased function": 1.0,
    "possible decreased function": 1.5,
    "uncertain function": 2.0,
    "unknown function": 2.0,
    "normal function": 3.0,
    "increased function": 4.0,
}
_UNLISTED_FUNCTION_RANK = 0.5


@dataclass(frozen=True)
class GeneRules:
    """The gene_rules rows of one gene, parsed (vocabulary in pgx.schema)."""

    required_positions: tuple[int, ...] = ()
    unphased_priorities: tuple[tuple[frozenset, str], ...] = ()
    ignored_alleles: frozenset = frozenset()
    lowest_function: bool = False
    fallback_position: int | None = None
    copy_number_not_assessed: bool = False
    inferred_alleles: frozenset = frozenset()
    undocumented_as_reference: bool = False


def gene_rules(kb: KnowledgeBase, gene: str) -> GeneRules:
    """Parse ``gene``'s rows of the gene_rules table."""
    if "gene_rules" not in kb.tables:
        return GeneRules()
    rows = kb.table("gene_rules", gene)
    by_rule: dict[str, list[str]] = {}
    for rule, value in zip(rows["rule"], rows["value"]):
        by_rule.setdefault(rule, []).append(value)
    priorities = []
    for value in by_rule.get("unphased_priority", []):
        options, _, pick = value.partition(">")
        priorities.append((frozenset(options.split("|")), pick))
    fallback = by_rule.get("fallback_position", [])
    return GeneRules(
        required_positions=tuple(int(v) for v in by_rule.get("required_position", [])),
        unphased_priorities=tuple(priorities),
        ignored_alleles=frozenset(by_rule.get("ignored_allele", [])),
        lowest_function="lowest_function" in by_rule,
        fallback_position=int(fallback[0]) if fallback else None,
        copy_number_not_assessed="copy_number_not_assessed" in by_rule,
        inferred_alleles=frozenset(by_rule.get("inferred_allele", [])),
        undocumented_as_reference="undocumented_as_reference" in by_rule,
    )


def build_gene_model(kb: KnowledgeBase, gene: str) -> GeneModel:
    """Arrays of ``gene``'s definitions over its core loci (structural and ignored alleles left out)."""
    loci = kb.loci([gene], roles=("core",))
    positions = loci["pos"].to_numpy(dtype=np.int64)
    col = {int(p): i for i, p in enumerate(positions)}
    alleles_tab = kb.table("alleles", gene)
    ignored = gene_rules(kb, gene).ignored_alleles
    keep = ~alleles_tab["is_structural"] & ~alleles_tab["allele"].isin(ignored)
    callable_ = alleles_tab.loc[keep, "allele"].tolist()
    ref_rows = alleles_tab.loc[alleles_tab["is_reference"], "allele"].tolist()
    reference = ref_rows[0] if ref_rows else ""
    names = sorted(callable_, key=allele_sort_key)
    index = {a: i for i, a in enumerate(names)}
    bases: list[list[str | None]] = [[None] * len(positions) for _ in names]
    defs = kb.table("allele_definitions", gene)
    for allele, pos, b in zip(defs["allele"], defs["pos"], defs["bases"]):
        if allele in index and int(pos) in col:
            bases[index[allele]][col[int(pos)]] = b
    defined = np.array([[b is not None for b in row] for row in bases], dtype=bool).reshape(len(names), len(positions))
    reported = {}
    if "guideline_name" in alleles_tab:
        reported = {
            a: g for a, g in zip(alleles_tab["allele"], alleles_tab["guideline_name"]) if isinstance(g, str) and g and g != a
        }
    return GeneModel(gene, positions, names, bases, defined, reference, reported)


def _locus_sequences(gm: GenotypeMatrix, cols: np.ndarray) -> tuple[tuple[str | None, ...], ...]:
    """Per matrix column of ``cols``: the allele sequence of every code (index = code)."""
    refs, alts = gm.loci["ref"].tolist(), gm.loci["alts"].tolist()
    novel: dict[int, dict[int, str]] = {}
    for (c, code), seq in gm.novel_alleles.items():
        novel.setdefault(c, {})[code] = seq
    out = []
    for col in cols.tolist():
        seqs: list[str | None] = [refs[col]] + [a for a in str(alts[col]).split(",") if a]
        for code in sorted(novel.get(col, {})):
            while len(seqs) <= code:
                seqs.append(None)
            seqs[code] = novel[col][code]
        out.append(tuple(seqs[: _MAX_CODE + 1]))
    return tuple(out)


def _masks(model: GeneModel, sequences: tuple[tuple[str | None, ...], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Bit masks of the codes each allele accepts at each position (``sequences``: the
    allele sequence of each code, per position).

    Returns (mask [A, L] uint64 with reference fill, explicit [L] uint64 = codes that some
    definition names explicitly; code 0 is always explicit).
    """
    n_a, n_l = model.defined.shape
    mask = np.zeros((n_a, n_l), dtype=np.uint64)
    explicit = np.ones(n_l, dtype=np.uint64)
    ref_bases = model.reference_bases
    for j, seqs in enumerate(sequences):
        # blanks take the reference allele's definition (PharmCAT); it is the genome's
        # base except where the reference allele itself has a wobble (CYP2D6 *1: R, S)
        ref_def = ref_bases[j] if ref_bases is not None else None
        fill = sum(1 << c for c, seq in enumerate(seqs) if ref_def is not None and definition_matches(ref_def, seq))
        ref_bit = np.uint64(fill or 1)
        for a in range(n_a):
            definition = model.bases[a][j]
            if definition is None:
                mask[a, j] = ref_bit
                continue
            bits = 0
            for code, seq in enumerate(seqs):
                if definition_matches(definition, seq):
                    bits |= 1 << code
            mask[a, j] = np.uint64(bits)
            explicit[j] |= np.uint64(bits)
    return mask, explicit


def _code_bits(codes: np.ndarray) -> np.ndarray:
    """One-hot bits of allele codes; missing / haploid / unrepresentable -> all bits."""
    ok = (codes >= 0) & (codes <= _MAX_CODE)
    shifted = np.left_shift(np.uint64(1), np.clip(codes, 0, _MAX_CODE).astype(np.uint64))
    return np.where(ok, shifted, _ALL)


def _sample_modes(codes: np.ndarray, phased: np.ndarray, phase_set: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Matching mode per sample: haploid, phased (hets phased in one set) or unphased."""
    haploid_pos = codes[:, :, 1] == HAPLOID
    called = ~missing
    haploid = (haploid_pos | ~called).all(axis=1) & (haploid_pos & called).any(axis=1)
    het = (codes[:, :, 0] != codes[:, :, 1]) & called & ~haploid_pos
    all_het_phased = ~(het & ~phased).any(axis=1)
    ps = np.where(het, phase_set, -1)
    ps_max = ps.max(axis=1, initial=-1)
    ps_min = np.where(het, phase_set, np.iinfo(np.int64).max).min(axis=1, initial=np.iinfo(np.int64).max)
    one_set = (ps_max == -1) | (ps_max == ps_min)
    modes = np.full(len(codes), MODE_UNPHASED, dtype=np.int8)
    modes[all_het_phased & one_set] = MODE_PHASED
    modes[haploid] = MODE_HAPLOID
    return modes


def _best(candidates: np.ndarray, scores: np.ndarray) -> list[int]:
    """Indices of the highest-scoring candidates (all ties)."""
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return []
    top = scores[idx].max()
    return [int(i) for i in idx[scores[idx] == top]]


@dataclass
class _PatternFit:
    """One distinct genotype pattern and the alleles that fit it: what solving it reads."""

    b0: np.ndarray  # uint64 [L]: code bits haplotype 1 accepts per position (all bits where ignored)
    b1: np.ndarray  # uint64 [L]: the same for haplotype 2
    scores: np.ndarray  # int32 [A]: each allele's defined positions that the pattern covers
    union: np.ndarray  # bool [A]: callable alleles accepting either haplotype at every position
    compat0: np.ndarray  # bool [A]: callable alleles accepting haplotype 1 at every position
    compat1: np.ndarray  # bool [A]: the same for haplotype 2
    mode: int  # MODE_UNPHASED, MODE_PHASED or MODE_HAPLOID


def _solve_pattern(model: GeneModel, mask: np.ndarray, p: _PatternFit) -> tuple[list[tuple[str, str | None]], int]:
    """Best diplotypes for one distinct genotype pattern."""
    names = model.alleles
    b0, b1, scores, mode, compat0, compat1 = p.b0, p.b1, p.scores, p.mode, p.compat0, p.compat1
    if mode == MODE_HAPLOID:
        best = _best(compat0, scores)
        return [(names[i], None) for i in best], int(scores[best[0]]) if best else 0
    if mode == MODE_PHASED:
        h0, h1 = _best(compat0, scores), _best(compat1, scores)
        if not h0 or not h1:
            return [], 0
        pairs = {tuple(sorted((names[i], names[j]), key=allele_sort_key)) for i in h0 for j in h1}
        return sorted(pairs, key=lambda p: (allele_sort_key(p[0]), allele_sort_key(p[1]))), int(scores[h0[0]] + scores[h1[0]])
    pairs, total = _valid_pairs(mask, b0, b1, scores, p.union)
    if not len(pairs):
        return [], 0
    top = total.max()
    keep = pairs[total == top]
    out = {tuple(sorted((names[i], names[j]), key=allele_sort_key)) for i, j in keep}
    return sorted(out, key=lambda p: (allele_sort_key(p[0]), allele_sort_key(p[1]))), int(top)


def _valid_pairs(mask, b0, b1, scores, candidates) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of candidate alleles that explains an unphased pattern, and its score."""
    cand = np.flatnonzero(candidates)
    if cand.size == 0:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64)
    pairs = np.array(list(combinations_with_replacement(cand, 2)), dtype=np.int64)
    mi, mj = mask[pairs[:, 0]], mask[pairs[:, 1]]
    straight = ((mi & b0) != 0) & ((mj & b1) != 0)
    crossed = ((mi & b1) != 0) & ((mj & b0) != 0)
    valid = (straight | crossed).all(axis=1)
    return pairs[valid], (scores[pairs[:, 0]] + scores[pairs[:, 1]])[valid]


@dataclass
class _GeneSetup:
    """What matching a gene needs from the KB, built once per KB and gene (kept on the KB)."""

    model: GeneModel
    rules: GeneRules
    ranks: list[tuple] | None  # lowest-function genes: sort key per allele
    masks: dict[tuple, tuple[np.ndarray, np.ndarray]]  # allele sequences per position -> _masks
    #: (allele sequences per position, options) -> {distinct pattern (its key row as bytes): solution}
    solved: dict[tuple, dict[bytes, Solution]]

    def masks_for(self, sequences: tuple[tuple[str | None, ...], ...]) -> tuple[np.ndarray, np.ndarray]:
        if sequences not in self.masks:
            self.masks[sequences] = _masks(self.model, sequences)
        return self.masks[sequences]

    def solved_for(self, key: tuple) -> dict[bytes, Solution]:
        """The patterns solved so far with these sequences and options (a biobank's chunks repeat them)."""
        memo = self.solved.setdefault(key, {})
        if len(memo) > SOLVED_PATTERNS_LIMIT:
            memo.clear()
        return memo

    @property
    def inferable(self) -> frozenset[int]:
        """Indices of the alleles a gene rule lets us infer from part of their variants."""
        return frozenset(i for i, a in enumerate(self.model.alleles) if a in self.rules.inferred_alleles)


#: most solved patterns remembered per gene (then it starts again)
SOLVED_PATTERNS_LIMIT = 100_000


def _gene_setup(kb: KnowledgeBase, gene: str) -> _GeneSetup:
    """``gene``'s model, rules and masks for ``kb``: sample chunks of one run share them."""

    def build() -> _GeneSetup:
        model, rules = build_gene_model(kb, gene), gene_rules(kb, gene)
        return _GeneSetup(model, rules, _function_ranks(kb, model) if rules.lowest_function else None, {}, {})

    return kb.derived(("match.setup", gene), build)


@dataclass(frozen=True)
class _Patterns:
    """The distinct genotype patterns of a chunk of samples, ready to solve."""

    bits: np.ndarray  # uint64 [U, L, 2] accepted code bits (all bits where ignored or a half-call)
    ignore: np.ndarray  # bool [U, L]
    half: np.ndarray  # bool [U, L, 2] the missing allele of a partial genotype (./1)
    modes: np.ndarray  # int8 [U]
    scores: np.ndarray  # int32 [U, A]

    def take(self, which: np.ndarray) -> _Patterns:
        """The patterns at indices ``which``."""
        return _Patterns(self.bits[which], self.ignore[which], self.half[which], self.modes[which], self.scores[which])


def call_gene(gm: GenotypeMatrix, kb: KnowledgeBase, gene: str, *, combinations: bool = False) -> pd.DataFrame:
    """Diplotype calls of every sample in ``gm`` for ``gene`` (``combinations``: report a
    haplotype only a combination of alleles explains, instead of a no-call)."""
    setup = _gene_setup(kb, gene)
    model, rules = setup.model, setup.rules
    pos_to_col = {
        int(p): i
        for i, (g, p, r) in enumerate(zip(gm.loci["gene"], gm.loci["pos"], gm.loci["role"]))
        if g == gene and r == "core"
    }
    absent = [int(p) for p in model.positions if int(p) not in pos_to_col]
    if absent:
        raise ValueError(f"{gene}: genotype matrix lacks KB core positions {absent[:5]}")
    cols = np.array([pos_to_col[int(p)] for p in model.positions], dtype=np.int64)
    codes = gm.codes[:, cols, :].astype(np.int16)
    lost = codes == MISSING
    missing = lost[..., 0] & (lost[..., 1] | (codes[..., 1] == HAPLOID))  # no allele at all
    sequences = _locus_sequences(gm, cols)
    mask, explicit = setup.masks_for(sequences)

    # possible novel alleles: a called allele no definition names at that position
    unknown = ((_code_bits(codes) & explicit[None, :, None]) == 0) & (codes >= 0)
    novel = unknown.any(axis=2) & ~missing
    if rules.undocumented_as_reference:
        codes_used, ignore = np.where(unknown, 0, codes), missing
    else:
        codes_used, ignore = codes, missing | novel  # the call is a no-call (see _to_frame)

    modes = _sample_modes(codes, gm.phased[:, cols], gm.phase_set[:, cols], missing)
    pattern = np.where(ignore[:, :, None], MISSING, codes_used)
    unphased = modes == MODE_UNPHASED
    pattern[unphased] = np.sort(pattern[unphased], axis=2)
    novel_codes = np.where(novel[:, :, None], codes, 0).reshape(len(codes), -1)
    key = np.concatenate([modes[:, None].astype(np.int16), pattern.reshape(len(codes), -1), novel_codes], axis=1)
    first, inverse = unique_rows(key)

    u_ignore = ignore[first]
    patterns = _Patterns(
        bits=np.where(u_ignore[:, :, None], _ALL, _code_bits(pattern[first])),
        ignore=u_ignore,
        half=(pattern[first] == MISSING) & ~u_ignore[:, :, None],
        modes=modes[first],
        scores=(~u_ignore).astype(np.int32) @ model.defined.T.astype(np.int32),  # [U, A]
    )
    # a pattern's key row (with the gene's sequences and options) decides its solution
    solved = setup.solved_for((sequences, combinations))
    keys = [key[i].tobytes() for i in first]
    new = np.array([u for u, k in enumerate(keys) if k not in solved], dtype=np.int64)
    if new.size:
        found = _solve_with_partials(setup, mask, explicit, patterns, new, combinations)
        solved.update(zip([keys[u] for u in new.tolist()], found))
    solutions = [solved[k] for k in keys]
    # alleles a missing position hides: not callable, or at least not ruled out
    nonref = model.defined & ((mask & np.uint64(1)) == 0)
    unassessed = ((nonref[None, :, :] & u_ignore[:, None, :]).any(axis=2)) | ~(patterns.scores > 0)
    genotypes = _SampleGenotypes(codes, missing, np.where(unknown & ~missing[..., None], codes, 0), modes, gm.status[:, cols])
    chrom = str(gm.loci.iloc[int(cols[0])]["chrom"]) if len(cols) else ""
    return _to_frame(_GeneChunk(gm, model, rules, cols, chrom, genotypes), inverse, solutions, unassessed)


def _function_ranks(kb: KnowledgeBase, model: GeneModel) -> list[tuple]:
    """Sort key per allele of a lowest-function gene: function rank, activity, specificity, name.

    An allele without a function takes the gene's ``unassigned_function`` rule when it
    has one (RYR1, CACNA1S: uncertain function)."""
    tab = kb.table("alleles", model.gene).set_index("allele")
    rules = kb.table("gene_rules", model.gene) if "gene_rules" in kb.tables else pd.DataFrame(columns=["rule", "value"])
    unassigned = next((v for r, v in zip(rules["rule"], rules["value"]) if r == "unassigned_function"), "")
    keys = []
    for i, name in enumerate(model.alleles):
        function = str(tab.at[name, "function"] or "") if name in tab.index else ""
        function = function or unassigned
        activity = tab.at[name, "activity_value"] if name in tab.index else None
        rank = FUNCTION_RANK.get(function.lower(), _UNLISTED_FUNCTION_RANK if function else FUNCTION_RANK["unknown function"])
        value = 9.0 if activity is None or pd.isna(activity) else float(activity)
        # equal function: the more specific allele (more defining positions) first
        keys.append((rank, value, -int(model.defined[i].sum()), allele_sort_key(name)))
    return keys


def _solve_with_partials(setup: _GeneSetup, mask, explicit, p: _Patterns, which: np.ndarray, combos: bool) -> list[Solution]:
    """Solutions of patterns ``which``; a pattern with partial genotypes is solved once per
    completion and the completions' results merged (:func:`_merge_completions`)."""
    has_half = p.half[which].any(axis=(1, 2))
    out: dict[int, Solution] = {}
    whole = which[~has_half]
    if whole.size:
        out.update(zip(whole.tolist(), _solve(setup, mask, p.take(whole), combos)))
    for u in which[has_half].tolist():
        filled = _completions(p.bits[u], p.half[u], explicit)
        if filled is None:
            out[u] = Solution((), 0, (("partial_genotype", _too_many_partials(setup.model, p.half[u])),))
            continue
        n = len(filled)
        completed = _Patterns(
            bits=np.stack([b for _, b in filled]), ignore=np.repeat(p.ignore[u][None], n, 0),
            half=np.zeros((n, *p.half.shape[1:]), dtype=bool), modes=np.repeat(p.modes[u : u + 1], n),
            scores=np.repeat(p.scores[u][None], n, 0),
        )  # fmt: skip
        solved = _solve(setup, mask, completed, combos)
        out[u] = _merge_completions(setup.model, [c for c, _ in filled], solved)
    return [out[u] for u in which.tolist()]


def _completions(bits: np.ndarray, half: np.ndarray, explicit: np.ndarray):
    """[(what was filled in, code bits)] for every way of filling the missing allele of each
    partial genotype with an allele the definitions name there; None when too many."""
    slots = [(int(j), int(h)) for j, h in zip(*np.nonzero(half))]
    choices = [[c for c in range(_MAX_CODE + 1) if int(explicit[j]) >> c & 1] for j, _ in slots]
    total = int(np.prod([len(c) for c in choices])) if choices else 1
    if total > MAX_COMPLETIONS:
        return None
    out = []
    for picked in product(*choices):
        b = bits.copy()
        for (j, h), c in zip(slots, picked):
            b[j, h] = np.uint64(1) << np.uint64(c)
        out.append((tuple(zip((j for j, _ in slots), picked)), b))
    return out


def _too_many_partials(model: GeneModel, half: np.ndarray) -> str:
    where = ", ".join(str(int(model.positions[j])) for j in np.flatnonzero(half.any(axis=1)))
    return f"partial genotypes (one allele missing) at {where}: too many possible genotypes to try; no call is made"


def _merge_completions(model: GeneModel, filled: list[tuple], solved: list[Solution]) -> Solution:
    """One solution from the solutions of every completion of a pattern's partial genotypes.

    The diplotypes are the union (the phenotype stage calls the result only when they all
    give one phenotype); a completion that cannot be called makes the whole a no-call."""
    where = ", ".join(str(int(model.positions[j])) for j in sorted({j for f in filled for j, _ in f}))
    options = "; ".join(("/".join(format_diplotype(a, b) for a, b in s.dips) or "no call") for s in solved)
    note = (
        "partial_genotype",
        f"partial genotype(s) at {where}: one allele is missing, so every allele the definitions name there was "
        f"tried in its place; they give {options}",
    )
    notes = tuple(dict.fromkeys(n for s in solved for n in s.notes if n[0] != "tie"))
    if any(not s.dips for s in solved):
        return Solution((), max((s.score for s in solved), default=0), (note, *notes))
    dips = tuple(dict.fromkeys(d for s in solved for d in s.dips))
    displays = {s.display for s in solved}
    found = tuple(dict.fromkeys(f for s in solved for f in s.found))
    display = displays.pop() if len(displays) == 1 else None
    return Solution(dips, max(s.score for s in solved), (note, *notes), display=display, found=found if len(dips) == 1 else ())


def _solve(setup: _GeneSetup, mask: np.ndarray, p: _Patterns, combos: bool) -> list[Solution]:
    """The solution of each distinct pattern of ``p``."""
    model, rules = setup.model, setup.rules
    if rules.lowest_function:
        gene = LowestFunctionGene(model, mask, setup.ranks, _reference_bits(model, mask), setup.inferable)
        return solve_lowest_function(gene, p.bits, p.ignore, p.modes)
    return _solve_patterns(model, rules, mask, p, combos)


def _reference_bits(model: GeneModel, mask: np.ndarray) -> np.ndarray:
    """Code bits the reference allele accepts per position (code 0 when it is not callable)."""
    if model.reference in model.alleles:
        return mask[model.alleles.index(model.reference)]
    return np.ones(mask.shape[1], dtype=np.uint64)


def _solve_patterns(model: GeneModel, rules: GeneRules, mask: np.ndarray, p: _Patterns, combos: bool) -> list[Solution]:
    """The solution of each distinct pattern, for genes called by star alleles."""
    ub, u_ignore, u_modes, scores = p.bits, p.ignore, p.modes, p.scores
    callable_ = scores > 0
    nonref = model.defined & ((mask & np.uint64(1)) == 0)
    compat0 = _all_compatible(mask, ub[..., 0]) & callable_
    compat1 = _all_compatible(mask, ub[..., 1]) & callable_
    union = _all_compatible(mask, ub[..., 0] | ub[..., 1]) & callable_
    solutions = []
    for u in range(len(ub)):
        mode = int(u_modes[u])
        b0, b1 = ub[u, :, 0], ub[u, :, 1]
        fit = _PatternFit(b0, b1, scores[u], union[u], compat0[u], compat1[u], mode)
        notes: list[tuple[str, str]] = []
        dips, score = _solve_pattern(model, mask, fit)
        if mode == MODE_UNPHASED and rules.unphased_priorities:
            # the documented priorities choose among every pair the genotypes allow, whatever
            # their specificity: unphased data cannot tell them apart (PharmCAT, NAT2)
            pairs, total = _valid_pairs(mask, b0, b1, scores[u], union[u])
            every = [tuple(sorted((model.alleles[i], model.alleles[j]), key=allele_sort_key)) for i, j in pairs]
            picked, notes = _apply_priority(every, rules.unphased_priorities)
            if notes:
                dips, score = picked, int(total[every.index(picked[0])])
        # when no pair fits: the gene's single-position fallback gives an actionable
        # result, so it comes before a combination call (whose function is unknown)
        if not dips and rules.fallback_position is not None:
            dips, score, notes = _solve_fallback(model, mask, nonref, fit, u_ignore[u], rules.fallback_position)
        if not dips and mode in (MODE_PHASED, MODE_HAPLOID):
            found, total, combo_notes = _solve_combination(model, mask, nonref, fit)
            if found and combos:
                dips, score, notes = found, total, combo_notes
            elif found:
                shown = " and ".join(format_diplotype(model.report_name(a), model.report_name(b)) for a, b in found)
                notes = [
                    (
                        "combination",
                        f"the haplotypes fit only as {shown}, a combination of defined alleles on one "
                        "copy that no guideline defines; no call is made (--find-combinations reports it)",
                    )
                ]
        solutions.append(Solution(tuple(dips), int(score), tuple(notes)))
    return solutions


#: most alleles a combination call may join on one haplotype
MAX_COMBINATION = 3


def _haplotype_cover(model, mask, nonref, hap_bits) -> list[str] | None:
    """Fewest alleles whose variants, disjoint, make up exactly this haplotype's variants."""
    carried = (hap_bits != np.uint64(1)) & (hap_bits != _ALL)  # non-reference, called
    if not carried.any():
        return None
    fits = [
        a
        for a in np.flatnonzero(nonref.any(axis=1))
        if not (nonref[a] & ~carried).any() and ((mask[a, nonref[a]] & hap_bits[nonref[a]]) != 0).all()
    ]
    for size in range(2, MAX_COMBINATION + 1):
        best = None
        for combo in combinations(fits, size):
            cover = nonref[list(combo)]
            if (cover.sum(axis=0) > 1).any() or not (cover.any(axis=0) == carried).all():
                continue
            names = [model.alleles[a] for a in combo]
            key = sorted(names, key=allele_sort_key)
            if best is None or [allele_sort_key(n) for n in key] < [allele_sort_key(n) for n in best]:
                best = key
        if best:
            return best
    return None


def _solve_combination(model: GeneModel, mask: np.ndarray, nonref: np.ndarray, p: _PatternFit):
    """Phased (or haploid) data whose haplotype matches no single allele: the combination
    of named alleles on that haplotype, PharmCAT-style (``[*6 + *18]``)."""
    bits, scores, compat0, compat1, mode = (p.b0, p.b1), p.scores, p.compat0, p.compat1, p.mode
    haps = (0,) if mode == MODE_HAPLOID else (0, 1)
    names, total, notes = [], 0, []
    for h in haps:
        best = _best(compat0 if h == 0 else compat1, scores)
        if best and len(best) == 1:
            names.append(model.alleles[best[0]])
            total += int(scores[best[0]])
            continue
        if best:
            return [], 0, []  # ties on a haplotype: leave to the caller's no-call
        cover = _haplotype_cover(model, mask, nonref, bits[h])
        if cover is None:
            return [], 0, []
        names.append(combination_name(cover))
        shown = model.report_name(combination_name(cover))
        notes.append(
            (
                "combination",
                f"haplotype {h + 1} carries several named alleles together: {shown}; "
                "a combination has no defined function (reported because combinations were asked for)",
            )
        )
    if mode == MODE_HAPLOID:
        return [(names[0], None)], total, notes
    return [tuple(sorted(names, key=allele_sort_key))], total, notes


def _apply_priority(dips, priorities) -> tuple[list, list[tuple[str, str]]]:
    """Resolve an unphased tie by the gene's documented priority (NAT2): when the tied
    diplotypes include every diplotype a priority lists, its pick is reported. Ties that
    missing positions widen still resolve (the extra candidates are named)."""
    names = {format_diplotype(a, b) for a, b in dips}
    for options, pick in priorities:
        if options <= names:
            a, _, b = pick.partition("/")
            others = sorted(names - {pick}, key=str)
            return [tuple(sorted((a, b), key=allele_sort_key))], [
                (
                    "priority_pick",
                    f"unphased tie {' | '.join(sorted(names, key=str))}: {pick} reported by the gene's documented "
                    f"priority (PharmCAT unphased priorities); phased data could show {' or '.join(others)}",
                )
            ]
    return dips, []


def _solve_fallback(model: GeneModel, mask: np.ndarray, nonref: np.ndarray, p: _PatternFit, ignored: np.ndarray, position: int):
    """Call from one position only (SLCO1B1 rs4149056) when no star diplotype fits."""
    b0, b1 = p.b0, p.b1
    where = np.flatnonzero(model.positions == position)
    if where.size == 0 or ignored[where[0]]:
        return [], 0, []
    j = int(where[0])
    others = np.delete(np.arange(len(model.positions)), j)
    eligible = [
        a
        for a in range(len(model.alleles))
        if not nonref[a, others].any() and (nonref[a, j] or model.alleles[a] == model.reference)
    ]
    if not eligible:
        return [], 0, []
    sub = GeneModel(
        model.gene,
        model.positions[[j]],
        [model.alleles[a] for a in eligible],
        [[model.bases[a][j]] for a in eligible],
        model.defined[eligible][:, [j]],
        model.reference,
    )
    sub_mask = mask[eligible][:, [j]]
    bb0, bb1 = b0[[j]], b1[[j]]
    sub_scores = sub.defined.sum(axis=1).astype(np.int32)
    ok = np.ones(len(eligible), dtype=bool)
    c0 = _all_compatible(sub_mask, bb0[None, :])[0]
    c1 = _all_compatible(sub_mask, bb1[None, :])[0]
    cu = _all_compatible(sub_mask, (bb0 | bb1)[None, :])[0]
    dips, score = _solve_pattern(sub, sub_mask, _PatternFit(bb0, bb1, sub_scores, cu & ok, c0, c1, p.mode))
    rsid_note = ("fallback_position", f"no star-allele diplotype fits; called from position {position} alone (fallback rule)")
    return dips, score, [rsid_note] if dips else []


def _all_compatible(mask: np.ndarray, hap_bits: np.ndarray, block: int = 256) -> np.ndarray:
    """compat[u, a] = every position of pattern u is accepted by allele a."""
    out = np.empty((hap_bits.shape[0], mask.shape[0]), dtype=bool)
    for s in range(0, hap_bits.shape[0], block):
        hb = hap_bits[s : s + block]
        out[s : s + block] = ((mask[None, :, :] & hb[:, None, :]) != 0).all(axis=2)
    return out


@dataclass(frozen=True)
class _SampleGenotypes:
    """A chunk's genotypes at one gene's core positions, as the matcher read them."""

    codes: np.ndarray  # int16 [S, L, 2]
    missing: np.ndarray  # bool [S, L]: no allele at all
    novel_codes: np.ndarray  # int16 [S, L, 2]: the alleles no definition names (0 elsewhere)
    modes: np.ndarray  # int8 [S]
    status: np.ndarray  # int8 [S, L] genotype status codes


@dataclass(frozen=True)
class _GeneChunk:
    """One gene over a chunk of samples: what turning the solutions into calls rows reads."""

    gm: GenotypeMatrix
    model: GeneModel
    rules: GeneRules
    cols: np.ndarray  # int64 [L]: the matrix column of each of the gene's core positions
    chrom: str  # the KB's name of the gene's chromosome ("" without positions)
    g: _SampleGenotypes


#: reason codes under which a solver already says why it made no call
_EXPLAINED_NO_CALL = frozenset({"combination", "partial_genotype", "partial_allele", "unexplained_variant"})


def _to_frame(c: _GeneChunk, inverse: np.ndarray, solutions: list[Solution], unassessed: np.ndarray) -> pd.DataFrame:
    """The calls rows of every sample of the chunk (``inverse``: each sample's pattern;
    ``unassessed``: bool [pattern, allele], alleles a missing position hides)."""
    gm, model, g = c.gm, c.model, c.g
    # samples with the same genotypes and statuses get the same row: build it once
    group_key = np.concatenate(
        [inverse[:, None], g.codes.reshape(len(g.codes), -1).astype(np.int64), g.status.astype(np.int64)], axis=1
    )
    group_first, group_of = unique_rows(group_key)
    rows = []
    for s in group_first.tolist():
        u = int(inverse[s])
        hidden = [model.alleles[a] for a in np.flatnonzero(unassessed[u])]
        rows.append(_sample_call(c, s, solutions[u], hidden))
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows).take(group_of).reset_index(drop=True)
    frame.insert(0, "sample_id", list(gm.samples))
    return frame


def _sample_call(c: _GeneChunk, s: int, sol: Solution, hidden: list[str]) -> dict:
    """The calls row of sample ``s`` from its pattern's solution and its own genotypes."""
    gm, model, rules, cols, chrom, g = c.gm, c.model, c.rules, c.cols, c.chrom, c.g
    positions = model.positions
    notes = CallNotes()
    miss = positions[g.missing[s]].tolist()
    assumed = positions[g.status[s] == STATUS_ASSUMED_REFERENCE].tolist()
    novel = [gm.describe_variant(int(cols[j]), g.novel_codes[s, j]) for j in np.flatnonzero(g.novel_codes[s].any(axis=1))]
    facts = dict(missing_positions=miss, assumed_reference_positions=assumed, novel_variants=novel,
                 phased=bool(g.modes[s] == MODE_PHASED))  # fmt: skip
    for text in input_warnings(len(positions), assumed, [], []):
        notes.add("assumed_reference", text)
    covered = len(miss) < len(positions)
    missing_required = positions[np.isin(positions, rules.required_positions) & g.missing[s]].tolist()
    if g.modes[s] == MODE_HAPLOID and chrom not in _HAPLOID_CONTIGS and covered:
        notes.add(
            "haploid_autosome",
            f"haploid genotypes on autosome {chrom}: {model.gene} needs two alleles; "
            "check the ploidy the variant caller used for this sample",
        )
        return call_row(model.gene, notes, **facts)
    if not covered:
        notes.add(
            "gene_not_covered",
            f"no {model.gene} position present in the input (gene not covered; "
            "--assume-reference only fills genes the input has records near)",
        )
        return call_row(model.gene, notes, **facts)
    if missing_required:
        notes.add(
            "missing_required_position",
            "required position(s) missing: " + ", ".join(map(str, missing_required)) + "; no call is made without them",
        )
        return call_row(model.gene, notes, **facts)
    if miss:
        notes.add("missing_positions")
    if novel and rules.undocumented_as_reference:
        notes.add(
            "novel_variant",
            "allele(s) that no definition names: " + ", ".join(novel) + "; counted as "
            f"reference there, so that {model.gene}'s documented variants still give a result (a new allele is possible)",
        )
    elif novel:
        notes.add(
            "novel_variant",
            "allele(s) that no definition names, at defining positions: "
            + ", ".join(novel)
            + "; the sample matches neither the reference nor a defined allele there, so no call is made",
        )
        return _with_hidden(call_row(model.gene, notes, **facts), notes, hidden)
    notes.extend(sol.notes)
    dips = _reported_pairs(model, sol.dips)
    if not dips:
        if not (sol.codes & _EXPLAINED_NO_CALL):
            _explain_no_pair(c, s, notes)
        return _with_hidden(call_row(model.gene, notes, **facts), notes, hidden)
    if rules.copy_number_not_assessed:
        notes.add(
            "copy_number_not_assessed",
            "copy number not assessed: gene deletions, duplications and hybrids are "
            "invisible in a VCF of SNVs and indels; give an outside call from a copy-number caller to include them",
        )
    named = [format_diplotype(a, b) for a, b in dips]
    facts.update(score=sol.score, alleles_found=[model.report_name(a) for a in sol.found],
                 suballeles=_suballeles(model, sol.dips))  # fmt: skip
    if len(dips) > 1:
        if "partial_genotype" not in sol.codes:
            notes.add("tie", f"{len(dips)} diplotypes fit equally well: {', '.join(named)}; all are listed, none is picked")
        row = call_row(model.gene, notes, diplotype=" or ".join(named), alternatives=named, call_status=AMBIGUOUS, **facts)
    else:
        ((a1, a2),) = dips
        row = call_row(model.gene, notes, diplotype=sol.display or named[0], allele_1=a1, allele_2=a2,
                       call_status=CALLED, **facts)  # fmt: skip
    return _with_hidden(row, notes, hidden)


def _with_hidden(row: dict, notes: CallNotes, hidden: list[str]) -> dict:
    """``row`` with the alleles a missing position hid named (code and warning); an
    allele the call names anyway (inferred) is not hidden."""
    named = {row.get("allele_1"), row.get("allele_2"), *(a.removesuffix(" (homozygous)") for a in row["alleles_found"])}
    hidden = [a for a in hidden if a not in named]
    if hidden:
        notes.add("unassessed_alleles", "could not be assessed (a defining position is missing): " + "; ".join(hidden))
        row["reason_codes"], row["warnings"] = list(notes.codes), list(notes.warnings)
    return row


def _reported_pairs(model: GeneModel, dips) -> list[tuple[str, str | None]]:
    """The diplotypes under the names guidelines use, sorted; pairs that become equal
    (two suballeles of one star allele) are one."""
    out = []
    for a, b in dips:
        a, b = model.report_name(a), model.report_name(b)
        pair = (a, b) if b is None else tuple(sorted((a, b), key=allele_sort_key))
        if pair not in out:
            out.append(pair)
    return sorted(out, key=lambda p: (allele_sort_key(p[0]), allele_sort_key(p[1] or "")))


def _suballeles(model: GeneModel, dips) -> list[str]:
    """Definitions in ``dips`` reported under their star allele's name (``*45.001``)."""
    names = {a for pair in dips for a in pair if a and a != model.reference and model.report_name(a) != a}
    return sorted(names, key=allele_sort_key)


def _explain_no_pair(c: _GeneChunk, s: int, notes: CallNotes) -> None:
    """The no-call note when no pair of defined alleles fits, naming the alleles the
    variants would fit if absent positions carried theirs."""
    gm, model, cols, g = c.gm, c.model, c.cols, c.g
    carrying = np.flatnonzero((g.codes[s] > 0).any(axis=1)).tolist()
    variants = [gm.describe_variant(int(cols[j]), g.codes[s, j]) for j in carrying]
    notes.add(
        "no_matching_pair",
        "no pair of known alleles explains the genotype (possible new combination or "
        "sub-allele); non-reference alleles: " + (", ".join(variants) or "none"),
    )
    absent = set(np.flatnonzero(g.missing[s] | (g.status[s] == STATUS_ASSUMED_REFERENCE)).tolist())
    found = {j: {gm.allele_sequence(int(cols[j]), int(c)) for c in g.codes[s, j] if c > 0} for j in carrying}
    blocked = _alleles_blocked_by_absent_positions(model, found, absent)
    if blocked:
        notes.add(
            "no_matching_pair",
            "the variants found fit " + "; ".join(blocked) + " if the listed positions, "
            "absent from the input (assumed reference or missing), carry the allele's variants: a VCF with them may call it",
        )


def _alleles_blocked_by_absent_positions(model: GeneModel, found: dict[int, set], absent: set[int], most: int = 5) -> list[str]:
    """``*17 (also needs 40991388, 40991390)``: alleles whose every defining variant at a
    position the input has is found in the sample (``found``: position index -> sequences
    seen there), and which define more variants at positions the input lacked (``absent``:
    position indices). Most variants found first, at most ``most``."""
    ref = model.reference_bases
    hits = []
    for a, bases in enumerate(model.bases):
        variant_at = [
            j for j in np.flatnonzero(model.defined[a]).tolist() if ref is None or not definition_matches(bases[j], ref[j])
        ]
        present = [j for j in variant_at if j not in absent]
        needed = [int(model.positions[j]) for j in variant_at if j in absent]
        if present and needed and all(any(definition_matches(bases[j], q) for q in found.get(j, ())) for j in present):
            hits.append((-len(present), a, f"{model.alleles[a]} (also needs {', '.join(map(str, needed))})"))
    return [text for *_, text in sorted(hits)[:most]]
