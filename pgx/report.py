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

The sections live in their own modules: :mod:`pgx.report_groups` (consequence groups,
sorted and merged recommendation rows, the numbered references), :mod:`pgx.report_page1`,
:mod:`pgx.report_page2`, :mod:`pgx.report_appendix`; plain-language wording in
:mod:`pgx.report_words`; fonts, safe text and the fast flowables in
:mod:`pgx.report_layout`. This module puts them in order and writes the file. Output is
deterministic: reportlab's invariant mode, no clock. The PDF creation date and the printed
report date come from ``provenance["created"]`` (ISO 8601) when present. The file is built
in memory, written to a hidden temporary name in the target directory and renamed, so a
killed run leaves no half-written report.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
from reportlab.platypus import ActionFlowable, SimpleDocTemplate

from pgx import __version__
from pgx.outputs import atomic_path
from pgx.report_appendix import _appendix, _static_blocks
from pgx.report_groups import (  # noqa: F401 - GROUPS, _records and the rest: this module's interface
    _GROUP_BY_KEY,
    ACTION_GROUPS,
    GROUPS,
    Group,
    _entries,
    _Refs,
    _sorted_recommendations,
    group_key,
    no_result_genes,
)
from pgx.report_layout import (
    _BOTTOM_MARGIN,
    _FRAME_PAD,
    _FRAME_W,
    _TOP_MARGIN,
    PAPERS,
    _cell,
    _FooterCanvas,
    _fonts,
    _pdf_date,
    _side_margin,
    _styles,
    _text,
)
from pgx.report_page1 import _created, _drugs_by_group, _header, _summary
from pgx.report_page2 import _answer, _genotype_table
from pgx.report_rows import CALL_COLUMNS, _records, read_sample_rows, sample_rows  # noqa: F401 - interface
from pgx.report_words import plain_phenotype  # noqa: F401 - part of this module's interface

__all__ = [
    "ACTION_GROUPS",
    "GROUPS",
    "PAPERS",
    "group_key",
    "no_result_genes",
    "plain_phenotype",
    "render_report",
    "render_reports",
    "read_sample_rows",
    "sample_rows",
]


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
    calls = sorted(_records(calls, CALL_COLUMNS), key=lambda c: (str(c.call_status) == "no_call", str(c.gene)))
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
    arrays. A batch passes the rows :func:`sample_rows` made instead of DataFrames. ``provenance`` holds text values (pipeline_version, kb_version, kb_sources,
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
    with long_lived_frozen():
        return [render_report(sid, calls, recs, provenance, Path(out), batch, paper=paper, appendix=appendix)
                for sid, calls, recs, out in jobs]  # fmt: skip


_FROZEN = {"depth": 0}  # long_lived_frozen blocks open in this process (a forked worker inherits its parent's)
_FROZEN_LOCK = threading.Lock()
_YOUNG_THRESHOLD = 20_000  # allocations between young collections while reports are made (Python's default: 700)


@contextlib.contextmanager
def long_lived_frozen() -> Iterator[None]:
    """While reports are made, keep the garbage collector off the long-lived objects (the
    batch's rows, the per-process caches, fonts): ``gc.freeze`` moves every object alive
    now out of its reach, and young collections run less often. Collecting them again and
    again cost a few percent of a report. Before a pool forks it also keeps the workers from
    touching (and so copying) the memory they share with the parent, as the ``gc`` module's
    documentation advises. Cyclic garbage of each report is still collected. Restored on
    leaving the outermost block; a process that froze objects itself is left to manage its
    frozen objects (only the threshold changes)."""
    with _FROZEN_LOCK:
        outermost = _FROZEN["depth"] == 0
        _FROZEN["depth"] += 1
        if outermost:
            thresholds, freezing = gc.get_threshold(), gc.get_freeze_count() == 0
            if freezing:
                gc.freeze()
            gc.set_threshold(max(_YOUNG_THRESHOLD, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        with _FROZEN_LOCK:
            _FROZEN["depth"] -= 1
            if outermost:
                gc.set_threshold(*thresholds)
                if freezing:
                    gc.unfreeze()
