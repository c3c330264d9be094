"""Indels and repeats written in another equivalent form.

An insertion or deletion inside a repeat can be written at several positions: left-aligned
at the padding base (as the knowledge base and most callers write it), right-aligned at the
end of the repeat, anywhere in between, or with extra bases shared by REF and ALT before or
after the event (some callers emit these). All of them describe the same haplotype. The
UGT1A1 promoter TA repeat is the best known case: ``*28`` (CPIC ``TA(8)``) is the KB's
``CAT>CATAT`` at chr2:233760233, and is equally ``A>ATA`` at 233760248 (the last base of
the repeat) or ``T>TAT`` at 233760235.

There is no reference FASTA at run time, so equivalence is decided from the reference bases
that are *known*:

* the KB REF of every locus (``loci.ref``);
* ``loci.ref_context``: the reference bases from the locus POS over the whole span its
  indel can slide in, derived by the KB build from the locus's HGVS name (which follows the
  3' rule) and its left-aligned VCF alleles (:func:`context_from_hgvs`);
* the REF bases of the record itself.

A record allele is normalised (:func:`normalize`: shared trailing bases trimmed, the event
shifted left while the base before it allows, shared leading bases trimmed) reading only
known bases. It is that KB allele when its normalised form equals the KB allele's; it is
a (novel) allele of the KB locus when it normalises to the locus POS; otherwise it is a
different variant. When a base the normalisation needs is not known, equivalence cannot be
proven either way: the allele is *unresolved* and the reader reports it instead of guessing.
A record whose REF disagrees with a known reference base is not placed at all.

This module is pure (no I/O); :mod:`pgx.vcf` calls :meth:`ShiftIndex.place`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: a record may start this many bases before the span of a KB indel and still be read as a
#: form of it (extra leading bases shared by REF and ALT)
MAX_LEFT_PADDING = 50

#: a KB indel whose span is not known (no ``ref_context``) may have been written up to this
#: many bases right of its REF; such a record is reported when it cannot be placed
MAX_RIGHT_SHIFT = 50

#: outcomes of placing one allele of a record at a KB locus
REF, AT, ELSEWHERE, UNRESOLVED = "ref", "at", "elsewhere", "unresolved"

_NO_VARIANT = "no variant"
_NOT_HERE = "not here"


@dataclass(frozen=True)
class Variant:
    """A VCF-style variant: 1-based POS, REF and ALT."""

    pos: int
    ref: str
    alt: str


# --- normalisation ---------------------------------------------------------------------


def normalize(pos: int, ref: str, alt: str, base: Callable[[int], str | None]) -> Variant | str | None:
    """The left-aligned, trimmed form of ``ref>alt`` at ``pos``.

    ``base(p)`` is the reference base at ``p`` or None when it is not known. Returns
    ``"no variant"`` when REF and ALT are the same sequence, and None when shifting left
    needs a base that is not known (equivalence cannot be decided).
    """
    ref, alt = ref.upper(), alt.upper()
    if ref == alt:
        return _NO_VARIANT
    for _ in range(100_000):  # bounded: each extension consumes a known base
        if ref[-1] != alt[-1]:
            break
        if len(ref) > 1 and len(alt) > 1:
            ref, alt = ref[:-1], alt[:-1]
            continue
        b = base(pos - 1)
        if not b or b == "N":
            return None
        ref, alt, pos = b + ref, b + alt, pos - 1
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return Variant(pos, ref, alt)


def is_indel_like(ref: str, alts: Sequence[str]) -> bool:
    """Could this record be another form of an indel (not a plain SNV)?"""
    seqs = [a for a in alts if a not in ("*", ".", "")]
    return bool(seqs) and (len(ref) > 1 or any(len(a) != len(ref) for a in seqs))


def _core_event(ref: str, alt: str) -> tuple[str, str] | None:
    """("ins"|"del", bases) of a pure indel once shared leading/trailing bases are
    trimmed; None for anything else."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0]:
        ref, alt = ref[1:], alt[1:]
    if ref and not alt:
        return ("del", ref)
    if alt and not ref:
        return ("ins", alt)
    return None


# --- KB build: the reference span of an indel from its HGVS name ------------------------

