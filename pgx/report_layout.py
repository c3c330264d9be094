"""Layout machinery of the patient report (:mod:`pgx.report`): fonts, safe text, and fast flowables.

Everything here is built for speed and safety, not for one report's content:

- **Fonts** are registered once per process (:func:`_fonts`). The main font is DejaVu Sans
  (system font, else the copy matplotlib ships, else Helvetica with its cp1252 repertoire);
  CJK characters use reportlab's built-in CID fonts; any other character no font has is
  written as ``[U+XXXX]`` (a few symbols get an ASCII spelling), so two different sample IDs
  never print the same (:func:`_runs`, :func:`_markup`).
- **Styles** are built once per process (:func:`_styles`).
- **Flowables**: ``_Lines`` (plain word-wrapped text, a width sum per word), ``_Rich``
  (one paragraph of mixed-style runs, the page-1 summary), ``_Grid`` (a table that measures
  each cell once and draws the plain cells of a page in one text object), ``_Badge``.
  reportlab's ``Paragraph`` and ``Table`` re-parse and re-measure on every estimate, split
  and draw; they are used only where data holds characters the main font lacks.
- **Text** is written as PDF operators (:mod:`pgx.report_pdftext`), so the operators of a
  cell or paragraph are cached per process (``_CELL_OPS``, ``_RICH_OPS``) and the same
  cell is the same string in every report. Lists of items and page 2's lines are one
  splittable flowable each (``_stacked``, ``_RichStack``).
- **Pages**: ``_FooterCanvas`` holds the pages until the end so the footer can say "Page X
  of Y"; the text block has the same width on A4 and US Letter (:data:`PAPERS`).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import pandas as pd
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph

from pgx import palette
from pgx.report_pdftext import (
    _CELL_OPS,
    _CELL_OPS_MAX,
    _ascii_subset,
    _cell_ops,
    _encoded,
    _link,
    _TextOps,
    caching_subsets,
)

if TYPE_CHECKING:  # annotations only: pgx.report_groups imports this module
    from pgx.report_groups import Group

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
    regular = caching_subsets(TTFont("PgxSans", str(found[0])))
    pdfmetrics.registerFont(regular)
    pdfmetrics.registerFont(caching_subsets(TTFont("PgxSans-Bold", str(found[1]))))
    pdfmetrics.registerFontFamily("PgxSans", normal="PgxSans", bold="PgxSans-Bold", italic="PgxSans", boldItalic="PgxSans-Bold")
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
    kind = type(value)
    if kind is str:  # the common case first: these run a few hundred thousand times a batch
        return False
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _text(value: object, missing: str = "") -> str:
    if type(value) is str:
        return value
    return missing if _is_missing(value) else str(value)


def _as_list(value: object) -> list:
    """A list cell as a Python list: lists, tuples, numpy arrays, None and NaN alike."""
    if type(value) is tuple:  # already cleaned by _records
        return list(value)
    if value is None or isinstance(value, float | str) or value is pd.NA:
        if isinstance(value, str) and value:
            return [value]
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [v for v in value if not _is_missing(v)]


# --- styles and cells ---------------------------------------------------------------

#: paper sizes the report is set on (a setting: ``render_report(paper=...)``)
PAPERS: dict[str, tuple[float, float]] = {"A4": A4, "letter": LETTER}
_MARGIN = 15 * mm  # A4's side margin; the text block is as wide on US Letter, centred
_FRAME_PAD = 6  # SimpleDocTemplate's frame padding
_FRAME_W = A4[0] - 2 * (_MARGIN + _FRAME_PAD)  # usable width, the same on every paper
_TOP_MARGIN, _BOTTOM_MARGIN = 13 * mm, 17 * mm


def _side_margin(paper: str) -> float:
    """The left and right page margin on ``paper`` that centres the common text block."""
    return (PAPERS[paper][0] - _FRAME_W) / 2 - _FRAME_PAD


_INK = colors.HexColor(palette.INK)
_MUTED = colors.HexColor(palette.MUTED)
_RULE = colors.HexColor(palette.RULE)
_HEAD_BG = colors.HexColor(palette.HEAD_BG)
_ACCENT = colors.HexColor(palette.ACCENT)
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
        "bullet_s": make("bullet_s", fontSize=8, leading=10, leftIndent=9, bulletIndent=0),
        "h2": make("h2", fontName=f.bold, fontSize=10, leading=12.5, spaceBefore=6, spaceAfter=2, textColor=_ACCENT),
        "plain": make("plain", fontSize=8.5, leading=10.6),
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
    return list(_wrapped(text, font, size, width))


@functools.lru_cache(maxsize=1 << 15)
def _wrapped(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """``_wrap_words`` kept per process: most texts (guideline advice, headings, drug
    names) recur from patient to patient at the same width."""
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
    return tuple(lines)


def _main_fonts() -> tuple[str, str]:
    f = _fonts()
    return f.regular, f.bold


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
        self._lines: tuple[tuple[str, ParagraphStyle, str | None], ...] = ()
        self._plain: bool | None = None  # all lines ASCII, no links (known after wrapping)
        self._capped = True  # a table cell: cut past _MAX_CELL_HEIGHT (not a stack of items)
        self._layouts: dict[float, tuple] = {}  # width -> (lines, height), shared by copies (``copy``)
        # a heading's or bullet's space before and after, as Paragraph has it
        self.spaceBefore = blocks[0][1].spaceBefore if blocks else 0
        self.spaceAfter = blocks[-1][1].spaceAfter if blocks else 0

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        if self._wrapped_at != availWidth:
            layout = self._layouts.get(availWidth) if self._capped else None
            if layout is None:
                layout = self._layout(availWidth)
                if self._capped:
                    self._layouts[availWidth] = layout
            self._lines, self.height = layout
            self.width, self._wrapped_at, self._plain = availWidth, availWidth, None
        return self.width, self.height

    def _layout(self, width: float) -> tuple[tuple, float]:
        # a style with leftIndent is a bullet: "•" before its first line, the rest indented
        lines = [
            (f"\u2022\t{line}" if st.leftIndent and i == 0 else line, st, link)
            for text, st, link in self._blocks
            for i, line in enumerate(_wrapped(text, st.fontName, st.fontSize, width - st.leftIndent))
        ]
        if self._capped:
            lines = self._shorten(lines, width)
        return tuple(lines), sum(st.leading for _, st, _ in lines)

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        """Lines up to availHeight, and the rest: a stack of items (``_stacked``) runs over
        pages like the separate flowables it replaces, an item's lines may part."""
        self.wrap(availWidth, availHeight)
        if self.height <= availHeight:
            return [self]
        used, n = 0.0, 0
        while n < len(self._lines) and used + self._lines[n][1].leading <= availHeight:
            used += self._lines[n][1].leading
            n += 1
        if n == 0:
            return []
        return [self._part(self._lines[:n]), self._part(self._lines[n:])]

    def _part(self, lines: tuple) -> _Lines:
        part = _Lines(self._blocks)
        part._lines, part._wrapped_at, part._plain, part._capped = lines, self._wrapped_at, None, False
        part.width, part.height = self.width, sum(st.leading for _, st, _ in lines)
        part.spaceBefore = part.spaceAfter = 0
        return part

    def copy(self) -> _Lines:
        """A new flowable sharing this one's wrapped lines and layouts: platypus marks the
        flowables it lays out (``_postponed`` and the like), so one object must not go into
        two documents."""
        twin = _Lines(self._blocks)
        twin._wrapped_at, twin._lines, twin._plain = self._wrapped_at, self._lines, self._plain
        twin._capped, twin._layouts = self._capped, self._layouts
        if self._wrapped_at is not None:
            twin.width, twin.height = self.width, self.height
        return twin

    @staticmethod
    def _shorten(lines: list, width: float) -> list:
        """Lines cut past _MAX_CELL_HEIGHT, with a note: a table row must fit on a page."""
        height = sum(st.leading for _, st, _ in lines)
        if height <= _MAX_CELL_HEIGHT:
            return lines
        note_style = _styles()["small"]
        note = [(line, note_style, None) for line in _wrap_words(_SHORTENED, note_style.fontName, note_style.fontSize, width)]
        budget = _MAX_CELL_HEIGHT - sum(st.leading for _, st, _ in note)
        kept, used = [], 0.0
        for line in lines:
            used += line[1].leading
            if used > budget:
                break
            kept.append(line)
        return kept + note

    def draw(self) -> None:
        if self._lines:
            text = _TextOps(self.canv, _main_fonts())
            self.emit(text, 0.0, self.height)
            text.close()

    def emit(self, text: _TextOps, x: float, top: float) -> None:
        """Add the lines to text (a text object shared by a table's cells), the first one
        hanging from (x, top).

        Lines the main fonts' first subsets encode (``_encoded``) are written from a
        per-process cache of their operators: the first line placed at (x, top), each next
        one relative to it, so the same cell (a guideline's advice, a drug's basis) is the
        same string in every report. Links are added for the lines that have one.
        """
        if self._plain is None:
            self._plain = all(_encoded(line) is not None for line, _, _ in self._lines)
        names = text.main_subsets() if self._plain else None
        if names is not None:
            key = (self._lines, names)
            entry = _CELL_OPS.get(key)
            if entry is None:
                if len(_CELL_OPS) >= _CELL_OPS_MAX:
                    _CELL_OPS.clear()
                entry = _CELL_OPS[key] = _cell_ops(self._lines, dict(zip(_main_fonts(), names)))
            text.ops.append(f"1 0 0 1 {fp_str(x, top)} Tm")
            text.ops.append(entry[0])
            text.now(*entry[1:])
            for line, st, link in self._lines:
                if link:
                    line = line[2:] if st.leftIndent and line.startswith("\u2022\t") else line
                    width = stringWidth(line, st.fontName, st.fontSize)
                    _link(text.canv, link, (x + st.leftIndent, top - st.leading, x + st.leftIndent + width, top))
                top -= st.leading
            return
        canv = text.canv
        for line, st, link in self._lines:
            text.fill(st.textColor)
            # baseline 80% down the line's own leading, so mixed sizes keep even gaps
            indent = st.leftIndent
            if indent and line.startswith("\u2022\t"):
                text.at(x, top - 0.8 * st.leading)
                text.show("\u2022", st.fontName, st.fontSize)
                line = line[2:]
            text.at(x + indent, top - 0.8 * st.leading)
            text.show(line, st.fontName, st.fontSize)
            if link:
                width = stringWidth(line, st.fontName, st.fontSize)
                _link(canv, link, (x + indent, top - st.leading, x + indent + width, top))
            top -= st.leading


