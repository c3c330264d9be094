"""The patient report's text and links written straight as PDF operators.

reportlab's text object maps every character of every string through the font subset
(``TTFont.splitString``, pure Python) and measures each string to move its cursor, and its
``linkURL`` builds a dozen PDF objects per link; together that was about a third of a
report's time. Here (:class:`_TextOps`) each line is placed by its own origin, and text
the main fonts' first subsets encode the same in every document (ASCII as itself, the
bullet and en dash as the fixed codes 1 and 2, given before anything is drawn) is written
as codes escaped once per process, so the operators of a table cell are cached per process
(``_CELL_OPS``). Other text, and fonts that are not TrueType, go through reportlab's text
object. Links are written as their bytes (:class:`_Link`). The embedded font programs
(the subsets of the main fonts) are cut and compressed once per process for each distinct
set of characters (:class:`_SubsetCachingFace`): most reports use the same set. The
flowables of :mod:`pgx.report_layout` use this module.
"""

from __future__ import annotations

import functools
import zlib

from reportlab.lib import colors
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import DummyDoc, PDFArray, PDFName, PDFObject, PDFString, PDFZCompress
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace
from reportlab.pdfgen.canvas import Canvas


#: the non-ASCII characters the report writes itself (bullet, en dash): every document gives
#: them codes 1 and 2 of each main font's first subset before anything is drawn
#: (``_ascii_subset``), so text holding them is encoded the same in every report
_FIXED_CHARS = "\u2022\u2013"
_FIXED_CODES = {ord(ch): chr(i + 1) for i, ch in enumerate(_FIXED_CHARS)}


@functools.lru_cache(maxsize=1 << 16)
def _encoded(text: str) -> str | None:
    """Text as codes of a main font's first subset (ASCII as itself, ``_FIXED_CHARS`` as
    1, 2, ...), or None when it holds another character (or a control character)."""
    if not text.isascii() and not text.translate(_FIXED_CODES).isascii():
        return None
    if not text.replace("\t", " ").isprintable():  # a bullet line's tab is placed, not drawn
        return None
    return text.translate(_FIXED_CODES)


@functools.lru_cache(maxsize=1 << 16)
def _shown(code: str) -> str:
    """The operator showing ``_encoded`` text, the same in every document: escaped once
    per process."""
    return f"({escapePDF(code)}) Tj"


@functools.lru_cache(maxsize=64)
def _fill_op(colour: colors.Color) -> str:
    return f"{fp_str(colour.red, colour.green, colour.blue)} rg"


