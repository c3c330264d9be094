"""One PDF report per sample: the clinical answer on two pages, every detail after it.

Page 1 answers "which of this patient's drugs need attention?": the sample, batch and
knowledge-base version, then every drug grouped by consequence (``group_key`` puts each
recommendation row in one group: its action's group from ``ACTION_GROUPS``, except that a
row without a recommendation that rests on a gene with no result is "not assessed"; each
group has a colour *and* a printed label, so the page survives black-and-white printing;
:func:`pgx.placement.place_drug` lists a drug once). A summary too long for page 1 is cut
in its longest lists, each with the count left out and where they are.

Page 2, "What to change, and why": for each gene result that changes a prescription, one
plain-language line (:func:`plain_phenotype`: what the phenotype means, from the CPIC
vocabulary, never from guideline sentences), then one line per drug: its advice in a few
words built from the structured fields (condition, action, dose factor or amount, a dose
limit, alternatives), the sources' strengths and its reference numbers. Then the genotype
table (each phenotype with its meaning) and the numbered references: each guideline once.

The appendix (left out with ``appendix=False``) starts on a new page: the recommendations
in full, the drugs the result does not change (grouped by the gene results they rest on),
what could not be called (one line per gene: counts of absent positions, which the calls
table lists), methods, versions and checksums, limitations. Every page has a footer with
the sample ID and "page X of Y". ``paper`` is A4 or US Letter; the text block is the same.

Fonts, safe text and the fast flowables are in :mod:`pgx.report_layout`. Output is
deterministic: reportlab's invariant mode, no clock. The PDF creation date and the printed
report date come from ``provenance["created"]`` (ISO 8601) when present. The file is built
in memory, written to a hidden temporary name in the target directory and renamed, so a
killed run leaves no half-written report.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import ActionFlowable, Flowable, PageBreak, SimpleDocTemplate, Spacer, Table, TableStyle

from pgx import __version__, palette, schema
from pgx.outputs import atomic_path
from pgx.placement import CONDITION_COLUMNS, place_drug
from pgx.schema import NO_RESULT
from pgx.report_layout import (
    _ACCENT,
    _BOTTOM_MARGIN,
    _CELL_PAD,
    _FRAME_PAD,
    _FRAME_W,
    _INK,
    _MUTED,
    _RULE,
    _TOP_MARGIN,
    PAPERS,
    Block,
    Run,
    _as_list,
    _cell,
    _drawable,
    _FooterCanvas,
    _fonts,
    _Grid,
    _grid,
    _is_missing,
    _Lines,
    _markup,
    _Para,
    _para,
    _pdf_date,
    _records,
    _Rich,
    _runs,
    _side_margin,
    _styles,
    _text,
)
from pgx.report_words import ACTION_TEXT, plain_phenotype, result_label, short_advice, strength, strengths

__all__ = ["ACTION_GROUPS", "GROUPS", "PAPERS", "group_key", "no_result_genes", "plain_phenotype", "render_report",
           "render_reports"]

# --- consequence groups -------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One consequence group of the summary: label printed on the page and its colours."""

    key: str
    label: str
    colour: colors.Color  # badge background
    tint: colors.Color  # row background next to the badge


#: the summary's groups, most urgent first
GROUPS: tuple[Group, ...] = (
    Group("avoid", "Avoid", colors.HexColor(palette.RED), colors.HexColor("#FBE9E7")),
    Group("alternative", "Use an alternative", colors.HexColor(palette.ORANGE), colors.HexColor("#FFF0E0")),
    Group("adjust", "Adjust the dose", colors.HexColor(palette.AMBER), colors.HexColor("#FFF6D6")),
    # the advice turns on a condition the report cannot know (indication, age, risk factors)
    Group("depends", "Depends on indication or situation", colors.HexColor("#8E3B46"), colors.HexColor("#F8E8EA")),
    Group("monitor", "Monitor", colors.HexColor(palette.BLUE), colors.HexColor("#E6EFFA")),
    # the guideline asks for more information first (enzyme activity, clinical findings, family history)
    Group("assess", "Assess first", colors.HexColor("#00696B"), colors.HexColor("#E0F2F1")),
    # a gene the drug needs has no result: its risk is unknown, not absent
    Group("untested", "Not assessed: a gene it needs has no result", colors.HexColor("#6A1B9A"),
          colors.HexColor("#F3E8F8")),
    Group("usual", "Use as usual", colors.HexColor(palette.GREEN), colors.HexColor("#E9F5EA")),
    Group("none", "No guideline for this result", colors.HexColor(palette.GREY), colors.HexColor("#F1F3F4")),
)
_GROUP_BY_KEY = {g.key: g for g in GROUPS}

#: schema.ACTIONS -> group key; the single place where actions meet consequences
#: (``group_key`` moves a "none" row that rests on a gene with no result to "untested")
ACTION_GROUPS: dict[str, str] = {
    "avoid": "avoid",
    "use_alternative": "alternative",
    "consider_alternative": "alternative",
    "reduce_dose": "adjust",
    "increase_dose": "adjust",
    "monitor": "monitor",
    "assess_further": "assess",
    "standard_dose": "usual",
    "no_recommendation": "none",  # the guideline has the result but recommends nothing
    "no_guideline_match": "none",  # the guideline has no row for the result
}



def no_result_genes(r: object) -> list[str]:
    """The genes a recommendation row needs that had no result (not tested or not called):
    those its ``phenotypes`` give as ``GENE: No Result`` or its ``lookup_key`` as
    ``GENE=No Result``."""
    phenotypes, key = r.phenotypes, r.lookup_key
    if type(phenotypes) is tuple and (key is None or type(key) is str):  # rows of _records: hashable
        return list(_no_result_genes(phenotypes, key))
    return list(_no_result_genes(tuple(_as_list(phenotypes)), _text(key)))


