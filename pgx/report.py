"""One PDF report per sample, written for a clinician with one minute.

Page 1 answers "which of this patient's drugs need attention?": the sample, batch and
knowledge-base version, then every drug grouped by consequence (``group_key`` puts each
recommendation row in one group: its action's group from ``ACTION_GROUPS``, except that a
row without a recommendation that rests on a gene with no result is "not assessed"; each
group has a colour *and* a printed label, so the page survives black-and-white printing),
then the genotype table. The following pages give each recommendation with its guideline
reference, what could not be called and why, methods, versions and limitations. Every
page has a footer with the sample ID and "page X of Y".

Text safety: everything that comes from data (sample IDs, texts, URLs) goes through
``_markup`` before it reaches a ``Paragraph``: markup characters are escaped, and each
character is drawn with a font that has it. The main font is DejaVu Sans (system font,
else the copy matplotlib ships, else Helvetica with its Latin-1/cp1252 repertoire). CJK
characters, which DejaVu lacks, use reportlab's built-in CID fonts (STSong-Light;
HYSMyeongJo-Medium for Hangul): they are not embedded, so the viewer supplies the
glyphs (Acrobat, macOS and most Linux desktops with CJK fonts do; without one the
reader shows boxes) while the text stays exact and searchable. Any other character the
fonts lack is written as ``[U+XXXX]`` (a few symbols such as "≥" get an ASCII spelling
instead), so two different sample IDs never print the same.

Output is deterministic: reportlab's invariant mode, no clock. The PDF creation date and
the printed report date come from ``provenance["created"]`` (ISO 8601) when present.
The file is built in memory, written to a hidden temporary name in the target
directory and renamed, so a killed run leaves no half-written report.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    ActionFlowable,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from pgx import __version__, schema
from pgx.outputs import temporary_name, writing
from pgx.placement import CONDITION_COLUMNS, place_drug

__all__ = ["ACTION_GROUPS", "GROUPS", "group_key", "no_result_genes", "render_report", "render_reports"]

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
    Group("avoid", "Avoid", colors.HexColor("#B3261E"), colors.HexColor("#FBE9E7")),
    Group("alternative", "Use an alternative", colors.HexColor("#C25100"), colors.HexColor("#FFF0E0")),
    Group("adjust", "Adjust the dose", colors.HexColor("#7A5A00"), colors.HexColor("#FFF6D6")),
    # the advice turns on a condition the report cannot know (indication, age, risk factors)
    Group("depends", "Depends on indication or situation", colors.HexColor("#8E3B46"), colors.HexColor("#F8E8EA")),
    Group("monitor", "Monitor", colors.HexColor("#1F5FA8"), colors.HexColor("#E6EFFA")),
    # the guideline asks for more information first (enzyme activity, clinical findings, family history)
    Group("assess", "Assess first", colors.HexColor("#00696B"), colors.HexColor("#E0F2F1")),
    # a gene the drug needs has no result: its risk is unknown, not absent
    Group("untested", "Not assessed: a gene it needs has no result", colors.HexColor("#6A1B9A"),
          colors.HexColor("#F3E8F8")),
    Group("usual", "Use as usual", colors.HexColor("#2E7D32"), colors.HexColor("#E9F5EA")),
    Group("none", "No guideline for this result", colors.HexColor("#5F6368"), colors.HexColor("#F1F3F4")),
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

NO_RESULT = "No Result"  # the lookup key of a gene without a usable call (pgx.recommend)


def no_result_genes(r: object) -> list[str]:
    """The genes a recommendation row needs that had no result (not tested or not called):
    those its ``phenotypes`` give as ``GENE: No Result`` or its ``lookup_key`` as
    ``GENE=No Result``."""
    shown = [str(p).partition(":")[0] for p in _as_list(r.phenotypes) if str(p).endswith(f": {NO_RESULT}")]
    keyed = [k.partition("=")[0] for k in _text(r.lookup_key).split(";") if k.endswith(f"={NO_RESULT}")]
    return list(dict.fromkeys(gene.strip() for gene in shown + keyed if gene.strip()))


def group_key(r: object) -> str:
    """The consequence group of one recommendation row: its action's group, except that a
    row that recommends nothing (no recommendation, no guideline row) because a gene it
    needs has no result is "untested": its pharmacogenetic risk is unknown, not absent. A
    real recommendation stays in its group even when one of its genes had no result."""
    group = ACTION_GROUPS[str(r.action)]
    return "untested" if group == "none" and no_result_genes(r) else group


_ACTION_TEXT = {
    "avoid": "Avoid",
    "use_alternative": "Use an alternative drug",
    "consider_alternative": "Consider an alternative drug",
    "reduce_dose": "Reduce the dose",
    "increase_dose": "Increase the dose",
    "monitor": "Monitor",
    "assess_further": "Assess further before deciding (enzyme activity, clinical findings, family history, testing)",
    "standard_dose": "Use the standard dose",
    "no_recommendation": "No recommendation in the guideline for this result",
    "no_guideline_match": "No guideline recommendation for this result",
}

_CALL_STATUS_TEXT = {
    "called": "Called",
    "ambiguous": "Ambiguous",
    "no_call": "No call",
    "outside_call": "Outside call",
}

# --- fonts and safe text ------------------------------------------------------------

_DEJAVU_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/Library/Fonts",
)
_CJK_FONT = "STSong-Light"
_HANGUL_FONT = "HYSMyeongJo-Medium"
_CJK_RANGES = (
    (0x2E80, 0x2FDF), (0x3000, 0x30FF), (0x3100, 0x312F), (0x3190, 0x31FF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF), (0x20000, 0x2FA1F),
)  # fmt: skip
_HANGUL_RANGES = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF))
#: ASCII spellings for symbols that turn up in clinical text, used when the font lacks them
_SUBSTITUTES = {"≥": ">=", "≤": "<=", "→": "->", "←": "<-", "≠": "!=", "≈": "~", "−": "-", "✓": "v"}
_WHITESPACE = {"\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"}


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str
    covered: frozenset[int]  # code points the regular font draws


def _find_dejavu() -> tuple[Path, Path] | None:
    """DejaVu Sans regular and bold: a system copy, else the one matplotlib ships."""
    dirs = [Path(d) for d in _DEJAVU_DIRS]
    spec = importlib.util.find_spec("matplotlib")  # locate only; importing it is slow
    if spec and spec.origin:
        dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    for d in dirs:
        regular, bold = d / "DejaVuSans.ttf", d / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


@functools.cache
def _fonts() -> _Fonts:
    """Register the report fonts once per process and say what the main font covers."""
    for name in (_CJK_FONT, _HANGUL_FONT):
        pdfmetrics.registerFont(UnicodeCIDFont(name))
        pdfmetrics.registerFontFamily(name, normal=name, bold=name, italic=name, boldItalic=name)
    found = _find_dejavu()
    if found is None:
        # the standard fonts are WinAnsi (cp1252) encoded
        cp1252 = bytes(range(0x20, 0x100)).decode("cp1252", "ignore")
        covered = frozenset(ord(ch) for ch in cp1252 if unicodedata.category(ch) != "Cc")
        return _Fonts("Helvetica", "Helvetica-Bold", covered)
    regular = TTFont("PgxSans", str(found[0]))
    pdfmetrics.registerFont(regular)
    pdfmetrics.registerFont(TTFont("PgxSans-Bold", str(found[1])))
    pdfmetrics.registerFontFamily(
        "PgxSans", normal="PgxSans", bold="PgxSans-Bold", italic="PgxSans", boldItalic="PgxSans-Bold"
    )
    return _Fonts("PgxSans", "PgxSans-Bold", frozenset(regular.face.charToGlyph))


def _in_ranges(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= code <= hi for lo, hi in ranges)


def _runs(text: str) -> list[tuple[str | None, str]]:
    """Split text into (font, chunk) runs; font None means the main font.

    Characters no font can draw are replaced here (see the module docstring).
    """
    covered = _fonts().covered
    runs: list[tuple[str | None, str]] = []
    for ch in text:
        code = ord(ch)
        font: str | None = None
        if ch in _WHITESPACE:
            ch = " "
        elif code in covered and unicodedata.category(ch) not in ("Cc", "Cs"):
            pass
        elif _in_ranges(code, _CJK_RANGES):
            font = _CJK_FONT
        elif _in_ranges(code, _HANGUL_RANGES):
            font = _HANGUL_FONT
        else:
            ch = _SUBSTITUTES.get(ch, f"[U+{code:04X}]")
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + ch)
        else:
            runs.append((font, ch))
    return runs


_ENTITIES = {'"': "&quot;", "'": "&#39;"}


def _markup(value: object) -> str:
    """Paragraph markup that shows ``value`` literally, whatever characters it holds."""
    text = _text(value)
    if text.isascii() and text.isprintable():
        return escape(text, _ENTITIES)
    out = []
    for font, chunk in _runs(text):
        chunk = escape(chunk, _ENTITIES)
        out.append(chunk if font is None else f'<font name="{font}">{chunk}</font>')
    return "".join(out)


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _text(value: object, missing: str = "") -> str:
    return missing if _is_missing(value) else str(value)


def _as_list(value: object) -> list:
    """A list cell as a Python list: lists, tuples, numpy arrays, None and NaN alike."""
    if value is None or isinstance(value, float | str) or value is pd.NA:
        if isinstance(value, str) and value:
            return [value]
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [v for v in value if not _is_missing(v)]


# --- styles and cells ---------------------------------------------------------------

_PAGE_W, _PAGE_H = A4
_MARGIN = 15 * mm
_FRAME_PAD = 6  # SimpleDocTemplate's frame padding
_LEFT = _MARGIN + _FRAME_PAD
_FRAME_W = _PAGE_W - 2 * _LEFT  # usable width
_INK = colors.HexColor("#1A1A1A")
_MUTED = colors.HexColor("#5F6368")
_RULE = colors.HexColor("#B0B5BA")
_HEAD_BG = colors.HexColor("#E8EAED")
_ACCENT = colors.HexColor("#1F3A5F")
_CELL_PAD = 4


@functools.cache
def _styles() -> dict[str, ParagraphStyle]:
    """Paragraph styles, built once per process."""
    f = _fonts()
    base = ParagraphStyle("body", fontName=f.regular, fontSize=9, leading=11.5, textColor=_INK)

    def make(name: str, **kw: object) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **kw)

    return {
        "body": base,
        "title": make("title", fontName=f.bold, fontSize=18, leading=22, textColor=_ACCENT),
        "h1": make("h1", fontName=f.bold, fontSize=12, leading=15, spaceBefore=10, spaceAfter=4, textColor=_ACCENT),
        "note": make("note", fontSize=8, leading=10, textColor=_MUTED),
        "cell": make("cell", fontSize=8, leading=9.8),
        "cell_b": make("cell_b", fontName=f.bold, fontSize=8, leading=9.8),
        "small": make("small", fontSize=7, leading=8.6, textColor=_MUTED),
        "link": make("link", fontSize=7, leading=8.6, textColor=colors.HexColor("#1F5FA8")),
        "head": make("head", fontName=f.bold, fontSize=7.5, leading=9, textColor=_ACCENT),
        "badge": make("badge", fontName=f.bold, fontSize=7.5, leading=9, textColor=colors.white),
        "meta_k": make("meta_k", fontSize=7.5, leading=9.5, textColor=_MUTED),
        "meta_v": make("meta_v", fontName=f.bold, fontSize=9.5, leading=12),
        "bullet": make("bullet", fontSize=8.5, leading=11, leftIndent=10, bulletIndent=0),
    }


class _Para(Paragraph):
    """A Paragraph that remembers its last wrap.

    Tables wrap every cell again for each height estimate, page split and draw (about 50
    times per cell in a multi-page report), and line breaking is the costly part.
    """

    _wrapped_at: tuple[float, float] | None = None

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        # split() may drop the line breaks (blPara); then wrap again
        if self._wrapped_at is not None and self._wrapped_at[0] == availWidth and "blPara" in self.__dict__:
            return self._wrapped_at[1], self.height
        width, height = super().wrap(availWidth, availHeight)
        self._wrapped_at = (availWidth, width)
        return width, height


def _para(markup: str, style: str = "cell") -> _Para:
    return _Para(markup, _styles()[style])


def _drawable(text: str) -> bool:
    """True if the main font draws every character of text as it is."""
    if text.isascii():
        return text.isprintable()
    covered = _fonts().covered
    return text.isprintable() and all(ord(ch) in covered for ch in text)


@functools.lru_cache(maxsize=1 << 16)
def _em_width(word: str, font: str) -> float:
    """Width of word at size 1. Words recur across reports, so measuring each once pays."""
    return stringWidth(word, font, 1.0)


def _wrap_words(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy lines of text (single-spaced) no wider than width; over-long words are cut."""
    limit, space = width / size, _em_width(" ", font)
    lines: list[str] = []
    line: list[str] = []
    used = 0.0
    for word in text.split(" "):
        w = _em_width(word, font)
        if line and used + space + w <= limit:
            line.append(word)
            used += space + w
            continue
        if line:
            lines.append(" ".join(line))
        while w > limit and len(word) > 1:  # cut where the running width passes the limit
            run, cut = 0.0, 0
            while cut < len(word) and run + _em_width(word[cut], font) <= limit:
                run += _em_width(word[cut], font)
                cut += 1
            soft = max(word.rfind("/", 0, cut), word.rfind("-", 0, cut)) + 1  # URLs break after / or -
            cut = soft if soft > cut // 2 else max(cut, 1)
            lines.append(word[:cut])
            word = word[cut:]
            w = _em_width(word, font)
        line, used = [word], w
    lines.append(" ".join(line))
    return lines