_REPEAT = re.compile(r"^g\.(\d+)([ACGT]+)\[(\d+)\]$")
_DUP = re.compile(r"^g\.(\d+)(?:_(\d+))?dup[ACGT]*$")
_DEL = re.compile(r"^g\.(\d+)(?:_(\d+))?del([ACGT]*)$")
_INS = re.compile(r"^g\.(\d+)_(\d+)ins([ACGT]+)$")


class ContextError(ValueError):
    """An HGVS name and the VCF alleles of one locus contradict each other."""


def context_from_hgvs(pos: int, ref: str, alts: Sequence[str], hgvs: str) -> str:
    """Reference bases from ``pos`` over the span an indel of this locus can slide in.

    The VCF alleles are left-aligned (the event starts right after the padding base); the
    HGVS name is 3'-aligned, so the bases between the two placements repeat the inserted or
    deleted sequence. Forms read: ``g.A_Bdel``/``g.Adel``, ``g.A_Bdup``/``g.Adup``,
    ``g.A_BinsSEQ`` and repeat counts ``g.AUNIT[n]`` (``;``-separated, one per allele; the
    reference count is the one that every listed count and every ALT length agrees with).
    Returns REF itself when the name shows the indel cannot slide, and "" when the name
    says nothing about the span (SNVs, other forms): only a non-empty context is a
    complete span. Raises
    :class:`ContextError` when the derived bases contradict REF or each other.
    """
    ref = ref.upper()
    bases = {pos + i: b for i, b in enumerate(ref)}
    n_ref = len(bases)
    events = [_event(pos, ref, a.upper()) for a in alts]
    repeats = []
    for term in (t.strip() for t in (hgvs or "").split(";")):
        if m := _REPEAT.match(term):
            repeats.append((int(m.group(1)), m.group(2), int(m.group(3))))
        elif m := _DUP.match(term):
            _fill_shift(bases, events, "ins", int(m.group(1)), int(m.group(2) or m.group(1)), term)
        elif m := _DEL.match(term):
            a, b = int(m.group(1)), int(m.group(2) or m.group(1))
            _fill_shift(bases, events, "del", a, b, term)
            if m.group(3) and len(m.group(3)) == b - a + 1:
                _fill(bases, a, m.group(3), term)
        elif m := _INS.match(term):
            _fill_insertion(bases, events, int(m.group(1)), m.group(3), term)
    if repeats:
        _fill_repeat(bases, events, repeats, len(alts))
    end = pos
    while end + 1 in bases:
        end += 1
    context = "".join(bases[p] for p in range(pos, end + 1))
    return context if len(bases) > n_ref or bases.get(_DERIVED) else ""


def _event(pos: int, ref: str, alt: str) -> tuple[str, int, str] | None:
    """(kind, last padding position, inserted/deleted sequence) of a pure indel, or None."""
    if len(alt) < len(ref) and ref.startswith(alt) and alt:
        return ("del", pos + len(alt) - 1, ref[len(alt) :])
    if len(alt) > len(ref) and alt.startswith(ref):
        return ("ins", pos + len(ref) - 1, alt[len(ref) :])
    return None


def _fill_shift(bases: dict[int, str], events, kind: str, a: int, b: int, term: str) -> None:
    """The 3'-most copy of an event spans a..b: the bases from the left-aligned event's
    start to b repeat its sequence."""
    k = b - a + 1
    hits = [e for e in events if e and e[0] == kind and len(e[2]) == k]
    if len(hits) != 1:
        return  # no single ALT this term describes: nothing is derived from it
    _, pad, seq = hits[0]
    if a < pad + 1:
        raise ContextError(f"{term} lies left of the VCF allele's event (padding base {pad})")
    _fill(bases, pad + 1, "".join(seq[i % k] for i in range(b - pad)), term)


def _fill_insertion(bases: dict[int, str], events, a: int, seq: str, term: str) -> None:
    """``g.A_(A+1)insSEQ``: the 3'-most insertion follows A, so the bases from the
    left-aligned insertion point to A repeat the inserted sequence."""
    hits = [e for e in events if e and e[0] == "ins" and len(e[2]) == len(seq)]
    if len(hits) != 1:
        return
    _, pad, ins = hits[0]
    k, shift = len(ins), a - pad
    if shift < 0 or ins[shift % k :] + ins[: shift % k] != seq:
        raise ContextError(f"{term} is not the VCF insertion of {ins} after {pad} moved right")
    _fill(bases, pad + 1, "".join(ins[i % k] for i in range(shift)), term)