class _TextOps:
    """One PDF text object of the report's plain text, written as operators.

    reportlab's text object maps every character of every string through the font subset
    (``TTFont.splitString``, pure Python) and measures it to move its cursor; that was a
    quarter of a report's time. Here each line is placed by its own origin and ASCII text
    in a TrueType font, whose subset-0 codes are the ASCII codes in every document, is
    written as it is (escaped once per process). Other text, and fonts that are not
    TrueType, go through reportlab's text object.
    """

    def __init__(self, canv: Canvas, main_fonts: tuple[str, str]):
        self.canv, self._doc = canv, canv._doc
        self._main_fonts = main_fonts  # the regular and bold main font (``main_subsets``)
        self.ops: list[str] = ["BT"]
        self._font: tuple[str, float] | None = None  # (font name, size) set in the PDF
        self._subset: int | None = None  # the subset of _font set in the PDF (None: must set)
        self._colour: colors.Color | None = None
        self._fallback = None
        self._subset0: dict[str, str | None] = {}  # font -> name of its ASCII subset in this document
        self._main: tuple[str, str] | None | bool = False  # main_subsets(), once known

    def fill(self, colour: colors.Color) -> None:
        if colour is not self._colour and colour != self._colour:
            self.ops.append(_fill_op(colour))
            self._colour = colour

    def at(self, x: float, y: float) -> None:
        self.ops.append(f"1 0 0 1 {fp_str(x, y)} Tm")

    def show(self, text: str, font: str, size: float) -> None:
        """Text in font and size at the current point (after ``at`` or the previous text)."""
        if (font, size) != self._font:
            self._font, self._subset = (font, size), None
        if font not in self._subset0:
            self._subset0[font] = _ascii_subset(font, self._doc)
        subset0 = self._subset0[font]
        code = _encoded(text) if subset0 is not None else None
        if code is not None:
            if self._subset != 0:
                self.ops.append(f"{subset0} {fp_str(size)} Tf")
                self._subset = 0
            self.ops.append(_shown(code))
            return
        if self._fallback is None:
            self._fallback = self.canv.beginText()
        other = self._fallback
        other._code = []
        other.setFont(font, size)
        other.textOut(text)
        self.ops += other._code
        self._subset = None  # it may have set another subset or font

    def main_subsets(self) -> tuple[str, str] | None:
        """The ASCII subset names of the regular and bold main font in this document, or
        None when they are not TrueType fonts with ASCII codes (nothing is cached then)."""
        if self._main is False:
            names = []
            for font in self._main_fonts:
                if font not in self._subset0:
                    self._subset0[font] = _ascii_subset(font, self._doc)
                names.append(self._subset0[font])
            self._main = tuple(names) if all(names) else None
        return self._main

    def now(self, font: tuple[str, float], colour: colors.Color) -> None:
        """Record the font (in its ASCII subset) and colour that cached operators left set."""
        self._font, self._subset, self._colour = font, 0, colour

    def close(self) -> None:
        """Add the text object to the page."""
        if len(self.ops) > 1:
            self.ops.append("ET")
            self.canv._code.append(" ".join(self.ops))
        self.ops = ["BT"]


_CELL_OPS: dict[tuple, tuple[str, tuple[str, float], colors.Color]] = {}  # see _Lines.emit
_CELL_OPS_MAX = 20_000


def _cell_ops(lines: list[tuple[str, ParagraphStyle, str | None]],
              names: dict[str, str]) -> tuple[str, tuple[str, float], colors.Color]:  # fmt: skip
    """Operators writing ASCII lines (no links, main fonts only) from a text origin at the
    top left of the first line's box: each baseline 80% down its line's leading, moved to
    by ``Td`` relative to the line before; font and colour set at the start. Returns them
    with the font and colour they leave set."""
    ops: list[str] = []
    font: tuple[str, float] | None = None
    colour = None
    top = px = py = 0.0
    for line, st, _ in lines:
        if colour is None or st.textColor != colour:
            ops.append(_fill_op(st.textColor))
            colour = st.textColor
        if (st.fontName, st.fontSize) != font:
            font = (st.fontName, st.fontSize)
            ops.append(f"{names[st.fontName]} {fp_str(st.fontSize)} Tf")
        y = top - 0.8 * st.leading
        if st.leftIndent and line.startswith("\u2022\t"):  # the bullet at the left, the text indented
            ops.append(f"{fp_str(-px, y - py)} Td")
            ops.append(_shown(_encoded("\u2022")))
            px, py, line = 0.0, y, line[2:]
        ops.append(f"{fp_str(st.leftIndent - px, y - py)} Td")
        ops.append(_shown(_encoded(line)))
        px, py = st.leftIndent, y
        top -= st.leading
    return " ".join(ops), font, colour


def _ascii_subset(font: str, doc: object) -> str | None:
    """The PDF name of subset 0 of a TrueType font in doc, when its ASCII codes are the
    characters themselves; None for other fonts."""
    known = doc.__dict__.setdefault("_pgx_ascii_subsets", {})  # font -> name, kept on the document
    if font not in known:
        face, known[font] = pdfmetrics.getFont(font), None
        if getattr(face, "_dynamicFont", False):
            state = face._assignState(doc)
            if state.nextCode == 1:  # nothing beyond ASCII assigned yet: give _FIXED_CHARS their codes
                face.splitString(_FIXED_CHARS, doc)
            fixed = all(state.assignments.get(ord(ch)) == ord(code) for ch, code in
                        zip(_FIXED_CHARS, _FIXED_CODES.values()))  # fmt: skip
            if fixed and all(state.assignments.get(code) == code for code in range(32, 127)):
                known[font] = face.getSubsetInternalName(0, doc)
    return known[font]