#: one run of a ``_Rich`` paragraph: text, font, size and colour
Run = tuple[str, str, float, colors.Color]


class _Rich(Flowable):
    """One paragraph of runs in several fonts, sizes and colours, word-wrapped greedily.

    The page-1 summary lists a group's drugs as bold names with their genes in small grey
    type; as a Paragraph, parsing that markup and breaking it was a third of a report's
    time. Words break only at spaces; a word may span runs ("codeine" then " (CYP2D6)").
    Only for text the main font draws entirely (the caller checks with ``_drawable``).
    """

    def __init__(self, runs: list[Run], leading: float, indent: float = 0.0, space_before: float = 0.0):
        super().__init__()
        self._leading, self._indent = leading, indent
        self.spaceBefore = space_before
        self._key = (tuple(runs), leading, indent)  # the same paragraph recurs across reports
        self._wrapped_at: float | None = None
        self._lines: tuple = ()

    @staticmethod
    def _width(word: tuple[tuple[str, str, float, colors.Color], ...]) -> float:
        return sum(_em_width(t, f) * size for t, f, size, _ in word)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        if self._wrapped_at != availWidth:
            self._lines = _rich_lines(self._key[0], availWidth - self._indent)
            self.width, self.height = availWidth, max(len(self._lines), 1) * self._leading
            self._wrapped_at = availWidth
        return self.width, self.height

    def draw(self) -> None:
        text = _TextOps(self.canv, _main_fonts())
        names = text.main_subsets()
        key = (self._key, self._wrapped_at, names)
        cached = _RICH_OPS.get(key) if names else None
        if cached is not None:
            text.ops.append(cached)
            text.close()
            return
        y = self.height - 0.8 * self._leading - 0.5
        for line in self._lines:
            text.at(self._indent, y)
            for i, word in enumerate(line):
                for j, (part, font, size, col) in enumerate(word):
                    text.fill(col)
                    text.show((" " if i and not j else "") + part, font, size)
            y -= self._leading
        if names and all(_encoded(run[0]) is not None and run[1] in _main_fonts() for run in self._key[0]):
            if len(_RICH_OPS) >= _CELL_OPS_MAX:
                _RICH_OPS.clear()
            _RICH_OPS[key] = " ".join(text.ops[1:])  # without "BT": the same in every document
        text.close()