def _fill_repeat(bases: dict[int, str], events, repeats: list[tuple[int, str, int]], n_alts: int) -> None:
    """``g.AUNIT[n]`` terms: UNIT repeats m times from A in the reference. With one term
    per ALT (in ALT order) m is each count minus that ALT's change; otherwise the terms
    list the reference count too, and m is the one count that makes every other count an
    ALT's change. Nothing is derived when m is not determined."""
    if len({(a, u) for a, u, _ in repeats}) != 1:
        return
    a, unit, _ = repeats[0]
    u = len(unit)

    def step(e) -> int | None:
        if not e or len(e[2]) % u:
            return None
        return len(e[2]) // u if e[0] == "ins" else -(len(e[2]) // u)

    steps = [step(e) for e in events]
    counts = [n for _, _, n in repeats]
    if len(counts) == n_alts:
        fits = {n - s for n, s in zip(counts, steps) if s is not None} if None not in steps else set()
    else:
        known = {0} | {s for s in steps if s is not None}
        fits = {m for m in range(1, max(counts) + max(abs(s) for s in known) + 1) if all(n - m in known for n in counts)}
    if len(fits) == 1 and (m := fits.pop()) >= 1:
        _fill(bases, a, unit * m, f"g.{a}{unit}[{m}]")


_DERIVED = -1  # key marking that some HGVS term described the span (even an empty one)


def _fill(bases: dict[int, str], start: int, seq: str, term: str) -> None:
    bases[_DERIVED] = "yes"
    for i, b in enumerate(seq):
        if bases.setdefault(start + i, b) != b:
            raise ContextError(f"{term} puts {b} at {start + i} where the alleles say {bases[start + i]}")


# --- run time: records near KB indels ---------------------------------------------------


@dataclass
class Placement:
    """What one record says about the KB indel loci whose span it touches.

    ``loci[j]`` has one outcome per VCF allele (index 0 is REF): ``("ref",)``,
    ``("at", ref, alt)`` (the allele in locus ``j``'s frame: its POS is the locus POS),
    ``("elsewhere",)`` (a different variant) or ``("unresolved",)``. ``conflict`` says
    why the record was not placed (its REF disagrees with a known base); ``unresolved``
    lists the ALTs whose equivalence could not be decided.
    """

    loci: dict[int, list[tuple]] = field(default_factory=dict)
    conflict: str | None = None
    unresolved: list[str] = field(default_factory=list)
    placed: list[tuple[str, int]] = field(default_factory=list)  # (ALT, locus) matched