@functools.lru_cache(maxsize=1 << 12)
def _no_result_genes(phenotypes: tuple, lookup_key: str | None) -> tuple[str, ...]:
    shown = [str(p).partition(":")[0] for p in phenotypes if str(p).endswith(f": {NO_RESULT}")]
    keyed = [k.partition("=")[0] for k in _text(lookup_key).split(";") if k.endswith(f"={NO_RESULT}")]
    return tuple(dict.fromkeys(gene.strip() for gene in shown + keyed if gene.strip()))


def group_key(r: object) -> str:
    """The consequence group of one recommendation row: its action's group, except that a
    row that recommends nothing (no recommendation, no guideline row) because a gene it
    needs has no result is "untested": its pharmacogenetic risk is unknown, not absent. A
    real recommendation stays in its group even when one of its genes had no result."""
    group = ACTION_GROUPS[str(r.action)]
    return "untested" if group == "none" and no_result_genes(r) else group


_CALL_STATUS_TEXT = {
    "called": "Called",
    "ambiguous": "Ambiguous",
    "no_call": "No call",
    "outside_call": "Outside call",
}

# --- provenance helpers ---------------------------------------------------------------

_KB_DATE = re.compile(r"^(\d{4})[.-](\d{2})[.-](\d{2})")
_ASSUME_REF = re.compile(r"assume[_-]?reference\W{0,3}[:=]\W{0,3}(true|yes|1|on)\b", re.IGNORECASE)
_PROVENANCE_LABELS = {  # printed in this order, then any other key
    "batch": "Batch",
    "pipeline_version": "Pipeline version",
    "kb_version": "Knowledge-base version",
    "kb_sources": "Knowledge-base sources",
    "genome_build": "Genome build",
    "n_samples": "Samples in batch",
    "input_files": "Input files",
    "input_sha256": "Input SHA-256",
    "options": "Options",
    "created": "Created",
}


def _provenance_rows(provenance: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, value) rows for the versions table.

    Takes plain keys (``kb_sources``, ``input_sha256``, ``options``) and the pipeline's
    prefixed ones: ``kb_source:<path>`` rows become one summary row (their checksums stay
    in the provenance table), ``input_sha256:<file>`` one row per file, and
    ``option:<name>`` one options row.
    """
    plain = {k: v for k, v in provenance.items() if ":" not in k}
    prefixed: dict[str, list[tuple[str, str]]] = {}
    for key, value in provenance.items():
        if ":" in key:
            prefix, _, rest = key.partition(":")
            prefixed.setdefault(prefix, []).append((rest, value))
    rows = [(label, plain.pop(k)) for k, label in _PROVENANCE_LABELS.items() if k in plain]
    if "kb_source" in prefixed:
        sources = prefixed.pop("kb_source")
        versions = sorted({v.split(" sha256:")[0].strip() for _, v in sources} - {"", "None"})
        text = f"{len(sources)} source files" + (f"; data versions {', '.join(versions)}" if versions else "")
        rows.append(("Knowledge-base sources", text + "; their checksums are in the provenance table"))
    rows += [("Input SHA-256", f"{name}: {value}") for name, value in sorted(prefixed.pop("input_sha256", []))]
    if "option" in prefixed:
        rows.append(("Options", ", ".join(f"{k}={v}" for k, v in sorted(prefixed.pop("option")))))
    rows += [(k.replace("_", " ").capitalize(), v) for k, v in sorted(plain.items())]
    rows += [(f"{p.replace('_', ' ').capitalize()}: {k}", v) for p, kv in sorted(prefixed.items()) for k, v in kv]
    return rows


def _kb_date(provenance: Mapping[str, str]) -> str:
    """The knowledge base's data date: ``kb_date`` if given, else read off ``kb_version``."""
    if provenance.get("kb_date"):
        return provenance["kb_date"]
    m = _KB_DATE.match(provenance.get("kb_version", ""))
    return f"{m[1]}-{m[2]}-{m[3]}" if m else "date not recorded"


def _created(provenance: Mapping[str, str]) -> datetime | None:
    try:
        when = datetime.fromisoformat(provenance.get("created", "").strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _assume_reference(provenance: Mapping[str, str]) -> bool:
    """Whether the run filled absent positions as reference (``options`` text or ``option:`` key)."""
    if provenance.get("option:assume_reference", "").strip().lower() in ("true", "1", "yes"):
        return True
    return bool(_ASSUME_REF.search(provenance.get("options", "")))


# --- page 1: header and summary -----------------------------------------------------


def _header(sample_id: str, batch: str, provenance: Mapping[str, str], appendix: bool = True) -> list:
    created = _created(provenance)
    kb = provenance.get("kb_version") or "not recorded"

    def field(label: str, value: str) -> list[_Para]:
        return [_para(label, "meta_k"), _para(value, "meta_v")]

    if created:
        corner = ("Report date", created.strftime("%Y-%m-%d"))
    else:  # reruns give identical files, so without a recorded date there is none to print
        corner = ("Pipeline", f"pgx {_markup(provenance.get('pipeline_version') or __version__)}")
    kb_text = f"{_markup(kb)} <font size=8>(data of {_markup(_kb_date(provenance))})</font>"
    meta = Table(
        [
            [field("Sample ID", _markup(sample_id)), field("Batch", _markup(batch))],
            [field("Knowledge base", kb_text), field(*corner)],
        ],  # fmt: skip
        colWidths=[_FRAME_W * 0.62, _FRAME_W * 0.38],
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                ("LINEABOVE", (0, 0), (-1, 0), 1.5, _ACCENT),
                ("TOPPADDING", (0, 0), (-1, 0), 6),
            ]
        ),
    )
    intro = (
        "Drugs are grouped by what the guidelines recommend for this patient's genotype. A drug "
        "with several recommendations (CPIC and DPWG, several populations) is listed under the "
        "advice they share, with what differs noted; advice that turns on the indication or "
        "another condition the report cannot know is listed as such. Page 2 says what to change and "
        "why, with the genotypes and references"
        + ("; the appendix holds the details. " if appendix else ". ")
        + "This report supports, and does not replace, clinical judgement."
    )
    return [_para("Pharmacogenomic test report", "title"), Spacer(0, 4), meta, _para(intro, "note")]