_RICH_OPS: dict[tuple, str] = {}  # (paragraph, width, subset names) -> its operators


class _RichStack(Flowable):
    """Consecutive ``_Rich`` paragraphs (page 2's result lines and drug lines) as one
    flowable that splits between paragraphs: platypus' cost is per flowable. Each
    paragraph keeps its space before (dropped at the top of a part, as platypus drops it
    at the top of a frame)."""

    def __init__(self, items: list[_Rich]):
        super().__init__()
        self._items = items
        self.spaceBefore = items[0].spaceBefore if items else 0
        self._heights: list[float] = []

    def _gap(self, i: int) -> float:
        return self._items[i].spaceBefore if i else 0.0

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        self._heights = [item.wrap(availWidth, availHeight)[1] for item in self._items]
        self.width = availWidth
        self.height = sum(h + self._gap(i) for i, h in enumerate(self._heights))
        return self.width, self.height

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        self.wrap(availWidth, availHeight)
        if self.height <= availHeight:
            return [self]
        used, n = 0.0, 0
        while n < len(self._items) and used + self._heights[n] + self._gap(n) <= availHeight:
            used += self._heights[n] + self._gap(n)
            n += 1
        if n == 0:
            return []
        return [_RichStack(self._items[:n]), _RichStack(self._items[n:])]

    def draw(self) -> None:
        y = self.height
        for i, (item, h) in enumerate(zip(self._items, self._heights)):
            y -= self._gap(i) + h
            item.drawOn(self.canv, 0, y)


