"""Page 1 of the patient report: who and what was tested, then every drug by consequence.

The header names the sample, batch, knowledge-base version and its data date, and the
report date when provenance records one. The drug summary has one row per consequence
group (:data:`pgx.report_groups.GROUPS`): a coloured badge with a printed label, then the
group's drugs, each listed once where :func:`pgx.placement.place_drug` puts it. A summary
too long for the page is cut in its longest lists, each ending with the count left out
and where the rest is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer, Table, TableStyle

from pgx import __version__
from pgx.placement import place_drug
from pgx.report_groups import _CHANGES, _GROUP_BY_KEY, ACTION_GROUPS, GROUPS, Group, _heading, group_key, no_result_genes
from pgx.report_layout import (
    _ACCENT,
    _CELL_PAD,
    _FRAME_W,
    _INK,
    _MUTED,
    _RULE,
    Run,
    _as_list,
    _cell,
    _drawable,
    _fonts,
    _markup,
    _para,
    _Rich,
    _styles,
)


# --- provenance: dates ---------------------------------------------------------------

_KB_DATE = re.compile(r"^(\d{4})[.-](\d{2})[.-](\d{2})")


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


# --- page 1: header and summary -----------------------------------------------------


def _header(sample_id: str, batch: str, provenance: Mapping[str, str], appendix: bool = True) -> list:
    created = _created(provenance)
    kb = provenance.get("kb_version") or "not recorded"
    if created:
        corner = ("Report date", created.strftime("%Y-%m-%d"))
    else:  # reruns give identical files, so without a recorded date there is none to print
        corner = ("Pipeline", f"pgx {provenance.get('pipeline_version') or __version__}")
    widths = [_FRAME_W * 0.62, _FRAME_W * 0.38]
    meta = Table(
        [
            [_field("Sample ID", sample_id, widths[0]), _field("Batch", batch, widths[1])],
            [_kb_field(kb, _kb_date(provenance), widths[0]), _field(*corner, widths[1])],
        ],  # fmt: skip
        colWidths=widths,
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
    return [_title().copy(), Spacer(0, 4), meta, _intro(appendix).copy()]


def _field(label: str, value: str, width: float) -> list[Flowable]:
    """A header field: its label in small grey over its value in bold (plain text cells:
    a Paragraph per field cost a millisecond per report)."""
    return [_cell(label, width, "meta_k"), _cell(value, width, "meta_v")]


def _kb_field(kb: str, data_date: str, width: float) -> list[Flowable]:
    """The knowledge-base version, with the date of its data in smaller type."""
    value, note = _styles()["meta_v"], f" (data of {data_date})"
    if not (_drawable(kb) and _drawable(note)):
        return [_cell("Knowledge base", width, "meta_k"),
                _para(f"{_markup(kb)} <font size=8>{_markup(note)}</font>", "meta_v")]  # fmt: skip
    runs: list[Run] = [(kb, value.fontName, value.fontSize, value.textColor), (note, value.fontName, 8, value.textColor)]
    return [_cell("Knowledge base", width, "meta_k"), _Rich(runs, value.leading)]


@functools.cache
def _title() -> Flowable:
    return _cell("Pharmacogenomic test report", _FRAME_W, "title")


@functools.cache
def _intro(appendix: bool) -> Flowable:
    """The lines under the header (laid out once per process; each report takes a copy)."""
    intro = _cell(
        "Drugs are grouped by what the guidelines recommend for this patient's genotype. A drug "
        "with several recommendations (CPIC and DPWG, several populations) is listed under the "
        "advice they share, with what differs noted; advice that turns on the indication or "
        "another condition the report cannot know is listed as such. Page 2 says what to change and "
        "why, with the genotypes and references"
        + ("; the appendix holds the details. " if appendix else ". ")
        + "This report supports, and does not replace, clinical judgement.",
        _FRAME_W,
        "note",
    )
    intro.wrap(_FRAME_W, 1e6)
    return intro


def _badges(rows: Iterable[tuple[int, Group]]) -> list[tuple]:
    """Table commands colouring column 0 of each (row, group) with the group's colour."""
    return [("BACKGROUND", (0, row), (0, row), group.colour) for row, group in rows]


def _drugs_by_group(recs: list) -> dict[str, dict[str, tuple[list[str], str]]]:
    """group key -> drug -> (genes its rows rest on, note). Each drug is listed once, where
    :func:`pgx.placement.place_drug` puts it: the advice its sources share, ``depends`` when
    the advice turns on a condition the report cannot know, with a note naming what differs.
    For "untested" the genes are the ones with no result; elsewhere a gene without a result
    is marked (:func:`_gene_label`)."""
    per_drug: dict[str, list] = {}
    for r in recs:
        per_drug.setdefault(str(r.drug), []).append(r)
    by_group: dict[str, dict[str, tuple[list[str], str]]] = {g.key: {} for g in GROUPS}
    for drug, rows in per_drug.items():
        group, genes, note = _placed(tuple(rows))
        by_group[group][drug] = (list(genes), note)
    rank = {name: i for i, name in enumerate(str(r.drug) for r in recs)}  # recs are sorted: urgency, then name
    return {k: dict(sorted(v.items(), key=lambda kv: rank[kv[0]])) for k, v in by_group.items()}


@functools.lru_cache(maxsize=1 << 13)
def _placed(rows: tuple) -> tuple[str, tuple[str, ...], str]:
    """One drug's group, the genes shown beside it and its note (see ``_drugs_by_group``);
    cached per set of rows, which recurs from patient to patient."""
    place = place_drug(list(rows), group_key, lambda a: ACTION_GROUPS.get(a, "none"), [g.key for g in GROUPS])
    genes: list[str] = []
    for r in rows:
        missing = no_result_genes(r)
        shown = missing if place.group == "untested" else [_gene_label(str(g), missing) for g in _as_list(r.genes)]
        genes += [str(g) for g in shown if str(g) not in genes]
    return place.group, tuple(genes), place.note


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
        cuttable = [
            k for k in cells if isinstance(cells[k], _Rich) and len(placed[k]) > 1 and height(k) > badge[k] + _SUMMARY_PAD + 12
        ]
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
