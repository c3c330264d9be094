"""Page 2 of the patient report, "What to change, and why", and the genotype table.

For each gene result that changes a prescription: one plain-language line
(:func:`pgx.report_words.plain_phenotype`, from the CPIC vocabulary, never from guideline
sentences), then one line per drug with its advice in a few words built from the
structured fields, the sources' strengths and its reference numbers. Then the genotype
table: diplotype and variants found, the phenotype and what it means, the call status with
the reason for a no-call and the flags a reader must see.
"""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Flowable

from pgx import schema
from pgx.report_groups import _CHANGES, GROUPS, _cite, _Entry, _heading, _Refs
from pgx.report_layout import (
    _ACCENT,
    _FRAME_W,
    _INK,
    _MUTED,
    Block,
    Run,
    _as_list,
    _cell,
    _drawable,
    _fonts,
    _grid,
    _is_missing,
    _Rich,
    _RichStack,
    _runs,
    _text,
)
from pgx.report_words import plain_phenotype, result_label, short_advice, strengths
from pgx.schema import NO_RESULT


_CALL_STATUS_TEXT = {
    "called": "Called",
    "ambiguous": "Ambiguous",
    "no_call": "No call",
    "outside_call": "Outside call",
}

# --- genotype table -----------------------------------------------------------------


def _activity(value: object) -> str:
    if _is_missing(value):
        return "–"
    x = float(value)
    return f"{x:.1f}" if x.is_integer() else f"{x:g}"


def _call_status(c: object, width: float) -> Flowable:
    """Status, with the reason for a no-call and the count of tied diplotypes."""
    status = str(c.call_status)
    label = _CALL_STATUS_TEXT.get(status, status)
    codes = [str(x) for x in _as_list(getattr(c, "reason_codes", None))]
    flagged = [schema.CALL_REASONS[x] for x in codes if x in _FLAGGED_REASONS]
    if status == "no_call":
        note = "; ".join(map(str, _as_list(c.warnings))) or "no reason recorded"
    elif status == "ambiguous" and "partial_genotype" in codes:
        note = "a genotype with one allele missing fits several diplotypes; they agree on the phenotype"
    elif status == "ambiguous":
        note = f"{len(_as_list(c.alternatives))} diplotypes fit equally well; all are listed"
    elif status == "outside_call":
        note = "taken from an outside call, not from the VCF"
    else:
        note = ""
    blocks = [(label, "cell_b"), (note, "small")]
    if status in ("called", "ambiguous") and flagged:
        blocks.append(("Flagged: " + "; ".join(flagged), "small"))
    return _cell(blocks, width)


#: reason codes a called result carries that its reader must see beside it
_FLAGGED_REASONS = ("inferred_allele", "unassigned_function", "novel_variant", "unexplained_variant",
                    "assumed_trans", "priority_pick", "combination")  # fmt: skip


def _diplotype_cell(c: object, width: float) -> Flowable:
    """The diplotype (every tie when ambiguous), the pair the phenotype rests on when it is
    not the diplotype itself (phased DPYD haplotypes), and every variant found."""
    alternatives = _as_list(c.alternatives)
    if str(c.call_status) == "ambiguous" and alternatives:
        return _cell([str(a) for a in alternatives], width)
    blocks: list[Block] = [(_text(c.diplotype, "–"), "cell")]
    a1, a2 = _text(c.allele_1), _text(c.allele_2)
    if a1 and a2 and _text(c.diplotype) not in (f"{a1}/{a2}", f"{a2}/{a1}"):
        blocks.append((f"phenotype from {a1} / {a2}", "small"))
    found = [str(x) for x in _as_list(getattr(c, "alleles_found", None))]
    if len(found) > 1:
        blocks.append(("variants found: " + ", ".join(found), "small"))
    return _cell(blocks, width)


def _genotype_table(calls: list) -> list:
    title = _heading("Genotypes")
    if not calls:
        return [title, _cell("No genes were called for this sample.", _FRAME_W, "body")]
    widths = [20 * mm, 44 * mm, 0, 50 * mm]
    widths[2] = _FRAME_W - sum(widths)
    rows: list[list] = [["Gene", "Diplotype or allele", "Phenotype: what it means", "Call status"]]
    for c in calls:
        rows.append(
            [
                _cell(str(c.gene), widths[0], "cell_b"),
                _diplotype_cell(c, widths[1]),
                _phenotype_cell(c, widths[2]),
                _call_status(c, widths[3]),
            ]
        )
    return [title, _grid(rows, widths)]


