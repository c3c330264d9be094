"""Rows of the calls table as the callers build them (``match``, ``mito``, ``outside``).

A call carries its reasons twice: as codes (``reason_codes``, the keys of
:data:`pgx.schema.CALL_REASONS`) for programs, QC and reports to group by, and as prose
(``warnings``) for people. :class:`CallNotes` fills both from one place, so they never
disagree; :func:`call_row` gives every column a caller knows its default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pgx.schema import CALL_REASONS, NO_CALL


@dataclass
class CallNotes:
    """The reason codes and warnings of one call, in the order they were added."""

    codes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, code: str, text: str | None = None) -> None:
        """Record reason ``code`` (once) and its explanation ``text`` (when given)."""
        if code not in CALL_REASONS:
            raise ValueError(f"unknown call reason code {code!r}")
        if code not in self.codes:
            self.codes.append(code)
        if text:
            self.warnings.append(text)

    def say(self, text: str) -> None:
        """Add an explanation that needs no code of its own (detail of the call)."""
        self.warnings.append(text)

    def extend(self, notes: "CallNotes | tuple[tuple[str, str | None], ...]") -> None:
        """Add another set of notes (a :class:`CallNotes` or ``(code, text)`` pairs)."""
        if isinstance(notes, CallNotes):
            for code in notes.codes:
                self.add(code)
            self.warnings.extend(notes.warnings)
            return
        for code, text in notes:
            self.add(code, text)


def call_row(gene: str, notes: CallNotes, **fields) -> dict:
    """One calls-table row (without sample_id and the phenotype columns): a no-call unless
    ``fields`` say otherwise; list columns default to empty lists."""
    row = {
        "gene": gene,
        "diplotype": None,
        "allele_1": None,
        "allele_2": None,
        "score": None,
        "alternatives": [],
        "call_status": NO_CALL,
        "phased": None,
        "missing_positions": [],
        "assumed_reference_positions": [],
        "novel_variants": [],
        "alleles_found": [],
        "suballeles": [],
    }
    unknown = set(fields) - set(row)
    if unknown:
        raise ValueError(f"unknown calls columns {sorted(unknown)}")
    row.update(fields)
    row["reason_codes"] = list(notes.codes)
    row["warnings"] = list(notes.warnings)
    return row


@dataclass(frozen=True)
class Solution:
    """What a caller decided for one distinct genotype pattern.

    ``dips``: the diplotypes the phenotype rests on (definition names; several = a tie;
    none = no call). ``notes``: ``(reason code, text)`` pairs. ``display``: the diplotype
    as reported when it is not just the pair (phased haplotypes of a lowest-function gene,
    ``c.61C>T/[c.61C>T + c.313G>A]``). ``found``: every variant allele found
    (lowest-function genes).
    """

    dips: tuple[tuple[str, str | None], ...]
    score: int
    notes: tuple[tuple[str, str | None], ...] = ()
    display: str | None = None
    found: tuple[str, ...] = ()

    @property
    def codes(self) -> set[str]:
        return {code for code, _ in self.notes}