@functools.lru_cache(maxsize=1 << 13)
def _rich_lines(runs: tuple[Run, ...], width: float) -> tuple:
    """A ``_Rich`` paragraph's words (tuples of (text, font, size, colour) pieces; a run
    starting with a space starts a word) broken greedily into lines no wider than width."""
    lines: list[list] = []
    used = 0.0
    for piece in _word_bounded(runs):
        for word, w, space in _measured_words(piece):
            if lines and used + space + w <= width:
                lines[-1].append(word)
                used += space + w
            else:
                lines.append([word])
                used = w
    return tuple(tuple(line) for line in lines)


def _word_bounded(runs: tuple[Run, ...]) -> list[tuple[Run, ...]]:
    """Runs in pieces that start where a word must start (a run starting with a space): a
    piece, such as one drug of a summary list, recurs across reports even when the
    paragraph does not, so its words are measured once (``_measured_words``)."""
    pieces: list[list[Run]] = []
    for run in runs:
        if not pieces or run[0].startswith(" "):
            pieces.append([])
        pieces[-1].append(run)
    return [tuple(piece) for piece in pieces]


@functools.lru_cache(maxsize=1 << 14)
def _measured_words(runs: tuple[Run, ...]) -> tuple[tuple[tuple, float, float], ...]:
    """The words of runs that start a word, each with its width and the width of the space
    before it."""
    words: list[list[tuple[str, str, float, colors.Color]]] = []
    for text, font, size, colour in runs:
        for i, part in enumerate(text.split(" ")):
            if i > 0 or not words:
                words.append([])
            if part:
                words[-1].append((part, font, size, colour))
    return tuple((word, _Rich._width(word), _em_width(" ", word[0][1]) * word[0][2])
                 for word in (tuple(w) for w in words if w))  # fmt: skip


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