def _badges(rows: Iterable[tuple[int, Group]]) -> list[tuple]:
    """Table commands colouring column 0 of each (row, group) with the group's colour."""
    return [("BACKGROUND", (0, row), (0, row), group.colour) for row, group in rows]


def _drugs_by_group(recs: list) -> dict[str, dict[str, tuple[list[str], str]]]:
    """group key -> drug -> (genes its rows rest on, note). Each drug is listed once, where
    :func:`pgx.placement.place_drug` puts it: the advice its sources share, ``depends`` when
    the advice turns on a condition the report cannot know, with a note naming what differs.
    For "untested" the genes are the ones with no result; elsewhere a gene without a result
    is marked (:func:`_gene_label`)."""
    order = [g.key for g in GROUPS]
    per_drug: dict[str, list] = {}
    for r in recs:
        per_drug.setdefault(str(r.drug), []).append(r)
    by_group: dict[str, dict[str, tuple[list[str], str]]] = {g.key: {} for g in GROUPS}
    for drug, rows in per_drug.items():
        place = place_drug(rows, group_key, lambda a: ACTION_GROUPS.get(a, "none"), order)
        genes: list[str] = []
        for r in rows:
            missing = no_result_genes(r)
            shown = missing if place.group == "untested" else [_gene_label(str(g), missing) for g in _as_list(r.genes)]
            genes += [str(g) for g in shown if str(g) not in genes]
        by_group[place.group][drug] = (genes, place.note)
    rank = {name: i for i, name in enumerate(str(r.drug) for r in recs)}  # recs are sorted: urgency, then name
    return {k: dict(sorted(v.items(), key=lambda kv: rank[kv[0]])) for k, v in by_group.items()}


def _gene_label(gene: str, missing: list[str]) -> str:
    """A gene as the summary names it next to a drug: ``HLA-B: no result`` when the row's
    advice was given without that gene's result (CPIC has rows for that), so "use as
    usual" never hides an untested gene."""
    return f"{gene}: no result" if gene in missing else gene


_SUMMARY_BADGE_W = 38 * mm
_SUMMARY_PAD = 4 + 5  # a summary row's top and bottom padding
_LESS_URGENT = ("usual", "none", "untested")  # cut first when the summary is too long for page 1


def _drug_runs(drug: str, genes: list[str], note: str, last: bool) -> list[Run]:
    """The runs of one drug in the summary: bold name, genes in small grey, a note in small type."""
    f, st = _fonts(), _styles()
    runs: list[Run] = [(f" {drug}", f.bold, 9, st["body"].textColor)]
    if genes:
        runs.append((f" ({', '.join(genes)})", f.regular, 7, _MUTED))
    if note:
        runs.append((f" {note}", f.regular, 7, st["body"].textColor))
    if not last:
        text, *rest = runs[-1]
        runs[-1] = (text + ",", *rest)
    return runs


def _summary_cell(group: Group, drugs: dict[str, tuple[list[str], str]], shown: int | None, width: float) -> Flowable:
    """A group's drug list: ``shown`` drugs (all when None), then how many more and where."""
    f = _fonts()
    if not drugs:
        return _Rich([("none", f.regular, 9, colors.HexColor("#80868B"))], 11.5)
    names = list(drugs)[:shown] if shown is not None else list(drugs)
    more = len(drugs) - len(names)
    if group.key == "none":  # names only, in small type: nothing to do
        runs: list[Run] = [(", ".join(names) + ("," if more else ""), f.regular, 7, _INK)]
        leading = 9.5
    else:
        runs = [run for i, d in enumerate(names) for run in _drug_runs(d, *drugs[d], last=i == len(names) - 1 and not more)]
        leading = 11.5
    if more:
        where = "'What to change, and why' from page 2" if group.key in _CHANGES else "the appendix"
        runs.append((f" and {more} more: see {where}", f.bold, 7, _MUTED))
    if not all(_drawable(text) for text, *_ in runs):  # characters the main font lacks: a Paragraph
        markup = "".join(f'<font name="{font}" size="{size}" color="#{colour.hexval()[2:]}">{_markup(text)}</font>'
                         for text, font, size, colour in runs)  # fmt: skip
        return _para(markup)
    cell = _Rich(runs, leading)
    cell.wrap(width, 1e6)
    return cell


