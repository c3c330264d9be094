"""Build the ``drugs`` and ``recommendations`` KB tables from CPIC and DPWG.

The sources are read by :mod:`pgx.kb_build.cpic` (CPIC's export and older files) and
:mod:`pgx.kb_build.dpwg` (the DPWG guideline annotations, rows with ``source`` ``DPWG``;
their key normalisation is documented there). This module classifies each source
recommendation into KB rows.

What carries over is facts: the lookup keys (CPIC's verbatim), population,
classification, drug, guideline and publications. The guidelines' sentences do not: each
row's free text (DPWG: its HTML reduced to plain text) is read clause by clause into
structured advice by :mod:`pgx.kb_build.advice` (primary and other actions, conditions,
dose, schedule, caps, follow-up, alternatives, and per clause what it fed or why it is
not represented), and the row's ``text`` is written from those facts alone by
:mod:`pgx.kb_build.wording`, citing the source (``(CPIC, Strong)``, ``(DPWG)``).

One source recommendation gives one KB row per branch (``branch`` 1, 2, ...): a text whose
advice depends on a condition (``For malignancy: ... For nonmalignancy: ...``) gives one
row per condition, each with the same ``recommendation_id``. A CPIC ``population`` other
than ``general`` is filed as a condition too (``adults`` as age, ``CVI ACS PCI`` as
indication, ``CBZ naive`` as another condition), as the source writes it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pgx.errors import KnowledgeBaseError
from pgx.kb_build import dpwg
from pgx.kb_build.advice import Names, condition_kind, read_text, with_conditions
from pgx.kb_build.cpic import (
    SOURCE,
    STRENGTHS,
    CpicExport,
    SourceRow,
    cpic_drug_rows,
    current_rows,
    drug_names,
    guideline_pmids,
    legacy_rows,
    lookup_key_string,
    read_cpic,
)
from pgx.kb_build.wording import render_text
from pgx.schema import ACTIONS, KB_TABLES


# --- one source recommendation -> KB rows ------------------------------------------------


def strength_of(classification: str | None, source: str = SOURCE) -> str:
    """The classification as the KB ``strength``.

    CPIC: ``Strong``/``Moderate``/``Optional``/``No Recommendation``; ``n/a`` and
    unknown -> empty. DPWG has no strength grades: its classification term is kept as
    written (``N/A``, ``No recommendation``), empty when the file has none.
    """
    c = (classification or "").strip()
    if source != SOURCE:
        return c
    return c if c in STRENGTHS else ""


def population_conditions(population: str) -> dict[str, str]:
    """A CPIC population other than ``general`` as a condition of its kind (as written)."""
    p = (population or "").strip()
    if not p or p.lower() == "general":
        return {}
    if re.search(r"\b(?:CVI|NVI|ACS|PCI)\b", p):
        return {"indication": p}
    kind = condition_kind(p)
    if kind == "other" and re.search(r"adult|pediatric|child", p, re.IGNORECASE):
        kind = "age"
    return {kind: p}


def _joined(values) -> str:
    return ";".join(values)


def recommendation_records(row: SourceRow, names: Names) -> list[dict]:
    """The ``recommendations`` rows of one source recommendation (KB column order, one per
    branch), each with its :class:`Advice` under ``_advice`` and the reading under ``_reading``."""
    reading = read_text(row.text, row.classification, row.drug, names)
    strength = strength_of(row.classification, row.source)
    out = []
    for n, b in enumerate(reading.branches, start=1):
        b = with_conditions(b, **population_conditions(row.population))
        d = b.dose
        out.append(
            {
                "recommendation_id": row.recommendation_id,
                "branch": n,
                "source": row.source,
                "drug": row.drug,
                "genes": ";".join(sorted(row.lookupkey)),
                "lookup_key": lookup_key_string(row.lookupkey),
                "population": row.population,
                "indication": b.conditions.get("indication", ""),
                "age": b.conditions.get("age", ""),
                "risk_factors": b.conditions.get("risk_factors", ""),
                "other_conditions": b.conditions.get("other", ""),
                "action": b.action,
                "other_actions": _joined(b.other_actions),
                "dose_applies_to": d.applies_to if d else "",
                "dose_reference": d.reference if d else "",
                "dose_factor_min": d.low if d else None,
                "dose_factor_max": d.high if d else None,
                "dose_amount": b.amount,
                "dose_schedule": b.schedule,
                "dose_unchanged": b.unchanged,
                "dose_caps": _joined(b.caps),
                "followup": _joined(b.followup),
                "alternatives": _joined(b.alternatives),
                "not_alternatives": _joined(b.not_alternatives),
                "strength": strength,
                "text": render_text(row.drug, b, strength, row.source),
                "clauses": ";".join(f"{i}:{c}" for i, c in enumerate(reading.clauses, start=1)),
                "guideline": row.guideline.get("name") or "",
                "url": row.guideline.get("url") or "",
                "pmid": guideline_pmids(row.guideline),
                "_advice": b,
                "_reading": reading,
            }
        )
    return out


FLOAT_COLUMNS = ("dose_factor_min", "dose_factor_max")
INT_COLUMNS = ("branch",)


def recommendations_frame(records: list[dict]) -> pd.DataFrame:
    """The ``recommendations`` table: KB columns, sorted; strings, except the dose factors
    (float, NaN when unknown, rounded to 4 places: the KB writer spells every ``Float64``
    cell itself and writes a missing one as empty) and ``branch`` (int)."""
    cols = list(KB_TABLES["recommendations"])
    df = pd.DataFrame([{c: r[c] for c in cols} for r in records], columns=cols)
    text_cols = [c for c in cols if c not in FLOAT_COLUMNS + INT_COLUMNS]
    df[text_cols] = df[text_cols].astype(str)
    for c in FLOAT_COLUMNS:
        df[c] = df[c].astype("float64")
    df["branch"] = df["branch"].astype("int64")
    order = ["source", "drug", "lookup_key", "population", "recommendation_id", "branch"]
    return df.sort_values(order, kind="stable").reset_index(drop=True)


def drugs_frame(cpic: CpicExport, genes: Sequence[str], rec_drugs: set[str]) -> pd.DataFrame:
    """The CPIC part of the ``drugs`` table (see :func:`cpic_drug_rows`)."""
    return _drugs_table(cpic_drug_rows(cpic, genes, rec_drugs))


def dpwg_drug_rows(guidelines: Sequence[dpwg.DpwgGuideline], cpic: CpicExport) -> list[dict]:
    """One ``drugs`` row per DPWG file (drug-gene pair); DPWG has no levels (``cpic_level`` empty)."""
    return [
        {
            "source": dpwg.SOURCE,
            "drug": g.drug,
            "drug_id": dpwg.drug_id(g, cpic.drugs),
            "gene": g.gene,
            "cpic_level": "",
            "guideline": g.guideline["name"],
            "url": g.guideline["url"],
            "pmid": guideline_pmids(g.guideline),
        }
        for g in guidelines
    ]


def _drugs_table(rows: list[dict]) -> pd.DataFrame:
    cols = list(KB_TABLES["drugs"])
    df = pd.DataFrame(rows, columns=cols).astype(str)
    df = df.sort_values(["source", "drug", "gene", "drug_id"], kind="stable").reset_index(drop=True)
    dup = df.duplicated(["source", "drug", "gene"], keep=False)
    if dup.any():
        twice = df.loc[dup, ["source", "drug", "gene"]].values.tolist()
        raise KnowledgeBaseError(f"a guideline source lists a drug-gene pair twice: {twice}")
    return df


@dataclass
class Build:
    """Everything one build read and made: records (with ``_advice``), sources, files."""

    records: list[dict]
    cpic: CpicExport
    dpwg: list
    paths: list[Path]


def build_all(sources: Path, genes: Sequence[str]) -> Build:
    """Every CPIC and DPWG recommendation record for ``genes``, and the files read."""
    cpic = read_cpic(sources)
    guidelines = dpwg.read_dpwg(sources, genes)
    names = drug_names(cpic, extra=[g.drug for g in guidelines])
    old, old_paths = legacy_rows(sources, cpic, genes)
    rows = current_rows(cpic, genes) + old + dpwg.dpwg_rows(guidelines, SourceRow)
    records = [rec for r in rows for rec in recommendation_records(r, names)]
    ids = Counter((r["recommendation_id"], r["branch"]) for r in records)
    if any(n > 1 for n in ids.values()):
        raise KnowledgeBaseError(f"duplicate recommendation ids: {[i for i, n in ids.items() if n > 1][:5]}")
    return Build(records, cpic, guidelines, cpic.paths + old_paths + [g.path for g in guidelines])


def build_records(sources: Path, genes: Sequence[str]) -> tuple[list[dict], CpicExport, list[Path]]:
    """Every recommendation record (with ``_advice``) for ``genes``, the CPIC export, and the files read."""
    b = build_all(sources, genes)
    return b.records, b.cpic, b.paths


def build_recommendation_tables(sources: Path, genes: Sequence[str]) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """``{"drugs": df, "recommendations": df}`` for ``genes`` and the source files read.

    Both frames have exactly the ``KB_TABLES`` columns as strings (empty string =
    unknown), except ``recommendations.dose_factor_min/max`` (float, NaN when unknown)
    and ``branch`` (int).
    """
    b = build_all(Path(sources), tuple(genes))
    unknown = sorted({r["action"] for r in b.records} - set(ACTIONS))
    if unknown:
        raise KnowledgeBaseError(f"unknown actions {unknown}")
    recs = recommendations_frame(b.records)
    cpic_drugs = set(recs.loc[recs["source"] == SOURCE, "drug"])
    drugs = _drugs_table(cpic_drug_rows(b.cpic, tuple(genes), cpic_drugs) + dpwg_drug_rows(b.dpwg, b.cpic))
    return {"drugs": drugs, "recommendations": recs}, b.paths


# --- audit -------------------------------------------------------------------------------


def clause_counts(records: list[dict]) -> Counter:
    """Clauses over the distinct source recommendations: ``represented`` and one count per
    reason a clause is not represented (``not_represented:evidence``, ...)."""
    counts: Counter = Counter()
    seen = set()
    for r in records:
        if r["recommendation_id"] in seen:
            continue
        seen.add(r["recommendation_id"])
        for c in r["_reading"].clauses:
            counts["represented" if not c.startswith("-") else f"not_represented:{c[1:]}"] += 1
    return counts


def summarize_actions(records: list[dict], sample: int = 0) -> str:
    """A plain-text audit: actions, deciding rules, fallback rows, clauses, and a spread sample."""
    lines = ["action distribution (rows = branches):"]
    sources = sorted({r["source"] for r in records})
    by_source = {src: Counter(r["action"] for r in records if r["source"] == src) for src in sources}
    lines.append(f"  {'':22s} {'all':>5s}" + "".join(f" {src:>5s}" for src in sources))
    for action, n in Counter(r["action"] for r in records).most_common():
        lines.append(f"  {action:22s} {n:5d}" + "".join(f" {by_source[src][action]:5d}" for src in sources))
    lines.append("rules:")
    for rule, n in Counter(r["_advice"].rule for r in records).most_common():
        lines.append(f"  {rule:22s} {n}")
    fallback = [r for r in records if r["_advice"].rule == "fallback"]
    lines.append(f"fallback rows: {len(fallback)}")
    lines += [f"  {r['recommendation_id']} {r['drug']} {r['lookup_key']}" for r in fallback]
    lines.append("clauses:")
    lines += [f"  {k:32s} {n}" for k, n in sorted(clause_counts(records).items())]
    if sample:
        lines.append(f"sample of {sample}:")
        step = max(1, len(records) // sample)
        for r in sorted(records, key=lambda r: (r["drug"], r["recommendation_id"], r["branch"]))[::step][:sample]:
            lines.append(f"  {r['recommendation_id']}#{r['branch']} {r['drug']} [{r['action']}] {r['text']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pgx.kb_build.recommendations SOURCES [GENE ...]``: print the audit."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m pgx.kb_build.recommendations SOURCES [GENE ...]", file=sys.stderr)
        return 2
    from pgx.kb_build import DEFAULT_GENES

    sources, genes = Path(args[0]), args[1:] or list(DEFAULT_GENES)
    records, _, _ = build_records(sources, genes)
    print(summarize_actions(records, sample=40))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