_SAFE_URL = re.compile(r"^https?://[^\s\"'<>]+$")
_MAX_CELL_CHARS = 1500  # Paragraph cells (rare): a table row must fit on one page
_MAX_CELL_HEIGHT = 450.0  # points; _Lines cells
_SHORTENED = "[shortened here; the full text is in the output tables]"


@functools.lru_cache(maxsize=1 << 15)
def _clean(text: object) -> tuple[str, bool]:
    """Text with whitespace runs as single spaces, and whether the main font draws it all."""
    text = " ".join(str(text).split())
    return text, _drawable(text)


def _stacked(flowables: Iterable[Flowable]) -> list[Flowable]:
    """Consecutive ``_Lines`` without space around them (list items: references, bullets)
    as one splittable flowable: platypus' cost is per flowable, and a report had ~200."""
    out: list[Flowable] = []
    for f in flowables:
        if isinstance(f, _Lines) and not (f.spaceBefore or f.spaceAfter):
            if out and type(out[-1]) is _Lines and not out[-1]._capped:
                out[-1]._blocks += f._blocks
                continue
            f = _Lines(list(f._blocks))  # a fresh one: f may be shared (``copy``)
            f._capped = False
        out.append(f)
    return out


def _cell(blocks: str | list[str | Block], width: float, style: str = "cell") -> Flowable:
    """A table cell showing data text as plain lines: each block is a string in ``style``,
    or (text, style) or (text, style, url).

    Text the main font draws entirely becomes a fast ``_Lines``, a copy of one made once per
    process for the same blocks (its line breaks are then shared too: the same guideline
    text or drug list recurs in report after report); anything else (CJK, symbols the font
    lacks) an escaped Paragraph with per-character font fallback. Whitespace runs and line
    breaks inside a block become single spaces.
    """
    key = blocks if isinstance(blocks, str) else tuple(blocks)
    prototype = _plain_cell(key, style)
    if prototype is not None:
        return prototype.copy()
    parts = _cell_parts(key, style)[0]
    for i, (text, st, link) in enumerate(parts):
        if len(text) > _MAX_CELL_CHARS:
            parts[i] = (f"{text[:_MAX_CELL_CHARS]} {_SHORTENED}", st, link)
    markup = "<br/>".join(
        f'<font name="{st.fontName}" size="{st.fontSize}" color="#{st.textColor.hexval()[2:]}">{_markup(text)}</font>'
        for text, st, _ in parts
    )
    return _para(markup, style)


@functools.lru_cache(maxsize=1 << 14)
def _plain_cell(blocks: str | tuple, style: str) -> _Lines | None:
    """The ``_Lines`` of a cell the main font draws entirely (None when it cannot): never
    laid out itself, only copied (``_Lines.copy`` shares its layouts)."""
    parts, plain = _cell_parts(blocks, style)
    return _Lines(parts) if plain else None