#: one block of a cell: text, style name, and optionally a URL the text links to
Block = tuple[str, str] | tuple[str, str, str]


class _Lines(Flowable):
    """Blocks of plain text, each in one style and starting on a new line, word-wrapped.

    A fast stand-in for Paragraph in table cells: no markup to parse, and line breaking
    is a width sum. Paragraph parsing, breaking and drawing were three quarters of the
    render time. Only for text the main font draws entirely (see ``_cell``).
    """

    def __init__(self, blocks: list[tuple[str, ParagraphStyle, str | None]]):
        super().__init__()
        self._blocks = blocks
        self._wrapped_at: float | None = None
        self._lines: list[tuple[str, ParagraphStyle, str | None]] = []

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        if self._wrapped_at != availWidth:
            self._lines = [
                (line, st, link)
                for text, st, link in self._blocks
                for line in _wrap_words(text, st.fontName, st.fontSize, availWidth)
            ]
            self._shorten(availWidth)
            self.width, self.height = availWidth, sum(st.leading for _, st, _ in self._lines)
            self._wrapped_at = availWidth
        return self.width, self.height

    def _shorten(self, width: float) -> None:
        """Cut lines past _MAX_CELL_HEIGHT, with a note: a table row must fit on a page."""
        height = sum(st.leading for _, st, _ in self._lines)
        if height <= _MAX_CELL_HEIGHT:
            return
        note_style = _styles()["small"]
        note = [(line, note_style, None) for line in _wrap_words(_SHORTENED, note_style.fontName, note_style.fontSize, width)]
        budget = _MAX_CELL_HEIGHT - sum(st.leading for _, st, _ in note)
        kept, used = [], 0.0
        for line in self._lines:
            used += line[1].leading
            if used > budget:
                break
            kept.append(line)
        self._lines = kept + note

    def draw(self) -> None:
        if self._lines:
            text = self.canv.beginText()
            self.emit(self.canv, text, [None], 0.0, self.height)
            self.canv.drawText(text)

    def emit(self, canv: Canvas, text: object, state: list, x: float, top: float) -> None:
        """Add the lines to text (a text object shared by a table's cells), the first one
        hanging from (x, top); state[0] is the style text is currently set to."""
        current = state[0]
        for line, st, link in self._lines:  # font and colour only on change
            if st is not current:
                text.setFont(st.fontName, st.fontSize, st.leading)
                if current is None or st.textColor != current.textColor:
                    text.setFillColor(st.textColor)
                current = st
            # baseline 80% down the line's own leading, so mixed sizes keep even gaps
            text.setTextOrigin(x, top - 0.8 * st.leading)
            text.textOut(line)
            if link:
                width = stringWidth(line, st.fontName, st.fontSize)
                canv.linkURL(link, (x, top - st.leading, x + width, top), relative=1)
            top -= st.leading
        state[0] = current