def _summary_cells(placed: dict[str, dict[str, tuple[list[str], str]]], widths: list[float],
                   room: float) -> list[Flowable]:  # fmt: skip
    """The summary's drug cells, cut until the rows fit ``room`` points: the longest list of
    the less urgent groups first, then the longest of all."""
    width = widths[1] - 2 * (_CELL_PAD + 2)
    shown: dict[str, int | None] = {g.key: None for g in GROUPS}
    cells = {g.key: _summary_cell(g, placed[g.key], None, width) for g in GROUPS}
    badge = {g.key: _cell(g.label.upper(), widths[0], "badge").wrap(widths[0] - 2 * (_CELL_PAD + 2), 1e6)[1]
             for g in GROUPS}  # fmt: skip

    def height(key: str) -> float:
        return max(badge[key], cells[key].wrap(width, 1e6)[1]) + _SUMMARY_PAD

    while sum(map(height, cells)) > room:
        cuttable = [k for k in cells if isinstance(cells[k], _Rich) and len(placed[k]) > 1 and height(k) > badge[k] + _SUMMARY_PAD + 12]
        if not cuttable:
            break
        less = [k for k in cuttable if k in _LESS_URGENT]
        key = max(less or cuttable, key=height)
        n = shown[key] if shown[key] is not None else len(placed[key])
        shown[key] = max(1, n - max(1, n // 8))
        cells[key] = _summary_cell(_GROUP_BY_KEY[key], placed[key], shown[key], width)
    return [cells[g.key] for g in GROUPS]


def _summary(recs: list, placed: dict[str, dict[str, tuple[list[str], str]]], room: float = 1e6) -> list:
    """One row per consequence group: a coloured labelled badge, then its drugs.

    Drugs the guideline recommends nothing for are listed by name only, in small type:
    nothing is to be done. Drugs not assessed list, like the others, their genes: here
    the ones with no result, which a test could supply. A summary too long for page 1 is
    cut in its longest lists, each with the count of drugs left out and where they are.
    """
    widths = [_SUMMARY_BADGE_W, _FRAME_W - _SUMMARY_BADGE_W]
    cells = _summary_cells(placed, widths, room - 34)  # the title above the table
    rows, cmds = [], []
    for i, (g, cell) in enumerate(zip(GROUPS, cells, strict=True)):
        rows.append([_cell(g.label.upper(), widths[0], "badge"), cell])
        cmds.append(("BACKGROUND", (1, i), (1, i), g.tint if placed[g.key] else colors.white))
    cmds += _badges(enumerate(GROUPS)) + [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, -1), 1.5, colors.white),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PAD + 2),
        ("BOX", (0, 0), (-1, -1), 0.5, _RULE),
    ]
    table = Table(rows, colWidths=widths, style=TableStyle(cmds))
    title = _heading("Drug summary")
    if not recs:
        note = _cell("No recommendation rows were produced for this sample: no drug in the knowledge "
                     "base has a guideline for the genes called.", _FRAME_W, "note")  # fmt: skip
        return [title, note, Spacer(0, 3), table]
    return [title, table]


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


# --- recommendations ----------------------------------------------------------------


def _sorted_recommendations(recs: pd.DataFrame) -> list:
    """Rows, most urgent group first, then drug name; refuses actions it cannot group."""
    rows = _records(recs, [*schema.RECOMMENDATIONS.names, "verbatim_text"])
    unknown = sorted({str(r.action) for r in rows} - set(ACTION_GROUPS))
    if unknown:
        raise ValueError(f"unknown recommendation action(s) {unknown}; expected one of {schema.ACTIONS}")
    rank = {g.key: i for i, g in enumerate(GROUPS)}
    return sorted(rows, key=lambda r: (rank[group_key(r)], str(r.drug).lower()))


_SAFE_URL = re.compile(r"^https?://[^\s\"'<>]+$")


@functools.lru_cache(maxsize=1 << 12)
def _based_on(r: object) -> tuple[Block, ...]:
    """Cached per row (rows are hashable named tuples): several sections ask for it."""
    return tuple(_basis(r))


def _basis(r: object) -> list[Block]:
    """The phenotypes a recommendation rests on, one per line; a non-general population;
    a note when a gene it needs had no result (the advice rests on part of the genotype)."""
    lines = _as_list(r.phenotypes) or [k.replace("=", ": ") for k in _text(r.lookup_key).split(";") if k]
    lines = [str(x) for x in lines] or [", ".join(map(str, _as_list(r.genes)))]
    blocks: list[Block] = [(line, "cell") for line in lines]
    missing = no_result_genes(r)
    if missing and len(missing) < len(lines):
        blocks.append((f"Rests on part of the genotype: no result for {', '.join(missing)}", "small"))
    population = _text(r.population).strip()
    if population and population.lower() != "general":
        blocks.append((f"Population: {population}", "cell_b"))
    for column, word in CONDITION_COLUMNS:
        value = _text(getattr(r, column, "")).strip()
        if value and value != population:
            blocks.append((f"Only if {word}: {value}", "cell_b"))
    return blocks


def _advice(r: object) -> list[Block]:
    """Action, strength, alternative drugs and our text, as cell blocks.

    The dose factor shows only when there is no text: the text already gives the dose,
    often as a range (30-80%) that a single factor would misstate.
    """
    blocks: list[Block] = [(ACTION_TEXT[str(r.action)], "cell_b"), (strength(r), "small")]
    alternatives = _as_list(r.alternatives)
    if alternatives:
        blocks.append(("Alternatives: " + ", ".join(map(str, alternatives)), "cell"))
    text = _text(r.text).strip()
    low, high = getattr(r, "dose_factor_min", None), getattr(r, "dose_factor_max", None)
    if not text and not _is_missing(low):
        span = f"{float(low):g}" if _is_missing(high) or float(high) == float(low) else f"{float(low):g}-{float(high):g}"
        text = f"Dose factor: {span} × the standard dose"
    blocks.append((text, "cell"))
    verbatim = _text(r.verbatim_text).strip()  # only with a user's own CPIC export (pgx.overlay)
    if verbatim:
        blocks.append((f"Guideline wording: {verbatim}", "small"))
    return blocks


