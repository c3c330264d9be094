"""Consequence groups and the recommendation rows as the patient report arranges them.

Every section of :mod:`pgx.report` reads recommendations through this module: the groups
of the page-1 summary (``GROUPS``, ``ACTION_GROUPS``, ``group_key``, with a "not
assessed" group for advice missing because a gene had no result), the rows sorted most
urgent first (``_sorted_recommendations``), merged by drug, group, action and population
(``_entries``), and the numbered reference list in which each guideline is printed once
(``_Refs``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from reportlab.lib import colors
from reportlab.platypus import Flowable

from pgx import palette, schema
from pgx.placement import CONDITION_COLUMNS
from pgx.report_layout import _FRAME_W, _SAFE_URL, Block, _as_list, _cell, _stacked, _text
from pgx.report_rows import REC_COLUMNS, _records
from pgx.schema import NO_RESULT


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
    Group("untested", "Not assessed: a gene it needs has no result", colors.HexColor("#6A1B9A"), colors.HexColor("#F3E8F8")),
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


# --- rows ------------------------------------------------------------------------


def _sorted_recommendations(recs: pd.DataFrame | list) -> list:
    """Rows (``_records``), most urgent group first, then drug name; refuses actions it
    cannot group."""
    rows = _records(recs, REC_COLUMNS)
    unknown = sorted({str(r.action) for r in rows} - set(ACTION_GROUPS))
    if unknown:
        raise ValueError(f"unknown recommendation action(s) {unknown}; expected one of {schema.ACTIONS}")
    rank = {g.key: i for i, g in enumerate(GROUPS)}
    return sorted(rows, key=lambda r: (rank[group_key(r)], str(r.drug).lower()))


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


class _Refs:
    """The numbered reference list: each guideline (source, name, URL, PMIDs) gets a number
    the first time a row cites it; the rows print only ``[n]``."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str, str, str], int] = {}
        self._rows: dict[int, object] = {}
        self.printed = 0  # references up to this number are already in a printed list

    def cite(self, r: object) -> int:
        key = _reference_key(r)
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
        return [_heading(title, "h2"), *_stacked(items)]


@functools.lru_cache(maxsize=1 << 12)
def _reference_key(r: object) -> tuple[str, str, str, str]:
    """What makes a guideline reference: source, name, URL, PMIDs (cached per row)."""
    return _text(r.source).strip(), _text(r.guideline).strip(), _text(r.url).strip(), _text(r.pmid).strip()


def _cite(numbers: list[int]) -> str:
    return "[" + ", ".join(map(str, numbers)) + "]" if numbers else ""


def _heading(text: str, style: str = "h1") -> Flowable:
    return _cell(text, _FRAME_W, style)


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