@dataclass
class ShiftIndex:
    """Known reference bases and the spans of the KB indel loci, per canonical contig."""

    pos: list[int]
    refs: list[str]
    alts: list[list[str]]
    known: dict[str, dict[int, str]]  # contig -> position -> base ("" where KB facts disagree)
    zones: dict[str, list[tuple[int, int, int]]]  # contig -> sorted (start, end, locus)
    windows: dict[str, list[tuple[int, int]]]  # contig -> merged (start - padding, end)
    _cache: dict = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        canon: Sequence[str],
        pos: Sequence[int],
        refs: Sequence[str],
        alts: Sequence[list[str]],
        contexts: Sequence[str],
    ) -> "ShiftIndex":
        known: dict[str, dict[int, str]] = {}
        zones: dict[str, list[tuple[int, int, int]]] = {}
        for j, (c, p, r, a, ctx) in enumerate(zip(canon, pos, refs, alts, contexts)):
            seq = ctx if ctx and ctx.upper().startswith(r) else r
            k = known.setdefault(c, {})
            for i, b in enumerate(seq.upper()):
                if k.setdefault(p + i, b) != b:
                    k[p + i] = ""
            if any(len(x) != len(r) for x in a):
                # a known span is complete (the HGVS 3' position ends it); otherwise look further right
                end = p + len(seq) - 1 + (0 if seq is ctx else MAX_RIGHT_SHIFT)
                zones.setdefault(c, []).append((p, end, j))
        windows = {}
        for c, zs in zones.items():
            zs.sort()
            merged: list[list[int]] = []
            for s, e, _ in zs:
                s = max(1, s - MAX_LEFT_PADDING)
                if merged and s <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], e)
                else:
                    merged.append([s, e])
            windows[c] = [(s, e) for s, e in merged]
        return cls(list(pos), list(refs), [list(a) for a in alts], known, zones, windows)

    def near(self, canon: str, pos: int) -> bool:
        """Could a record starting at ``pos`` be a form of a KB indel? (cheap pre-check)"""
        ws = self.windows.get(canon)
        if not ws:
            return False
        i = bisect.bisect_right(ws, (pos, float("inf"))) - 1
        return i >= 0 and ws[i][0] <= pos <= ws[i][1]

    def regions(self, canon: str) -> list[tuple[int, int]]:
        """Query regions covering every KB indel span (for indexed reading)."""
        return list(self.windows.get(canon, []))

    def place(self, canon: str, pos: int, ref: str, alts: Sequence[str]) -> Placement | None:
        """How a record relates to the KB indel loci it touches (None: to none of them).

        Loci at the record's own POS are left out: the reader matches those directly.
        """
        key = (canon, pos, ref, tuple(alts))
        if key not in self._cache:
            self._cache[key] = self._place(canon, pos, ref.upper(), [a.upper() for a in alts])
        return self._cache[key]

    def _place(self, canon: str, pos: int, ref: str, alts: list[str]) -> Placement | None:
        if not is_indel_like(ref, alts) or any(a.startswith("<") or "[" in a or "]" in a for a in alts):
            return None
        end = pos + len(ref) - 1
        loci = [j for s, e, j in self.zones.get(canon, []) if s <= end and pos <= e
                and pos >= s - MAX_LEFT_PADDING and self.pos[j] != pos]  # fmt: skip
        if not loci:
            return None
        known = self.known.get(canon, {})
        out = Placement()
        clash = [(pos + i, b, known[pos + i]) for i, b in enumerate(ref) if known.get(pos + i) and b not in ("N", known[pos + i])]
        if clash:
            p, b, k = clash[0]
            out.conflict = f"REF {ref} has {b} at {p} where the known reference has {k}"
            out.loci = {j: [(UNRESOLVED,)] * (1 + len(alts)) for j in loci}
            return out

        def base(p: int) -> str | None:
            return ref[p - pos] if pos <= p <= end else known.get(p) or None

        forms = [normalize(pos, ref, a, base) if a not in ("*", ".") else _NO_VARIANT for a in alts]
        for j in loci:
            outcomes: list[tuple] = [(REF,)]
            for a, form in zip(alts, forms):
                if form is None and not self._could_be(j, ref, a):
                    form = _NOT_HERE  # undecided, but its event is none of this locus's indels
                outcomes.append(self._outcome(known, j, form))
                if form is None and a not in out.unresolved:
                    out.unresolved.append(a)
                if outcomes[-1][0] == AT:
                    out.placed.append((a, j))
            if any(o[0] in (AT, UNRESOLVED) for o in outcomes):
                out.loci[j] = outcomes
        return out if out.loci else None

    def _could_be(self, j: int, ref: str, alt: str) -> bool:
        """Can ``ref>alt`` be one of locus ``j``'s indels moved along a repeat? Moving an
        indel keeps its length change and turns its inserted/deleted bases into a rotation."""
        mine = _core_event(ref, alt)
        if mine is None:
            return False
        for a in self.alts[j]:
            theirs = _core_event(self.refs[j], a)
            if theirs and theirs[0] == mine[0] and len(theirs[1]) == len(mine[1]) and mine[1] in theirs[1] * 2:
                return True
        return False

    def _outcome(self, known: dict[int, str], j: int, form: Variant | str | None) -> tuple:
        if form is None:
            return (UNRESOLVED,)
        if form == _NOT_HERE:
            return (ELSEWHERE,)
        if form == _NO_VARIANT:
            return (REF,)
        p, r = self.pos[j], self.refs[j]
        for a in self.alts[j]:
            if normalize(p, r, a, lambda q: known.get(q) or None) == form:
                return (AT, r, a)
        if form.pos == p:
            return (AT, form.ref, form.alt)
        return (ELSEWHERE,)