def _cell_parts(blocks: str | tuple, style: str) -> tuple[list[tuple[str, ParagraphStyle, str | None]], bool]:
    """The cell's non-empty blocks as (clean text, style, safe URL or None), and whether the
    main font draws them all."""
    styles = _styles()
    parts: list[tuple[str, ParagraphStyle, str | None]] = []
    plain = True
    for block in [blocks] if isinstance(blocks, str) else blocks:
        text, name, link = (block, style, None) if isinstance(block, str) else (*block, None)[:3]
        text, drawable = _clean(text)
        if text:
            parts.append((text, styles[name], link if link and _SAFE_URL.match(link) else None))
            plain = plain and drawable
    return parts, plain


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

    def __init__(self, rows: list[list[Flowable]], widths: list[float], heights: list[float] | None = None,
                 strips: list[colors.Color | None] | None = None):  # fmt: skip
        super().__init__()
        self._rows, self._widths = rows, widths  # rows[0] is the header
        self._heights = heights
        self._strips = strips or [None] * len(rows)  # a colour bar at the left of a row, or None
        self.width = sum(widths)

    def copy(self) -> _Grid:
        """A new flowable sharing this one's cells and row heights (see ``_Lines.copy``)."""
        twin = _Grid(self._rows, self._widths, self._heights, self._strips)
        if self._heights is not None:
            twin.height = sum(self._heights)
        return twin

    def _measure(self) -> list[float]:
        if self._heights is None:
            pad = 2 * _CELL_PAD
            self._heights = [
                max((cell.wrap(w - pad, _MAX_CELL_HEIGHT * 4)[1] for cell, w in zip(row, self._widths)), default=0)
                + self._TOP
                + self._BOTTOM
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
        head, strips = self._rows[:1], self._strips
        return [
            _Grid(self._rows[:n], self._widths, heights[:n], strips[:n]),
            _Grid(head + self._rows[n:], self._widths, heights[:1] + heights[n:], strips[:1] + strips[n:]),
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
        y = top
        for colour, h in zip(self._strips, heights):
            if colour is not None:
                canv.setFillColor(colour)
                canv.rect(0, y - h + 1.5, 2.2, h - 3, stroke=0, fill=1)
            y -= h
        text = _TextOps(canv, _main_fonts())
        y = top
        for row, h in zip(self._rows, heights):
            x = 0.0
            for cell, w in zip(row, self._widths):
                cell_top = y - self._TOP
                if isinstance(cell, _Lines):
                    cell.emit(text, x + _CELL_PAD, cell_top)
                else:
                    cell.drawOn(canv, x + _CELL_PAD, cell_top - cell.height)
                x += w
            y -= h
        text.close()


def _grid(rows: list[list], widths: list[float], strips: list | None = None) -> _Grid:
    """A table whose first row (strings) is a header repeated on every page; ``strips``
    gives each row (header included) a colour bar at its left, or None."""
    rows[0] = [_cell(h, w, "head") for h, w in zip(rows[0], widths, strict=True)]
    return _Grid(rows, widths, strips=strips)


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

    def __init__(self, *args: object, sample_id: str, kb_version: str, date_stamp: str | None, paper: str = "A4",
                 **kw: object):  # fmt: skip
        super().__init__(*args, **kw)
        self._paper = paper
        self._held: list[dict] = []
        self._sample_id = sample_id
        self._kb_version = kb_version
        if date_stamp:  # the PDF's CreationDate/ModDate: from provenance, never the clock
            self.setDateFormatter(lambda *_: date_stamp)
        for font in _main_fonts():  # _FIXED_CHARS get their codes before anything is drawn
            _ascii_subset(font, self._doc)

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
        left = _side_margin(self._paper) + _FRAME_PAD
        y, right = 9 * mm, left + _FRAME_W
        self.saveState()
        self.setStrokeColor(_RULE)
        self.setLineWidth(0.5)
        self.line(left, y + 9, right, y + 9)
        text = _TextOps(self, _main_fonts())  # the text in one text object (reportlab's drawString makes one per call)
        text.fill(_MUTED)
        page = f"Page {number} of {total}"
        page_w = stringWidth(page, bold, 8)
        text.at(right - page_w, y)
        text.show(page, bold, 8)
        kb = f"KB {self._kb_version}"
        kb_x = right - page_w - 12
        kb_w = stringWidth(kb, regular, 7.5)
        text.at(kb_x - kb_w, y)
        text.show(kb, regular, 7.5)
        x = left
        for font, chunk in _fit_runs(f"Sample {self._sample_id}", 7.5, kb_x - kb_w - 12 - left):
            text.at(x, y)
            text.show(chunk, font, 7.5)
            x += stringWidth(chunk, font, 7.5)
        text.close()
        self.restoreState()


def _pdf_date(when: datetime | None) -> str | None:
    """A PDF date string (D:YYYYMMDDHHmmSS+HH'mm') for the document information."""
    if when is None:
        return None
    minutes = int(when.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return when.strftime("D:%Y%m%d%H%M%S") + f"{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"