class _Badge(Flowable):
    """A group's label in white on a rounded box of the group's colour, as tall as its lines."""

    _PAD_X, _PAD_Y = 3.0, 2.0

    def __init__(self, group: Group):
        super().__init__()
        self._group = group
        self._lines: list[str] = []

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        st = _styles()["badge"]
        self._lines = _wrap_words(self._group.label.upper(), st.fontName, st.fontSize, availWidth - 2 * self._PAD_X)
        text_w = max(stringWidth(line, st.fontName, st.fontSize) for line in self._lines)
        self.width = min(availWidth, text_w + 2 * self._PAD_X)
        self.height = len(self._lines) * st.leading + 2 * self._PAD_Y
        return self.width, self.height

    def draw(self) -> None:
        st, canv = _styles()["badge"], self.canv
        canv.setFillColor(self._group.colour)
        canv.roundRect(0, 0, self.width, self.height, 2, stroke=0, fill=1)
        text = canv.beginText(self._PAD_X, self.height - self._PAD_Y - st.fontSize + 0.5)
        text.setFont(st.fontName, st.fontSize, st.leading)
        text.setFillColor(st.textColor)
        for line in self._lines:
            text.textLine(line)
        canv.drawText(text)


_MAX_CELL_CHARS = 1500  # Paragraph cells (rare): a table row must fit on one page
_MAX_CELL_HEIGHT = 450.0  # points; _Lines cells
_SHORTENED = "[shortened here; the full text is in the output tables]"


