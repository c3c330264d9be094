"""The appendix of the patient report: everything beyond the clinical answer, for the record.

It starts on a new page under a clear title and holds the recommendations that change the
prescription in full, the drugs the result does not change (one row per set of gene
results), what could not be called (one line per gene, with counts of absent positions
that the calls table lists), methods, versions, inputs and checksums, and limitations.
What is the same on every report (methods, limitations, a batch's versions table) is laid
out once per process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Spacer

from pgx import __version__
from pgx.placement import CONDITION_COLUMNS
from pgx.report_groups import (
    _CHANGES,
    _GROUP_BY_KEY,
    _SUFFIX,
    _cite,
    _Entry,
    _heading,
    _Refs,
    _unique,
    no_result_genes,
)
from pgx.report_layout import (
    _FRAME_W,
    Block,
    _as_list,
    _cell,
    _Grid,
    _grid,
    _is_missing,
    _Lines,
    _stacked,
    _text,
)
from pgx.report_words import ACTION_TEXT, strength

# --- provenance: the versions table ---------------------------------------------------

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


def _assume_reference(provenance: Mapping[str, str]) -> bool:
    """Whether the run filled absent positions as reference (``options`` text or ``option:`` key)."""
    if provenance.get("option:assume_reference", "").strip().lower() in ("true", "1", "yes"):
        return True
    return bool(_ASSUME_REF.search(provenance.get("options", "")))


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


@functools.lru_cache(maxsize=1 << 13)
def _what_it_adds(r: object, drug: str, usual: bool) -> str:
    """A row's text as a grouped table prints it: for "use as usual" only what it adds to
    the heading (``_extra_text``), the drug's name as "the drug"; cached per row."""
    extra = _extra_text(r) if usual else _SUFFIX.sub("", " ".join(_text(r.text).split()))
    return re.sub(rf"\b{re.escape(drug)}\b", "the drug", extra, flags=re.IGNORECASE) if extra else ""


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
                extra = _what_it_adds(r, e.drug, group == "usual")
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
    return [_heading("What could not be called and why", "h2"), *_stacked(_cell([(i, "bullet")], _FRAME_W) for i in items)]


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
        *_stacked(block.copy() for block in _static_blocks()),
        *_versions(provenance),
        *refs.listing("References (continued)" if refs.printed else "References"),
    ]  # fmt: skip