_CHANGES = ("avoid", "alternative", "adjust", "depends", "monitor", "assess")  # groups whose rows get full detail
_SUFFIX = re.compile(r"\s*\(((?:CPIC|DPWG)\b[^()]*)\)\.?\s*$")


@dataclass
class _Entry:
    """The rows of one drug with one group, action and population, from any source: one
    table row."""

    drug: str
    group: Group
    action: str
    rows: list


def _entries(recs: list) -> list[_Entry]:
    """Recommendations merged by (drug, group, action, population), in the order of recs; a
    drug whose CPIC and DPWG rows agree becomes one row citing both."""
    merged: dict[tuple[str, str, str, str], _Entry] = {}  # conditions are part of the last key part
    for r in recs:
        population = _text(r.population).strip().lower()
        conditions = "|".join(_text(getattr(r, c, "")).strip().lower() for c, _ in CONDITION_COLUMNS)
        key = (str(r.drug), group_key(r), str(r.action), ("" if population == "general" else population) + conditions)
        if key in merged:
            merged[key].rows.append(r)
        else:
            merged[key] = _Entry(key[0], _GROUP_BY_KEY[key[1]], key[2], [r])
    return list(merged.values())


def _unique(blocks: Iterable[Block]) -> list[Block]:
    return list(dict.fromkeys(blocks))


def _merged_advice(e: _Entry) -> list[Block]:
    """Action, strengths, alternatives and the texts of an entry's rows. Texts that say the
    same apart from their "(CPIC, Strong)" ending are printed once, with both endings."""
    if len(e.rows) == 1:
        return _advice(e.rows[0])
    said = [f"{_text(r.source) or 'Guideline'}: {strength(r)}" for r in e.rows if strength(r)]
    blocks: list[Block] = [(ACTION_TEXT[e.action], "cell_b"), ("; ".join(dict.fromkeys(said)), "small")]
    alternatives = list(dict.fromkeys(str(a) for r in e.rows for a in _as_list(r.alternatives)))
    if alternatives:
        blocks.append(("Alternatives: " + ", ".join(alternatives), "cell"))
    texts = [b for r in e.rows for b in _advice(r)[2:] if b[1] == "cell" and not b[0].startswith("Alternatives: ")]
    cores = {(_SUFFIX.sub("", t).strip().rstrip(".").lower()) for t, _ in texts}
    endings = [m[1] for t, _ in texts if (m := _SUFFIX.search(t))]
    if len(cores) == 1 and len(endings) == len(texts):
        blocks.append((f"{_SUFFIX.sub('', texts[0][0]).rstrip('.')} ({'; '.join(dict.fromkeys(endings))}).", "cell"))
    else:
        blocks += _unique(texts)
    blocks += _unique(b for r in e.rows for b in _advice(r) if b[1] == "small" and b[0].startswith("Guideline wording"))
    return blocks