def _cell(blocks: str | list[str | Block], width: float, style: str = "cell") -> Flowable:
    """A table cell showing data text as plain lines: each block is a string in ``style``,
    or (text, style) or (text, style, url).

    Text the main font draws entirely becomes a fast ``_Lines``; anything else (CJK,
    symbols the font lacks) an escaped Paragraph with per-character font fallback.
    Whitespace runs and line breaks inside a block become single spaces.
    """
    styles = _styles()
    parts: list[tuple[str, ParagraphStyle, str | None]] = []
    for block in [blocks] if isinstance(blocks, str) else blocks:
        text, name, link = (block, style, None) if isinstance(block, str) else (*block, None)[:3]
        text = " ".join(str(text).split())
        if text:
            parts.append((text, styles[name], link if link and _SAFE_URL.match(link) else None))
    if all(_drawable(text) for text, _, _ in parts):
        return _Lines(parts)
    for i, (text, st, link) in enumerate(parts):
        if len(text) > _MAX_CELL_CHARS:
            parts[i] = (f"{text[:_MAX_CELL_CHARS]} {_SHORTENED}", st, link)
    markup = "<br/>".join(
        f'<font name="{st.fontName}" size="{st.fontSize}" color="#{st.textColor.hexval()[2:]}">'
        f"{_markup(text)}</font>"
        for text, st, _ in parts
    )
    return _para(markup, style)


class _Grid(Flowable):
    """A table of flowable cells with a shaded header row repeated on every page it runs
    over; it looks like the ``LongTable`` it replaced (top-aligned cells, a rule under
    each row).

    reportlab's Table measures every cell again for each height estimate, page split and
    draw, and wraps each cell's drawing in its own graphics state; with a hundred rows
    that was most of a report's time. Here each cell is measured once, a split only
    slices the row list, and the ``_Lines`` cells of a page share one text object.
    """

    _TOP, _BOTTOM = 3.0, 3.5

    def __init__(self, rows: list[list[Flowable]], widths: list[float], heights: list[float] | None = None):
        super().__init__()
        self._rows, self._widths = rows, widths  # rows[0] is the header
        self._heights = heights
        self.width = sum(widths)

    def _measure(self) -> list[float]:
        if self._heights is None:
            pad = 2 * _CELL_PAD
            self._heights = [
                max((cell.wrap(w - pad, _MAX_CELL_HEIGHT * 4)[1] for cell, w in zip(row, self._widths)), default=0)
                + self._TOP + self._BOTTOM
                for row in self._rows
            ]
        return self._heights

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        self.height = sum(self._measure())
        return self.width, self.height

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        heights = self._measure()
        used, n = heights[0], 1
        while n < len(heights) and used + heights[n] <= availHeight:
            used += heights[n]
            n += 1
        if n == 1 or n == len(heights):  # not even one row fits (next frame), or all do
            return [] if n == 1 else [self]
        head = self._rows[:1]
        return [
            _Grid(self._rows[:n], self._widths, heights[:n]),
            _Grid(head + self._rows[n:], self._widths, heights[:1] + heights[n:]),
        ]

    def draw(self) -> None:
        canv, heights = self.canv, self._measure()
        top = self.height
        canv.setFillColor(_HEAD_BG)
        canv.rect(0, top - heights[0], self.width, heights[0], stroke=0, fill=1)
        # rules: accent under the header, thin grey under every other row
        canv.setStrokeColor(_ACCENT)
        canv.setLineWidth(0.8)
        canv.line(0, top - heights[0], self.width, top - heights[0])
        canv.setStrokeColor(_RULE)
        canv.setLineWidth(0.3)
        y = top - heights[0]
        rules = []
        for h in heights[1:]:
            y -= h
            rules.append((0, y, self.width, y))
        if rules:
            canv.lines(rules)
        text = canv.beginText()
        state: list = [None]  # the style the text object is set to
        y = top
        for row, h in zip(self._rows, heights):
            x = 0.0
            for cell, w in zip(row, self._widths):
                cell_top = y - self._TOP
                if isinstance(cell, _Lines):
                    cell.emit(canv, text, state, x + _CELL_PAD, cell_top)
                else:
                    cell.drawOn(canv, x + _CELL_PAD, cell_top - cell.height)
                x += w
            y -= h
        canv.drawText(text)


