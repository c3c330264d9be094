"""The ``outside_results`` table: results the VCF tables cannot express.

Three kinds of row (vocabulary declared with the table in ``pgx.schema.KB_TABLES``):

* ``allele_status`` (genes CPIC looks up by allele status and that are outside-call
  genes: HLA-A, HLA-B). For each allele PharmCAT reports a status for
  (``pharmcat/phenotypes.tsv`` "Named Alleles") or that a CPIC or DPWG lookup key
  names, both results ``*57:01 positive`` and ``*57:01 negative``; the lookup key is the
  result itself. Keys that are not of that form (DPWG's ``1511 and 1502``) are left to
  the recommendation builder.
* ``activity_score`` (activity-score genes): every score CPIC writes for the gene
  (``pharmcat/phenotypes.tsv`` "CPIC Activity Scores"), with its phenotype from the
  gene's ``phenotype_rules``. ``≥x`` scores come from alleles with three or more copies
  and are only reachable through outside calls; ``≥x`` takes the phenotype of the rule
  holding ``x``, which must be open-ended (otherwise the build stops).
* ``allele_activity``: an allele whose activity CPIC writes as a lower bound (CYP2D6
  ``*1x≥3``: ``≥3.0``). ``alleles.activity_value`` cannot hold it, so it is here; the
  ``lookup_key`` column holds the activity text. A diplotype's score adds the other
  allele's value and keeps the ``≥`` (``*1/*1x≥3`` -> ``≥4.0``); the build checks this
  rule against every phenotype-file diplotype with a ``≥`` score.

No gene is named here; genes differ only through their source files.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence

from pgx.errors import KnowledgeBaseError
from pgx.kb_build import alleles as al
from pgx.kb_build.phenotypes import rule_for
from pgx.kb_build.sources import SourceReader

PHENOTYPES_TSV = "pharmcat/phenotypes.tsv"
CPIC_RECOMMENDATIONS = "cpic/recommendation.json"
DPWG_DIR = "cpic/dpwg"

OUTSIDE_KINDS = ("allele_status", "activity_score", "allele_activity")
STATUSES = ("positive", "negative")
_STATUS = re.compile(r"^(?P<allele>\*\d{2,3}:\d{2,3}) (?P<status>positive|negative)$")


def phenotype_table(reader: SourceReader) -> dict[str, dict[str, str]]:
    """``pharmcat/phenotypes.tsv`` by gene."""
    return {row["Gene"]: row for row in reader.tsv_rows(PHENOTYPES_TSV)}


def split_list(cell: str) -> list[str]:
    """A ``;``-separated cell of phenotypes.tsv as a list (empty cell: [])."""
    return [x.strip() for x in (cell or "").split(";") if x.strip()]


# --- allele status ----------------------------------------------------------------------


def lookup_key_values(reader: SourceReader, genes: set[str]) -> dict[str, dict[str, set[str]]]:
    """gene -> {key value: {source file}} over CPIC's and DPWG's lookup keys, string values only."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in reader.json(CPIC_RECOMMENDATIONS):
        for gene, value in (row.get("lookupkey") or {}).items():
            if gene in genes and isinstance(value, str):
                found[gene][value].add(CPIC_RECOMMENDATIONS)
    dpwg = reader.path(DPWG_DIR)
    if dpwg.is_dir():
        for path in sorted(dpwg.glob("*.json")):
            rel = f"{DPWG_DIR}/{path.name}"
            doc = json.loads(path.read_bytes())
            for rec in doc.get("recommendations") or []:
                for gene, value in (rec.get("lookupKey") or {}).items():
                    if gene in genes and isinstance(value, str):
                        found[gene][value].add(rel)
            if any(rel in files for by_value in found.values() for files in by_value.values()):
                reader.json(rel)  # recorded in the manifest only when it contributes
    return found


def allele_status_rows(reader: SourceReader, sources: Sequence[al.GeneSources], methods: dict[str, str]) -> list[dict]:
    """Both statuses of every allele tested for the outside-call allele-status genes."""
    genes = {s.gene for s in sources if s.called_from == "outside" and methods[s.gene] == "allele_status"}
    if not genes:
        return []
    pheno = phenotype_table(reader)
    keys = lookup_key_values(reader, genes)
    rows = []
    for gene in sorted(genes):
        named: dict[str, set[str]] = defaultdict(set)
        for allele in split_list(pheno.get(gene, {}).get("Named Alleles", "")):
            named[allele].add(PHENOTYPES_TSV)
        for value, files in keys.get(gene, {}).items():
            m = _STATUS.match(value)
            if m:
                named[m["allele"]] |= files
        if not named:
            raise KnowledgeBaseError(f"{gene}: no allele statuses in {PHENOTYPES_TSV} or the guideline lookup keys")
        for allele, files in named.items():
            note = "tested allele named in " + ", ".join(sorted({_short(f) for f in files}))
            for status in STATUSES:
                result = f"{allele} {status}"
                rows.append(
                    {"gene": gene, "kind": "allele_status", "result": result, "phenotype": "", "lookup_key": result, "note": note}
                )
    return rows