class _Refs:
    """The numbered reference list: each guideline (source, name, URL, PMIDs) gets a number
    the first time a row cites it; the rows print only ``[n]``."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str, str, str], int] = {}
        self._rows: dict[int, object] = {}
        self.printed = 0  # references up to this number are already in a printed list

    def cite(self, r: object) -> int:
        key = (_text(r.source).strip(), _text(r.guideline).strip(), _text(r.url).strip(), _text(r.pmid).strip())
        if key not in self._numbers:
            self._numbers[key] = len(self._numbers) + 1
            self._rows[self._numbers[key]] = r
        return self._numbers[key]

    def row(self, number: int) -> object:
        return self._rows[number]

    def numbers(self, rows: Iterable[object]) -> list[int]:
        return sorted(dict.fromkeys(self.cite(r) for r in rows))

    def listing(self, title: str) -> list:
        """The references cited since the last listing, one line each (the name links to its URL)."""
        new = range(self.printed + 1, len(self._numbers) + 1)
        self.printed = len(self._numbers)
        if not new:
            return []
        items = [_cell([(f"[{n}] {b[0]}", *b[1:]) if i == 0 else b for i, b in enumerate(_short_reference(self._rows[n]))],
                       _FRAME_W) for n in new]  # fmt: skip
        return [_heading(title, "h2"), *items]


def _cite(numbers: list[int]) -> str:
    return "[" + ", ".join(map(str, numbers)) + "]" if numbers else ""


def _heading(text: str, style: str = "h1") -> Flowable:
    return _cell(text, _FRAME_W, style)


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
        story.append(_Rich(head if all(_drawable(t) for t, *_ in head) else
                           [(_markup_free(t), *rest) for t, *rest in head], 11, space_before=4))  # fmt: skip
        story += [_drug_line(drug, per_drug[drug], refs) for drug in drugs]
    return story


def _full_recommendations(entries: list[_Entry], placed: dict, refs: _Refs) -> list:
    """Appendix: the recommendations that change the prescription in full, one row per drug:
    each advice's text (with its source and strength), the guideline's own wording when
    imported, the population, conditions and a gene without result it rests on, and its
    reference numbers. The gene results are on page 2."""
    entries = [e for e in entries if e.group.key in _CHANGES]
    if not entries:
        return []
    widths = [31 * mm, 0, 13 * mm]
    widths[1] = _FRAME_W - sum(widths)
    per_drug: dict[str, list[_Entry]] = {}
    for e in entries:
        per_drug.setdefault(e.drug, []).append(e)
    rows: list[list] = [["Drug", "Recommendation in full", "Ref."]]
    strips: list = [None]
    for drug, drug_entries in per_drug.items():
        blocks: list[Block] = []
        for e in drug_entries:
            phenotype_lines = {str(p) for r in e.rows for p in _as_list(r.phenotypes)}
            blocks += [b for b in _unique(b for r in e.rows for b in _based_on(r)) if b[0] not in phenotype_lines]
            blocks += [b for b in _merged_advice(e)[2:] if b[0] and not b[0].startswith("Alternatives: ")]
        cite = _cite(refs.numbers(r for e in drug_entries for r in e.rows))  # the list links to the guidelines
        group = next((_GROUP_BY_KEY[k] for k, drugs in placed.items() if drug in drugs), drug_entries[0].group)
        rows.append([_cell([(drug, "cell_b"), (group.label, "small")], widths[0]),
                     _cell(_unique(blocks), widths[1]), _cell(cite, widths[2])])  # fmt: skip
        strips.append(group.colour)
    note = _cell("CPIC and DPWG rows with the same advice share a line. Texts are short summaries written from the "
                 "guideline's structured fields; read the guideline before acting on an unusual result.",
                 _FRAME_W, "note")  # fmt: skip
    return [_heading("Recommendations that change the prescription, in full", "h2"), note, Spacer(0, 2),
            _grid(rows, widths, strips)]  # fmt: skip


# --- appendix ------------------------------------------------------------------------


def _extra_text(r: object) -> str:
    """A standard-dose text without what the table already says ("Use X at the usual dose",
    the source ending); empty when nothing is left."""
    text = _SUFFIX.sub("", " ".join(_text(r.text).split()))
    text = re.sub(rf"^Use {re.escape(str(r.drug))} at the usual dose\.?\s*", "", text, flags=re.IGNORECASE)
    return text.strip()


def _short_reference(r: object) -> list[Block]:
    """One line: source, guideline name, PMIDs, then the URL; the name links to the URL.
    A URL that is not a plain http(s) link is printed as text, not linked."""
    source, guideline = _text(r.source).strip(), _text(r.guideline).strip()
    guideline = re.sub(r"^Annotation of\s+", "", guideline)
    if source and not guideline.upper().startswith(source.upper()):
        guideline = f"{source}: {guideline}" if guideline else source
    pmids = [p.strip() for p in re.split(r"[;,]", _text(r.pmid)) if p.strip()]
    if pmids:
        guideline += f". PMID{'s' if len(pmids) > 1 else ''} {', '.join(pmids)}"
    url = _text(r.url).strip()
    if not url:
        return [(guideline, "small")]
    return [(f"{guideline}. {url}", "small")] if not _SAFE_URL.match(url) else [(guideline, "small", url)]


def _grouped_table(entries: list[_Entry], group: str, title: str, note: str, refs: _Refs) -> list:
    """Drugs that leave the prescription as it is, one row per set of gene results they rest
    on: the drugs with their reference numbers, and only what a guideline adds beyond the
    heading (such as letting drug levels guide the dose). A text several drugs share is
    printed once."""
    entries = [e for e in entries if e.group.key == group]
    if not entries:
        return []
    by_basis: dict[tuple, list[_Entry]] = {}
    for e in entries:
        basis = tuple(_unique(b for r in e.rows for b in _based_on(r)))
        by_basis.setdefault(basis, []).append(e)
    widths = [58 * mm, 0]
    widths[1] = _FRAME_W - sum(widths)
    rows: list[list] = [["Based on", "Drugs [reference]; what the guideline adds"]]
    for basis, group_entries in by_basis.items():
        names = ", ".join(f"{e.drug} {_cite(refs.numbers(e.rows))}".strip() for e in group_entries)
        extras: dict[str, list[str]] = {}
        for e in group_entries:
            for r in e.rows:
                extra = _extra_text(r) if group == "usual" else _SUFFIX.sub("", " ".join(_text(r.text).split()))
                extra = re.sub(rf"\b{re.escape(e.drug)}\b", "the drug", extra, flags=re.IGNORECASE) if extra else ""
                if extra and e.drug not in extras.setdefault(extra, []):
                    extras[extra].append(e.drug)
                verbatim = _text(r.verbatim_text).strip()
                if verbatim:
                    extras.setdefault(f"Guideline wording: {verbatim}", []).append(e.drug)
        details: list[Block] = [(names, "cell")]
        details += [(f"{', '.join(drugs)}: {text}" if len(group_entries) > 1 else text, "small")
                    for text, drugs in extras.items()]  # fmt: skip
        rows.append([_cell(list(basis), widths[0]), _cell(details, widths[1])])
    n = sum(len(e.rows) for e in entries)
    return [_heading(title, "h2"), _cell(f"{len(entries)} drug(s), {n} row(s). {note}", _FRAME_W, "note"),
            Spacer(0, 2), _grid(rows, widths)]  # fmt: skip


def _untested_table(entries: list[_Entry], refs: _Refs) -> list:
    genes = sorted({g for e in entries if e.group.key == "untested" for r in e.rows for g in no_result_genes(r)})
    return _grouped_table(
        entries, "untested", "Not assessed: a gene the drug needs has no result",
        f"No result for {', '.join(genes)} (not tested, or not called from the input), so the "
        "guidelines could not be applied: the pharmacogenetic risk of these drugs is unknown, "
        "not absent. Test the gene before prescribing if its result would change the decision "
        "(for example DPYD before a fluoropyrimidine, where that is the local standard).", refs,
    )  # fmt: skip


def _gene_gaps(c: object) -> str:
    """One line for a gene: no-call and why, ambiguity, counts of missing and assumed
    positions (the positions themselves are in the calls table), novel variants, other
    warnings; empty when there is nothing to say."""
    status = str(c.call_status)
    warnings = "; ".join(map(str, _as_list(c.warnings)))
    said = []
    if status == "no_call":
        said.append("no call: " + (warnings or "no reason was recorded") + ".")
    elif status == "ambiguous":
        said.append(f"{len(_as_list(c.alternatives))} diplotypes fit equally well; the data cannot tell them apart.")
    missing, assumed = len(_as_list(c.missing_positions)), len(_as_list(c.assumed_reference_positions))
    if missing:
        said.append(f"{missing} position(s) missing from the input, not used.")
    if assumed:
        said.append(f"{assumed} position(s) absent from the input assumed to be reference (option assume_reference).")
    if missing or assumed:
        said.append("The positions are listed in the calls table (calls.parquet).")
    novel = _as_list(c.novel_variants)
    if novel:
        said.append(f"variant(s) not part of any known allele, ignored in the call: {', '.join(map(str, novel))}.")
    if status != "no_call" and warnings:
        said.append(warnings + ".")
    return f"{c.gene}: " + " ".join(said) if said else ""


def _not_called(calls: list, recs: list, provenance: Mapping[str, str]) -> list:
    """What could not be called and why: one line per gene, then genes the test did not cover."""
    items = [item for item in map(_gene_gaps, sorted(calls, key=lambda c: str(c.gene))) if item]
    needed = sorted({str(g) for r in recs for g in _as_list(r.genes)} - {str(c.gene) for c in calls})
    if needed:
        items.append("Genes that guidelines for these drugs use but this test did not cover (looked up as "
                     f"'No Result'): {', '.join(needed)}.")  # fmt: skip
    if _assume_reference(provenance) and not any(_as_list(c.assumed_reference_positions) for c in calls):
        items.append("The option assume_reference was on, but no position needed it.")
    if not items:
        items.append("Every gene tested was called from the input, with no missing positions.")
    return [_heading("What could not be called and why", "h2")] + [_cell([(i, "bullet")], _FRAME_W) for i in items]


_METHODS = (
    "Genotypes were read from the input VCF only at the positions the knowledge base defines "
    "for each gene; other variants in the file were not examined. Star alleles were matched in "
    "the manner of PharmCAT: each allele definition was compared with the sample's genotypes at "
    "its defining positions, and the pair of alleles explaining the most defining positions was "
    "reported, with every equally good pair listed when there was a tie. Each diplotype was then "
    "translated into allele functions, an activity score for genes that use one, and a "
    "phenotype, using CPIC's tables. The phenotype (or activity score) was looked up in the "
    "guideline tables of the knowledge base (CPIC, and DPWG where present) to give the "
    "recommendation for each drug. Recommendation texts are written for this report from the "
    "guideline's structured fields; the guideline itself has the full wording."
)

_LIMITATIONS = (
    "Only the positions in the knowledge base were tested. A variant elsewhere in a gene, or an "
    "allele not yet defined, is not detected; such a sample is reported as the closest defined "
    "allele, often the reference allele.",
    "Copy-number and structural variants (gene deletions and duplications, hybrid genes such as "
    "CYP2D6/CYP2D7) cannot be detected from a VCF of small variants; a normal copy number is assumed.",
    "HLA genes and other genes that need dedicated typing are reported only when given as outside calls.",
    "Unphased data may leave several diplotypes possible; these are reported as ambiguous.",
    "The genotype calls in the input file are taken as given; their quality was not re-assessed here.",
    "Guidelines change. This report reflects the knowledge-base version printed on it.",
    "Drug response also depends on other drugs (phenoconversion), age, organ function and other "
    "factors. This report is not a substitute for clinical judgement.",
)


@functools.cache
def _static_blocks() -> tuple[_Lines, ...]:
    """Methods and limitations: the same on every report, so wrapped once per process;
    each report draws copies sharing the wrapped lines."""
    blocks = (_heading("Methods", "h2"), _cell(_METHODS, _FRAME_W, "body"),
              _heading("Limitations", "h2"), *(_cell([(t, "bullet")], _FRAME_W) for t in _LIMITATIONS))  # fmt: skip
    for block in blocks:
        block.wrap(_FRAME_W, 1e6)
    return blocks


@functools.lru_cache(maxsize=8)
def _versions_grid(items: tuple[tuple[str, str], ...]) -> _Grid:
    """The versions table of one provenance, laid out once: every report of a batch shares it."""
    widths = [42 * mm, _FRAME_W - 42 * mm]
    rows: list[list] = [["Item", "Version or value"]]
    rows += [[_cell(k, widths[0], "small"), _cell(v, widths[1], "small")]
             for k, v in [("Report generator", f"pgx {__version__} (pgx.report)"), *_provenance_rows(dict(items))]]  # fmt: skip
    grid = _grid(rows, widths)
    grid.wrap(_FRAME_W, 1e6)
    return grid


def _versions(provenance: Mapping[str, str]) -> list:
    return [_heading("Versions, inputs and checksums", "h2"), _versions_grid(tuple(provenance.items())).copy()]


def _appendix(calls: list, recs: list, entries: list[_Entry], placed: dict, provenance: Mapping[str, str],
              refs: _Refs) -> list:  # fmt: skip
    """Everything beyond the clinical answer, on new pages under a clear title."""
    intro = _cell("Pages 1 and 2 hold the clinical answer. This appendix holds the drugs whose use this result "
                  "does not change, what could not be called, methods, versions, checksums and limitations.",
                  _FRAME_W, "note")  # fmt: skip
    return [
        PageBreak(), _heading("Appendix: details for the record"), intro,
        *_full_recommendations(entries, placed, refs),
        *_untested_table(entries, refs),
        *_grouped_table(entries, "usual", "Use as usual",
                        "The guidelines recommend the usual drug and dose for this result; a note follows only "
                        "when a guideline adds something (such as letting drug levels guide the dose).", refs),
        *_grouped_table(entries, "none", _GROUP_BY_KEY["none"].label,
                        "Every gene these drugs need has a result, but the guideline recommends nothing for it "
                        "or has no row for it; decide as you would without a genotype.", refs),
        *_not_called(calls, recs, provenance),
        *(block.copy() for block in _static_blocks()),
        *_versions(provenance),
        *refs.listing("References (continued)" if refs.printed else "References"),
    ]  # fmt: skip


# --- document ------------------------------------------------------------------------


class _DetailsBreak(ActionFlowable):
    """A page break if still on page 1: page 2 starts on a new page, or goes on right
    after a summary that already ran over to page 2."""

    def __init__(self) -> None:
        super().__init__(("pageBreak",))

    def apply(self, doc: SimpleDocTemplate) -> None:
        if doc.page == 1:
            doc.handle_pageBreak()


def _story(sample_id: str, calls: pd.DataFrame, recs: pd.DataFrame, provenance: Mapping[str, str], batch: str,
           appendix: bool, paper: str = "A4") -> list:  # fmt: skip
    """The report's flowables: page 1 (header, drug summary), page 2 (what to change and
    why, genotypes, references), and the appendix unless left out."""
    recs = _sorted_recommendations(recs)
    entries = _entries(recs)
    placed = _drugs_by_group(recs)
    refs = _Refs()
    # genes with a result first
    calls = sorted(_records(calls, schema.CALLS.names), key=lambda c: (str(c.call_status) == "no_call", str(c.gene)))
    header = _header(sample_id, batch, provenance, appendix)
    room = PAPERS[paper][1] - _TOP_MARGIN - _BOTTOM_MARGIN - 2 * _FRAME_PAD - 2  # page 1's frame
    room -= sum(f.wrap(_FRAME_W, 1e6)[1] + f.getSpaceBefore() + f.getSpaceAfter() for f in header)
    story = [
        *header,
        *_summary(recs, placed, room),
        _DetailsBreak(),
        *_answer(entries, refs),
        *_genotype_table(calls),
        *refs.listing("References"),
    ]
    if appendix:
        story += _appendix(calls, recs, entries, placed, provenance, refs)
    else:
        story.append(_cell("The appendix (drugs whose use this result does not change, what could not be called, "
                           "methods, versions and limitations) was left out of this copy; the output tables hold "
                           "all of it.", _FRAME_W, "note"))  # fmt: skip
    return story


def _build(sample_id: str, calls: pd.DataFrame, recs: pd.DataFrame, provenance: Mapping[str, str], batch: str,
           paper: str = "A4", appendix: bool = True) -> bytes:  # fmt: skip
    """The PDF as bytes: the story laid out on pages of ``paper`` with the footer."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper size {paper!r}; expected one of {', '.join(PAPERS)}")
    story = _story(sample_id, calls, recs, provenance, batch, appendix, paper)
    buffer = io.BytesIO()
    side = _side_margin(paper)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=PAPERS[paper],
        leftMargin=side,
        rightMargin=side,
        topMargin=_TOP_MARGIN,
        bottomMargin=_BOTTOM_MARGIN,
        title=f"Pharmacogenomic test report: {sample_id}",
        author="pgx",
        subject=f"Sample {sample_id}, batch {batch}",
        creator=f"pgx {__version__}",
        invariant=1,
    )
    maker = functools.partial(
        _FooterCanvas,
        sample_id=sample_id,
        kb_version=provenance.get("kb_version", "not recorded"),
        date_stamp=_pdf_date(_created(provenance)),
        paper=paper,
    )
    doc.build(story, canvasmaker=maker)
    return buffer.getvalue()