def _grid(rows: list[list], widths: list[float]) -> _Grid:
    """A table whose first row (strings) is a header repeated on every page."""
    rows[0] = [_cell(h, w, "head") for h, w in zip(rows[0], widths, strict=True)]
    return _Grid(rows, widths)


def _records(df: pd.DataFrame, columns: Iterable[str]) -> list:
    """Rows as named tuples with every schema column (absent ones are None)."""
    columns = list(columns)
    if any(c not in df.columns for c in columns):
        df = df.reindex(columns=columns)
    return list(df[columns].itertuples(index=False, name="Row"))


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


def _header(sample_id: str, batch: str, provenance: Mapping[str, str]) -> list:
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
        "another condition the report cannot know is listed as such. Details and references "
        "follow on the next pages. This report supports, and does not replace, clinical judgement."
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


def _summary(recs: list) -> list:
    """One row per consequence group: a coloured labelled badge, then its drugs.

    Drugs the guideline recommends nothing for are listed by name only, in small type:
    nothing is to be done. Drugs not assessed list, like the others, their genes: here
    the ones with no result, which a test could supply.
    """
    widths = [38 * mm, _FRAME_W - 38 * mm]
    rows, cmds = [], []
    for i, (g, drugs) in enumerate(zip(GROUPS, _drugs_by_group(recs).values(), strict=True)):
        if not drugs:
            text = "<font color='#80868B'>none</font>"
        elif g.key == "none":
            text = f"<font size=7>{_markup(', '.join(drugs))}</font>"  # names only: nothing to do
        else:
            text = ", &nbsp;".join(
                f"<b>{_markup(drug)}</b>" + (f" <font size=7 color='#5F6368'>({_markup(', '.join(genes))})</font>" if genes else "")
                + (f" <font size=7><i>{_markup(note)}</i></font>" if note else "")
                for drug, (genes, note) in drugs.items()
            )
        rows.append([_cell(g.label.upper(), widths[0], "badge"), _para(text)])
        cmds.append(("BACKGROUND", (1, i), (1, i), g.tint if drugs else colors.white))
    cmds += _badges(enumerate(GROUPS)) + [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, -1), 1.5, colors.white),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PAD + 2),
        ("BOX", (0, 0), (-1, -1), 0.5, _RULE),
    ]
    table = Table(rows, colWidths=widths, style=TableStyle(cmds))
    title = _para("Drug summary", "h1")
    if not recs:
        note = _para(
            "No recommendation rows were produced for this sample: no drug in the knowledge "
            "base has a guideline for the genes called.",
            "note",
        )
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
    title = _para("Genotypes", "h1")
    if not calls:
        return [title, _para("No genes were called for this sample.", "body")]
    widths = [22 * mm, 36 * mm, 21 * mm, 50 * mm, _FRAME_W - 129 * mm]
    rows: list[list] = [["Gene", "Diplotype or allele", "Activity score", "Phenotype", "Call status"]]
    for c in calls:
        rows.append(
            [
                _cell(str(c.gene), widths[0], "cell_b"),
                _diplotype_cell(c, widths[1]),
                _cell(_activity(c.activity_score), widths[2]),
                _cell(_text(c.phenotype, "–"), widths[3]),
                _call_status(c, widths[4]),
            ]
        )
    return [title, _grid(rows, widths)]


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


def _based_on(r: object) -> list[Block]:
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


def _strength(r: object) -> str:
    """'Strong recommendation'; nothing for CPIC's 'No Recommendation' or an empty strength."""
    strength = _text(r.strength).strip()
    if not strength or strength.lower() in ("no recommendation", "n/a", "none"):
        return ""
    return strength if "recommendation" in strength.lower() else f"{strength} recommendation"


def _advice(r: object) -> list[Block]:
    """Action, strength, alternative drugs and our text, as cell blocks.

    The dose factor shows only when there is no text: the text already gives the dose,
    often as a range (30-80%) that a single factor would misstate.
    """
    blocks: list[Block] = [(_ACTION_TEXT[str(r.action)], "cell_b"), (_strength(r), "small")]
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


def _reference(r: object) -> list[Block]:
    """Guideline name (prefixed by its source), PMIDs and URL, as cell blocks."""
    source, guideline = _text(r.source).strip(), _text(r.guideline).strip()
    if source and not guideline.upper().startswith(source.upper()):
        guideline = f"{source}: {guideline}" if guideline else source
    pmids = [p.strip() for p in re.split(r"[;,]", _text(r.pmid)) if p.strip()]
    label = "PMIDs" if len(pmids) > 1 else "PMID"
    url = _text(r.url).strip()
    return [(guideline, "small"), (f"{label} {', '.join(pmids)}" if pmids else "", "small"), (url, "link", url)]