class _Link(PDFObject):
    """A link annotation (a URL hotspot, no border) written as its bytes. reportlab's
    ``linkURL`` builds a dictionary of a dozen PDF objects per link and formats each while
    saving; a report has about ninety links (the references), which cost an eighth of its
    time that way."""

    def __init__(self, rect: tuple[float, float, float, float], url: str):
        self._rect, self._url = rect, url

    def format(self, document: object) -> bytes:
        return (b"<< /A << /S /URI /Type /Action /URI " + _pdf_string(self._url) + b" >> /Border [ 0 0 0 ] /Rect [ "
                + fp_str(*self._rect).encode("ascii") + b" ] /Subtype /Link /Type /Annot >>")  # fmt: skip


@functools.lru_cache(maxsize=1 << 12)
def _pdf_string(text: str) -> bytes:
    """A PDF string literal, as reportlab writes it in an unencrypted document."""
    return PDFString(text).format(DummyDoc())


def _link(canv: Canvas, url: str, rect: tuple[float, float, float, float]) -> None:
    """Make rect (in the current coordinates) a link to url."""
    canv._addAnnotation(_Link(canv._absRect(rect, relative=1), url))


class _SubsetCachingFace(TTFontFace):
    """A TrueType face whose embedded subsets are made and compressed once per process for
    each distinct subset: cutting a subset out of DejaVu Sans and deflating it cost about
    2 ms per report, twice (regular and bold), and nearly every report embeds the same
    characters. The bytes are the ones reportlab writes (same subset, same deflate)."""

    def makeSubset(self, subset: list[int]) -> bytes:  # noqa: N802 - reportlab's name
        return _subset_program(self, tuple(subset))[0]

    def addSubsetObjects(self, doc: object, fontname: str, subset: list[int]) -> object:  # noqa: N802
        descriptor = super().addSubsetObjects(doc, fontname, subset)
        if getattr(doc, "compression", 0):  # put in the deflated program: the stream then skips its filter
            program = doc.idToObject[doc.idToObject[descriptor.name].dict["FontFile2"].name]
            program.content = _subset_program(self, tuple(subset))[1]
            program.dictionary["Filter"] = PDFArray([PDFName(PDFZCompress.pdfname)])
        return descriptor


@functools.lru_cache(maxsize=64)
def _subset_program(face: _SubsetCachingFace, subset: tuple[int, ...]) -> tuple[bytes, bytes]:
    """The font program of ``subset`` of ``face``, as it is and deflated."""
    program = TTFontFace.makeSubset(face, list(subset))
    return program, zlib.compress(program)


class _SubsetCachingFont(TTFont):
    """A TrueType font whose subsets' width arrays are written once per process for each
    distinct subset (256 numbers formatted one by one, per subset and per report)."""

    def addObjects(self, doc: object) -> None:  # noqa: N802 - reportlab's name
        state = self.state.get(doc)
        names = [self.getSubsetInternalName(n, doc)[1:] for n in range(len(state.subsets))] if state else []
        super().addObjects(doc)
        fonts = doc.idToObject["BasicFonts"].dict
        for name in names:
            widths = getattr(fonts.get(name), "Widths", None)
            if isinstance(widths, PDFArray):
                fonts[name].Widths = _Written(_array_bytes(tuple(widths.sequence)))


class _Written(PDFObject):
    """A PDF object already written as bytes."""

    def __init__(self, data: bytes):
        self._data = data

    def format(self, document: object) -> bytes:
        return self._data


@functools.lru_cache(maxsize=64)
def _array_bytes(numbers: tuple) -> bytes:
    return PDFArray(list(numbers)).format(DummyDoc())


def caching_subsets(font: TTFont) -> TTFont:
    """``font`` made a :class:`_SubsetCachingFont` with a :class:`_SubsetCachingFace` (both
    only add caching, so their classes are switched in place rather than parsing the font
    file again)."""
    font.__class__ = _SubsetCachingFont
    font.face.__class__ = _SubsetCachingFace
    return font