def render_report(
    sample_id: str,
    calls: pd.DataFrame,
    recommendations: pd.DataFrame,
    provenance: dict[str, str],
    out_path: Path,
    batch: str,
    *,
    paper: str = "A4",
    appendix: bool = True,
) -> Path:
    """Write the PDF report of one sample to ``out_path`` (atomically) and return the path.

    ``calls`` and ``recommendations`` are that sample's rows, with the columns of
    ``schema.CALLS`` and ``schema.RECOMMENDATIONS``; list columns may hold lists or numpy
    arrays. ``provenance`` holds text values (pipeline_version, kb_version, kb_sources,
    input_files, input_sha256, genome_build, options, created, ...); all are printed in the
    appendix. ``paper`` is a key of ``PAPERS`` (A4, letter); ``appendix=False`` leaves the
    appendix out. Raises ValueError for a recommendation action not in ``schema.ACTIONS``.
    """
    provenance = {str(k): _text(v) for k, v in provenance.items()}
    pdf = _build(str(sample_id), calls, recommendations, provenance, str(batch), paper, appendix)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:  # a full disk or read-only folder: pgx: error, not a traceback
        tmp.write_bytes(pdf)
    return out_path


def warm_up() -> None:
    """Register the fonts and build the styles and static blocks now, before a pool forks,
    so that every worker inherits them instead of building its own."""
    _fonts()
    _styles()
    _static_blocks()


def render_reports(jobs: list[tuple], provenance: dict[str, str], batch: str, *, paper: str = "A4",
                   appendix: bool = True) -> list[Path]:  # fmt: skip
    """Render several reports: ``jobs`` holds (sample_id, calls, recommendations, out_path)
    tuples. A module-level function, so a process pool can run it on chunks of a batch."""
    return [render_report(sid, calls, recs, provenance, Path(out), batch, paper=paper, appendix=appendix)
            for sid, calls, recs, out in jobs]  # fmt: skip