def _phenotype_cell(c: object, width: float) -> Flowable:
    """The phenotype, what it means in plain words, and the activity score when the gene has one."""
    phenotype = _text(c.phenotype).strip()
    blocks: list[Block] = [(phenotype or "–", "cell")]
    if phenotype:
        blocks.append((plain_phenotype(str(c.gene), phenotype), "small"))
    if not _is_missing(c.activity_score):
        blocks.append((f"activity score {_activity(c.activity_score)}", "small"))
    return _cell(blocks, width)


# --- page 2: what to change, and why ----------------------------------------------


def _drug_line(drug: str, drug_entries: list[_Entry], refs: _Refs) -> _Rich:
    """One drug on page 2: its name, each advice in a few words (in its group's colour),
    who says so and how strongly, and its reference numbers."""
    f = _fonts()
    runs: list[Run] = [(drug, f.bold, 8.5, _INK)]
    for i, e in enumerate(drug_entries):
        phrases = list(dict.fromkeys(short_advice(r) for r in e.rows))
        runs.append((" \u2013" if i == 0 else ";", f.regular, 8.5, _INK))
        runs.append((" " + "; ".join(phrases), f.bold, 8, e.group.colour))
        runs.append((f" ({strengths(e.rows)})", f.regular, 7, _MUTED))
    runs.append((" " + _cite(refs.numbers(r for e in drug_entries for r in e.rows)), f.regular, 7, _MUTED))
    if not all(_drawable(t) for t, *_ in runs):  # a symbol the main font lacks: spelled out
        runs = [(_markup_free(t), font, size, colour) for t, font, size, colour in runs]
    return _Rich(runs, 10.2, indent=8)


def _markup_free(text: str) -> str:
    """Text with the characters the main font lacks replaced (``[U+XXXX]`` or an ASCII spelling)."""
    return "".join(chunk if font is None else "".join(f"[U+{ord(ch):04X}]" for ch in chunk) for font, chunk in _runs(text))


def _answer(entries: list[_Entry], refs: _Refs) -> list:
    """Page 2: for each gene result that changes a prescription, a plain-language line
    (what the result means), then one line per drug: the advice in a few words, its
    strength and one reference number. Drugs resting on several results are listed
    under all of them together."""
    title = _heading("What to change, and why")
    entries = [e for e in entries if e.group.key in _CHANGES]
    if not entries:
        return [title, _cell("No drug has a genotype-based recommendation that changes its use for this sample's "
                             "results.", _FRAME_W, "body")]  # fmt: skip
    per_drug: dict[str, list[_Entry]] = {}
    for e in entries:
        per_drug.setdefault(e.drug, []).append(e)
    by_results: dict[tuple[str, ...], list[str]] = {}
    for drug, drug_entries in per_drug.items():
        results = sorted({str(p) for e in drug_entries for r in e.rows for p in _as_list(r.phenotypes)
                          if ":" in str(p) and not str(p).endswith(f": {NO_RESULT}")})  # fmt: skip
        by_results.setdefault(tuple(results), []).append(drug)
    lines: list[_Rich] = []
    story: list = [title, _cell("Each gene result that changes a prescription, what it means, and the drugs it "
                                "changes: the advice in a few words (the guideline's strength) [reference]. The "
                                "appendix gives each recommendation in full.", _FRAME_W, "note")]  # fmt: skip
    f = _fonts()
    rank = {g.key: i for i, g in enumerate(GROUPS)}
    urgency = {drug: min(rank[e.group.key] for e in drug_entries) for drug, drug_entries in per_drug.items()}
    # the most urgent result first (an "avoid" before a dose change), then the one with most drugs
    for results, drugs in sorted(by_results.items(), key=lambda kv: (min(urgency[d] for d in kv[1]), -len(kv[1]), kv[0])):
        label = " and ".join(result_label(x) for x in results) or "Gene results not recorded"
        meanings = list(dict.fromkeys(m for x in results if (m := plain_phenotype(*(y.strip() for y in x.split(":", 1))))))
        head: list[Run] = [(label, f.bold, 9, _ACCENT)]
        if meanings:
            head.append((": " + "; ".join(meanings), f.regular, 8.5, _ACCENT))
        head.append((f". {len(drugs)} drug{'s' if len(drugs) > 1 else ''}:", f.regular, 8.5, _ACCENT))
        lines.append(_Rich(head if all(_drawable(t) for t, *_ in head) else
                           [(_markup_free(t), *rest) for t, *rest in head], 11, space_before=4))  # fmt: skip
        lines += [_drug_line(drug, per_drug[drug], refs) for drug in drugs]
    return [*story, _RichStack(lines)]