def _badge_width() -> float:
    """Column width for the badges: labels break between words, never inside one."""
    badge = _styles()["badge"]
    widest = max(stringWidth(w, badge.fontName, badge.fontSize) for g in GROUPS for w in g.label.upper().split())
    return widest + 2 * (_CELL_PAD + _Badge._PAD_X) + 1


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
    strengths = [f"{_text(r.source) or 'Guideline'}: {_strength(r)}" for r in e.rows if _strength(r)]
    blocks: list[Block] = [(_ACTION_TEXT[e.action], "cell_b"), ("; ".join(dict.fromkeys(strengths)), "small")]
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


def _recommendation_table(entries: list[_Entry]) -> list:
    """Full rows for the recommendations that change something: avoid, an alternative, a
    dose change or monitoring."""
    title = _para("Recommendations that change the prescription", "h1")
    entries = [e for e in entries if e.group.key in _CHANGES]
    if not entries:
        return [title, _para("No drug has a genotype-based recommendation that changes its use for "
                             "this sample's results.", "body")]  # fmt: skip
    widths = [_badge_width(), 30 * mm, 34 * mm, 0, 40 * mm]
    widths[3] = _FRAME_W - sum(widths)
    rows: list[list] = [["Consequence", "Drug", "Based on", "Recommendation", "Guideline"]]
    for e in entries:
        rows.append(
            [
                _Badge(e.group),
                _cell(e.drug, widths[1], "cell_b"),
                _cell(_unique(b for r in e.rows for b in _based_on(r)), widths[2]),
                _cell(_merged_advice(e), widths[3]),
                _cell(_unique(b for r in e.rows for b in _reference(r)), widths[4]),
            ]
        )
    note = _para(
        "Sorted by consequence, then drug; CPIC and DPWG rows with the same action share a row. "
        "Texts are short summaries of the guideline's recommendation; read the guideline before "
        "acting on an unusual result.",
        "note",
    )
    return [title, note, Spacer(0, 3), _grid(rows, widths)]


def _short_reference(r: object) -> list[Block]:
    """One line: source (and strength), guideline name, PMIDs; the name links to the URL.
    A URL that is not a plain http(s) link is printed instead, so it is not lost."""
    source, guideline = _text(r.source).strip(), _text(r.guideline).strip()
    guideline = re.sub(r"^Annotation of\s+", "", guideline)
    if source and not guideline.upper().startswith(source.upper()):
        guideline = f"{source}: {guideline}" if guideline else source
    strength = _text(r.strength).strip()
    if strength and strength.lower() not in ("no recommendation", "n/a", "none"):
        guideline += f" ({strength})"
    pmids = [p.strip() for p in re.split(r"[;,]", _text(r.pmid)) if p.strip()]
    if pmids:
        guideline += f", PMID{'s' if len(pmids) > 1 else ''} {', '.join(pmids)}"
    url = _text(r.url).strip()
    if url and not _SAFE_URL.match(url):
        return [(guideline, "small"), (url, "small")]
    return [(guideline, "small", url)] if url else [(guideline, "small")]


def _extra_text(r: object) -> str:
    """A standard-dose text without what the table already says ("Use X at the usual dose",
    the source ending); empty when nothing is left."""
    text = _SUFFIX.sub("", " ".join(_text(r.text).split()))
    text = re.sub(rf"^Use {re.escape(str(r.drug))} at the usual dose\.?\s*", "", text, flags=re.IGNORECASE)
    return text.strip()


def _compact_table(entries: list[_Entry], group: str, title: str, note: str) -> list:
    """Drug, what it rests on, and per row a line of guideline reference (with any text
    beyond the table's own heading): for results that leave the prescription as it is."""
    entries = [e for e in entries if e.group.key == group]
    if not entries:
        return []
    widths = [34 * mm, 56 * mm, 0]
    widths[2] = _FRAME_W - sum(widths)
    rows: list[list] = [["Drug", "Based on", "Guideline and note"]]
    for e in entries:
        details: list[Block] = []
        for r in e.rows:
            extra = _extra_text(r) if group == "usual" else _SUFFIX.sub("", " ".join(_text(r.text).split()))
            if extra:
                details.append((extra, "small" if group in ("none", "untested") else "cell"))
            details += _short_reference(r)
            verbatim = _text(r.verbatim_text).strip()
            if verbatim:
                details.append((f"Guideline wording: {verbatim}", "small"))
        rows.append([_cell(e.drug, widths[0], "cell_b"), _cell(_unique(b for r in e.rows for b in _based_on(r)), widths[1]),
                     _cell(_unique(details), widths[2])])  # fmt: skip
    n = sum(len(e.rows) for e in entries)
    return [_para(escape(title), "h1"), _para(f"{len(entries)} drug(s), {n} row(s). {note}", "note"), Spacer(0, 3),
            _grid(rows, widths)]  # fmt: skip


def _standard_table(entries: list[_Entry]) -> list:
    return _compact_table(
        entries, "usual", "Use as usual",
        "The guidelines recommend the usual drug and dose for this result; a note follows only "
        "when the guideline adds something (such as letting drug levels guide the dose).",
    )  # fmt: skip


