"""DPWG recommendations (``cpic/dpwg/DPWG_<drug>_and_<GENE>.json``) as a second guideline source.

Each file is one PharmGKB annotation of one DPWG guideline (one drug, one gene). What
carries over is facts: the drug, the gene, the lookup keys (normalised as below), the
classification term (kept as the row's ``strength``: ``N/A``, ``No recommendation``, or
empty when the file has none), the guideline's URL and the PMIDs of the file's
``citations``. The recommendation HTML is reduced to plain text (:func:`html_to_text`)
and then to structured facts by the same rules as the CPIC rows
(:func:`pgx.kb_build.advice.read_text`); the row's ``text`` is written
from those facts and cites DPWG. No DPWG sentence goes into the knowledge base.

Lookup keys (one ``GENE=key`` per gene, as for CPIC; see :mod:`pgx.recommend`):

* phenotype and activity-score strings are kept as DPWG writes them (``Poor
  Metabolizer``, ``Decreased Function``, ``-1639 AA``, ``1.25``, ``≥3.5``);
* DPYD keys ``<score> (<X> Metabolizer)`` are the gene activity score of a genotype and
  become ``<score>`` (``1.5 (Intermediate Metabolizer)`` -> ``1.5``); keys
  ``<score> (Phenotyping)`` stay as written: DPWG's advice to measure DPD activity
  because the genotype alone does not decide (see :mod:`pgx.recommend` for how a score
  reaches them);
* ``{allele: count}`` keys (19 rows: CYP2C9 for phenytoin, siponimod, warfarin; UGT1A1
  for irinotecan) are genotypes and are written as a diplotype in the canonical allele
  order (:func:`pgx.naming.format_diplotype`): ``{"*3": 2}`` -> ``*3/*3``,
  ``{"*1": 1, "*80+*28": 1}`` -> ``*1/*80+*28``. A ``/`` in a key marks this kind;
  counts must add up to two;
* the HLA-B key ``1511 and 1502`` (carbamazepine: carrying both alleles) becomes the
  allele-status conjunction ``*15:02 positive + *15:11 positive``.

Row ids are ``DPWG:<PharmGKB recommendation id>``; drug ids are the CPIC drug id when
``drug.json`` knows the drug by its PharmGKB/ClinPGx accession, else ``PharmGKB:<PA id>``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pgx.errors import KnowledgeBaseError
from pgx.naming import format_diplotype

DPWG_DIR = "cpic/dpwg"
SOURCE = "DPWG"

_SCORE_WITH_PHENOTYPE = re.compile(r"^(?P<score>\d+(?:\.\d+)?) \((?:\w+ )*Metabolizer\)$")
_BOTH_HLA = re.compile(r"^(?P<a>\d{2})(?P<b>\d{2}) and (?P<c>\d{2})(?P<d>\d{2})$")


@dataclass(frozen=True)
class DpwgGuideline:
    """One DPWG file: its drug, gene, guideline fields and recommendations."""

    path: Path
    drug: str
    drug_pharmgkb_id: str
    gene: str
    guideline: dict  # {"name", "url", "publication": [{"pmid", "year"}]}
    recommendations: list[dict]
    version: str


def html_to_text(fragment: str) -> str:
    """Plain text of a DPWG recommendation: tags removed, entities decoded.

    Paragraph, list-item and line-break ends become sentence ends (a ``.`` is added
    when the block does not end with punctuation), so each block is its own sentence.
    """
    text = re.sub(r"(?i)<br\s*/?>|</(?:p|li|ul|ol|div|h\d)>", "\x00", fragment or "")
    text = re.sub(r"<[^>]+>", " ", text)
    text = html.unescape(text).replace("\xa0", " ")
    blocks = [re.sub(r"\s+", " ", b).strip() for b in text.split("\x00")]
    out = []
    for b in blocks:
        if not b:
            continue
        out.append(b if b[-1] in ".;:!?" else b + ".")
    return " ".join(out)


def normalise_key(gene: str, value: object, where: str) -> str:
    """One gene's DPWG lookup key in the KB's key grammar (see the module docstring)."""
    if isinstance(value, dict):
        alleles = [a for a, n in value.items() for _ in range(int(n))]
        if len(alleles) != 2 or any(float(n) != int(n) for n in value.values()):
            raise KnowledgeBaseError(f"{where}: {gene} allele counts {value} do not describe two alleles")
        return format_diplotype(alleles[0], alleles[1])
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeBaseError(f"{where}: {gene} lookup key {value!r} is neither text nor allele counts")
    value = value.strip()
    if m := _SCORE_WITH_PHENOTYPE.match(value):
        return m.group("score")
    if m := _BOTH_HLA.match(value):
        first, second = sorted([f"*{m['a']}:{m['b']}", f"*{m['c']}:{m['d']}"])
        return f"{first} positive + {second} positive"
    return value


def read_dpwg(sources: Path, genes: Sequence[str]) -> list[DpwgGuideline]:
    """Every DPWG file under ``sources/cpic/dpwg`` whose gene is one of ``genes``, by file name."""
    folder = Path(sources) / DPWG_DIR
    if not folder.is_dir():
        raise KnowledgeBaseError(f"{folder} is missing; is --sources pointing at the shared data?")
    out = []
    for path in sorted(folder.glob("DPWG_*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise KnowledgeBaseError(f"{path} is not valid JSON: {exc}") from exc
        try:
            g = doc["guideline"]
            (chem,) = g["relatedChemicals"]
            (gene,) = [x["symbol"] for x in g["relatedGenes"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise KnowledgeBaseError(f"{path}: expected one guideline with one drug and one gene ({exc})") from exc
        if gene not in genes:
            continue
        out.append(
            DpwgGuideline(
                path=path,
                drug=chem["name"],
                drug_pharmgkb_id=chem.get("id") or "",
                gene=gene,
                guideline={
                    "name": g.get("name") or "",
                    "url": g.get("url") or "",
                    "publication": [{"pmid": c.get("pmid"), "year": c.get("year")} for c in doc.get("citations") or []],
                },
                recommendations=doc.get("recommendations") or [],
                version=str(doc.get("version") or ""),
            )
        )
    return out


def dpwg_rows(guidelines: Sequence[DpwgGuideline], row_type) -> list:
    """``row_type`` (``SourceRow``) for every recommendation of ``guidelines``."""
    rows = []
    for g in guidelines:
        for r in g.recommendations:
            where = f"{g.path.name} recommendation {r.get('id')}"
            key = r.get("lookupKey") or {}
            if set(key) != {g.gene}:
                raise KnowledgeBaseError(f"{where}: lookup key genes {sorted(key)} are not the file's gene {g.gene}")
            rows.append(
                row_type(
                    recommendation_id=f"DPWG:{r['id']}",
                    drug=g.drug,
                    lookupkey={gene: normalise_key(gene, v, where) for gene, v in key.items()},
                    population=(r.get("population") or "").strip(),
                    classification=((r.get("classification") or {}).get("term") or "").strip(),
                    text=html_to_text((r.get("text") or {}).get("html") or ""),
                    guideline=g.guideline,
                    source=SOURCE,
                )
            )
    return rows


def drug_id(g: DpwgGuideline, cpic_drugs: dict[str, dict]) -> str:
    """The CPIC drug id of the same substance (by ClinPGx/PharmGKB accession), else ``PharmGKB:<id>``."""
    for d in cpic_drugs.values():
        if g.drug_pharmgkb_id and d.get("clinpgxid") == g.drug_pharmgkb_id:
            return d["drugid"]
    return f"PharmGKB:{g.drug_pharmgkb_id}" if g.drug_pharmgkb_id else ""


__all__ = ["DPWG_DIR", "SOURCE", "DpwgGuideline", "dpwg_rows", "drug_id", "html_to_text", "normalise_key", "read_dpwg"]