def _short(path: str) -> str:
    """A DPWG file is named by its folder, the others by path."""
    return f"{DPWG_DIR}/*.json" if path.startswith(DPWG_DIR + "/") else path


# --- activity scores ----------------------------------------------------------------------


def score_value(text: str) -> tuple[float, bool]:
    """``(x, is_lower_bound)`` of a CPIC score text ``1.25`` / ``≥3.0``."""
    bound = text.startswith("≥")
    try:
        value = float(text.lstrip("≥"))
    except ValueError:
        raise KnowledgeBaseError(f"{PHENOTYPES_TSV}: activity score {text!r} is not a number") from None
    return value, bound


def format_score(value: float, bound: bool) -> str:
    """CPIC's spelling: ``0.0``, ``1.25``, ``≥4.0``."""
    text = f"{value:.2f}".rstrip("0")
    text = text + "0" if text.endswith(".") else text
    return ("≥" if bound else "") + text


def activity_score_rows(reader: SourceReader, rules_by_gene: dict[str, list[dict]]) -> list[dict]:
    """Every CPIC score of each activity-score gene, with the phenotype its rules give."""
    pheno = phenotype_table(reader)
    rows = []
    for gene in sorted(rules_by_gene):
        rules = sorted(rules_by_gene[gene], key=lambda r: (r["min_score"], r["max_score"]))
        for text in split_list(pheno.get(gene, {}).get("CPIC Activity Scores", "")):
            value, bound = score_value(text)
            rule = rule_for(rules, value)
            if rule is None:
                raise KnowledgeBaseError(f"{gene}: no score rule holds CPIC score {text}")
            if bound and not math.isinf(rule["max_score"]):
                raise KnowledgeBaseError(f"{gene}: score {text} is a lower bound inside the bounded rule {rule['phenotype']}")
            rows.append(
                {
                    "gene": gene,
                    "kind": "activity_score",
                    "result": text,
                    "phenotype": rule["phenotype"],
                    "lookup_key": text,
                    "note": f"score listed in {PHENOTYPES_TSV}; phenotype from phenotype_rules",
                }
            )
    return rows


# --- lower-bound allele activities ------------------------------------------------------


def allele_activity_rows(src: al.GeneSources, listed: set[str]) -> list[dict]:
    """Alleles (present in the alleles table) whose activity is a lower bound, checked."""
    bounds = {a: t for a, t in al.lower_bound_activities(src.phenotype).items() if a in listed}
    if not bounds:
        return []
    check_lower_bound_sums(src, bounds)
    return [
        {
            "gene": src.gene,
            "kind": "allele_activity",
            "result": allele,
            "phenotype": "",
            "lookup_key": text,
            "note": f"activity value of {allele} in {src.phenotype_path}; a score with it keeps the ≥",
        }
        for allele, text in sorted(bounds.items())
    ]


def diplotype_score_text(values: list[tuple[float, bool]]) -> str:
    """Score text of a diplotype from its alleles' ``(value, is_lower_bound)``."""
    return format_score(sum(v for v, _ in values), any(b for _, b in values))


def check_lower_bound_sums(src: al.GeneSources, bounds: dict[str, str]) -> None:
    """Each phenotype-file diplotype with a lower-bound allele must have the score our rule gives."""
    facts = al.allele_facts(src.gene, src.phenotype)
    problems = []
    for diplotype in (src.phenotype or {}).get("diplotypes") or []:
        key = diplotype["diplotypekey"]
        if not any(a in bounds for a in key):
            continue
        values: list[tuple[float, bool]] = []
        for allele, count in key.items():
            value = score_value(bounds[allele]) if allele in bounds else (facts.get(allele, (None, None))[1], False)
            values += [value] * int(count)
        expected = diplotype.get("lookupkey")
        got = "n/a" if any(v is None for v, _ in values) else diplotype_score_text(values)
        if got != expected:
            problems.append(f"{diplotype['diplotype']}: file {expected!r}, rule {got!r}")
    if problems:
        raise KnowledgeBaseError(
            f"{src.gene}: lower-bound activity sums disagree with the phenotype file: " + "; ".join(problems[:10])
        )


def build_outside_rows(
    reader: SourceReader,
    sources: Sequence[al.GeneSources],
    methods: dict[str, str],
    rules: list[dict],
    alleles: list[dict],
) -> list[dict]:
    """All ``outside_results`` rows for ``sources``."""
    rules_by_gene: dict[str, list[dict]] = defaultdict(list)
    for rule in rules:
        rules_by_gene[rule["gene"]].append(rule)
    listed: dict[str, set[str]] = defaultdict(set)
    for row in alleles:
        listed[row["gene"]].add(row["allele"])
    rows = allele_status_rows(reader, sources, methods)
    rows += activity_score_rows(reader, dict(rules_by_gene))
    for src in sources:
        rows += allele_activity_rows(src, listed[src.gene])
    return rows


__all__ = ["OUTSIDE_KINDS", "build_outside_rows", "format_score", "score_value"]