def _untested_table(entries: list[_Entry]) -> list:
    """Drugs without a recommendation because a gene they need has no result: compact rows,
    with a note naming those genes."""
    genes = sorted({g for e in entries if e.group.key == "untested" for r in e.rows for g in no_result_genes(r)})
    return _compact_table(
        entries, "untested", "Not assessed: a gene the drug needs has no result",
        f"No result for {', '.join(genes)} (not tested, or not called from the input), so the "
        "guidelines could not be applied: the pharmacogenetic risk of these drugs is unknown, "
        "not absent. Test the gene before prescribing if its result would change the decision "
        "(for example DPYD before a fluoropyrimidine, where that is the local standard).",
    )  # fmt: skip


def _no_guideline_table(entries: list[_Entry]) -> list:
    """Drugs the guidelines give no recommendation for with this result: compact rows."""
    return _compact_table(
        entries, "none", _GROUP_BY_KEY["none"].label,
        "Every gene these drugs need has a result, but the guideline recommends nothing for it "
        "or has no row for it; decide as you would without a genotype.",
    )  # fmt: skip


# --- what could not be called, methods, versions, limitations -----------------------


_POSITIONS_SHOWN = 12


def _positions(values: list) -> str:
    """Positions, the first few of a long list; the calls table has them all."""
    shown = ", ".join(str(int(v)) for v in values[:_POSITIONS_SHOWN])
    more = len(values) - _POSITIONS_SHOWN
    return f"{shown} and {more} more (all listed in the calls table)" if more > 0 else shown


def _gene_gaps(c: object) -> str:
    """One bullet for a gene: no-call and why, ambiguity, missing/assumed positions, novel
    variants, other warnings; empty when there is nothing to say."""
    status = str(c.call_status)
    warnings = "; ".join(map(str, _as_list(c.warnings)))
    said = []
    if status == "no_call":
        said.append("no call: " + (_markup(warnings) or "no reason was recorded") + ".")
    elif status == "ambiguous":
        said.append(f"{len(_as_list(c.alternatives))} diplotypes fit equally well; the data cannot tell them apart.")
    missing = _as_list(c.missing_positions)
    if missing:
        said.append(f"{len(missing)} position(s) missing from the input, not used: {_positions(missing)}.")
    assumed = _as_list(c.assumed_reference_positions)
    if assumed:
        said.append(f"{len(assumed)} position(s) absent from the input were <b>assumed to be reference</b> "
                    f"(option assume_reference): {_positions(assumed)}.")  # fmt: skip
    novel = _as_list(c.novel_variants)
    if novel:
        said.append(f"variant(s) not part of any known allele, ignored in the call: {_markup(', '.join(map(str, novel)))}.")
    if status != "no_call" and warnings:
        said.append(_markup(warnings) + ".")
    return f"<b>{_markup(c.gene)}</b>: " + " ".join(said) if said else ""


def _not_called(calls: list, recs: list, provenance: Mapping[str, str]) -> list:
    """What could not be called and why, gene by gene, then genes the test did not cover."""
    items = [item for item in map(_gene_gaps, sorted(calls, key=lambda c: str(c.gene))) if item]
    needed = sorted({str(g) for r in recs for g in _as_list(r.genes)} - {str(c.gene) for c in calls})
    if needed:
        items.append("Genes that guidelines for these drugs use but this test did not cover (looked up as "
                     f"'No Result'): {_markup(', '.join(needed))}.")  # fmt: skip
    if _assume_reference(provenance) and not any(_as_list(c.assumed_reference_positions) for c in calls):
        items.append("The option assume_reference was on, but no position needed it.")
    if not items:
        items.append("Every gene tested was called from the input, with no missing positions.")
    bullet = _styles()["bullet"]
    return [_para("What could not be called and why", "h1")] + [_Para(i, bullet, bulletText="•") for i in items]


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


def _methods_and_versions(provenance: Mapping[str, str]) -> list:
    widths = [42 * mm, _FRAME_W - 42 * mm]
    rows = [("Report generator", f"pgx {__version__} (pgx.report)"), *_provenance_rows(provenance)]
    rows = [[_cell(k, widths[0], "cell_b"), _cell(v, widths[1])] for k, v in rows]
    versions = Table(
        rows,
        colWidths=widths,
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.3, _RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
            ]
        ),
    )
    bullet = _styles()["bullet"]
    limitations = [_Para(escape(t), bullet, bulletText="•") for t in _LIMITATIONS]
    return [
        KeepTogether([_para("Methods", "h1"), _para(_METHODS, "body")]),
        _para("Versions and inputs", "h1"),
        versions,
        KeepTogether([_para("Limitations", "h1"), *limitations]),
    ]


# --- footer and document ------------------------------------------------------------


def _fit_runs(text: str, size: float, max_width: float) -> list[tuple[str, str]]:
    """(font, chunk) runs of text that fit max_width, cut with an ellipsis if needed."""
    main = _fonts().regular
    runs = [(font or main, chunk) for font, chunk in _runs(text)]
    if sum(stringWidth(c, f, size) for f, c in runs) <= max_width:
        return runs
    ellipsis = "\u2026" if ord("\u2026") in _fonts().covered else "..."
    budget = max_width - stringWidth(ellipsis, main, size)
    fitted: list[tuple[str, str]] = []
    for font, chunk in runs:
        kept = []
        for ch in chunk:
            budget -= stringWidth(ch, font, size)
            if budget < 0:
                break
            kept.append(ch)
        if kept:
            fitted.append((font, "".join(kept)))
        if budget < 0:
            break
    return fitted + [(main, ellipsis)]


class _FooterCanvas(Canvas):
    """A canvas that holds each page until the end, so its footer can say "page X of Y"."""

    def __init__(self, *args: object, sample_id: str, kb_version: str, date_stamp: str | None, **kw: object):
        super().__init__(*args, **kw)
        self._held: list[dict] = []
        self._sample_id = sample_id
        self._kb_version = kb_version
        if date_stamp:  # the PDF's CreationDate/ModDate: from provenance, never the clock
            self.setDateFormatter(lambda *_: date_stamp)

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._held.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._held)
        for number, state in enumerate(self._held, start=1):
            self.__dict__.update(state)
            self._footer(number, total)
            super().showPage()
        # binary page streams, not ASCII85: a quarter smaller and no slow pure-Python
        # encoder; reportlab reads this global only while saving, so set it just for that
        previous, rl_config.useA85 = rl_config.useA85, 0
        try:
            super().save()
        finally:
            rl_config.useA85 = previous

    def _footer(self, number: int, total: int) -> None:
        regular, bold = _fonts().regular, _fonts().bold
        y, right = 9 * mm, _PAGE_W - _LEFT
        self.saveState()
        self.setStrokeColor(_RULE)
        self.setLineWidth(0.5)
        self.line(_LEFT, y + 9, right, y + 9)
        self.setFillColor(_MUTED)
        page = f"Page {number} of {total}"
        self.setFont(bold, 8)
        self.drawRightString(right, y, page)
        kb = f"KB {self._kb_version}"
        kb_x = right - stringWidth(page, bold, 8) - 12
        kb_w = stringWidth(kb, regular, 7.5)
        self.setFont(regular, 7.5)
        self.drawRightString(kb_x, y, kb)
        x = _LEFT
        for font, chunk in _fit_runs(f"Sample {self._sample_id}", 7.5, kb_x - kb_w - 12 - _LEFT):
            self.setFont(font, 7.5)
            self.drawString(x, y, chunk)
            x += stringWidth(chunk, font, 7.5)
        self.restoreState()


def _pdf_date(when: datetime | None) -> str | None:
    """A PDF date string (D:YYYYMMDDHHmmSS+HH'mm') for the document information."""
    if when is None:
        return None
    minutes = int(when.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return when.strftime("D:%Y%m%d%H%M%S") + f"{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


class _DetailsBreak(ActionFlowable):
    """A page break if still on page 1: the details start on a new page, or go on right
    after a genotype table that already ran over to page 2."""

    def __init__(self) -> None:
        super().__init__(("pageBreak",))

    def apply(self, doc: SimpleDocTemplate) -> None:
        if doc.page == 1:
            doc.handle_pageBreak()


def _build(sample_id: str, calls: pd.DataFrame, recs: pd.DataFrame, provenance: Mapping[str, str], batch: str) -> bytes:
    """The PDF as bytes: the story of flowables laid out on A4 pages with the footer."""
    recs = _sorted_recommendations(recs)
    entries = _entries(recs)
    # genes with a result first: the top of page 1 is what a clinician reads
    calls = sorted(_records(calls, schema.CALLS.names), key=lambda c: (str(c.call_status) == "no_call", str(c.gene)))
    story = [
        *_header(sample_id, batch, provenance),
        *_summary(recs),
        *_genotype_table(calls),
        _DetailsBreak(),
        *_recommendation_table(entries),
        *_untested_table(entries),
        *_standard_table(entries),
        *_no_guideline_table(entries),
        *_not_called(calls, recs, provenance),
        *_methods_and_versions(provenance),
    ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=13 * mm,
        bottomMargin=17 * mm,
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
) -> Path:
    """Write the PDF report of one sample to ``out_path`` (atomically) and return the path.

    ``calls`` and ``recommendations`` are that sample's rows, with the columns of
    ``schema.CALLS`` and ``schema.RECOMMENDATIONS``; list columns may hold lists or numpy
    arrays. ``provenance`` holds text values (pipeline_version, kb_version, kb_sources,
    input_files, input_sha256, genome_build, options, created, ...); all are printed.
    Raises ValueError for a recommendation action not in ``schema.ACTIONS``.
    """
    provenance = {str(k): _text(v) for k, v in provenance.items()}
    pdf = _build(str(sample_id), calls, recommendations, provenance, str(batch))
    out_path = Path(out_path)
    with writing(out_path):  # a full disk or read-only folder: pgx: error, not a traceback
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(out_path)  # names this process, so a killed run's is cleaned later
        try:
            with open(tmp, "xb") as fh:  # honours the umask, unlike tempfile's 0600
                fh.write(pdf)
            os.replace(tmp, out_path)
        finally:
            tmp.unlink(missing_ok=True)
    return out_path


def render_reports(jobs: list[tuple], provenance: dict[str, str], batch: str) -> list[Path]:
    """Render several reports: ``jobs`` holds (sample_id, calls, recommendations, out_path)
    tuples. A module-level function, so a process pool can run it on chunks of a batch."""
    return [render_report(sid, calls, recs, provenance, Path(out), batch) for sid, calls, recs, out in jobs]
