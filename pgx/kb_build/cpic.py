"""Read CPIC's recommendations: the API export and, for drugs it lacks, the older per-drug files.

Sources (paths relative to the sources directory, see ``../shared/data/README.md``):
``cpic/recommendation.json``, ``drug.json``, ``guideline.json``, ``pair_view.json``;
for guidelines the current export has no rows for (ondansetron, tropisetron),
``cpic/cpic-v1.30/<drug>.json``. Each recommendation becomes a :class:`SourceRow` (the
DPWG reader, :mod:`pgx.kb_build.dpwg`, makes the same rows for its files), each gene-drug
pair a ``drugs`` row. What is read is facts: the lookup keys (verbatim), population,
classification, drug, guideline and publications, and the text, which
:mod:`pgx.kb_build.recommendations` reads clause by clause (its sentences do not carry over).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pgx.errors import KnowledgeBaseError
from pgx.kb_build.advice import Names


CPIC_DIR = "cpic"
CPIC_FILES = ("recommendation.json", "drug.json", "guideline.json", "pair_view.json")
LEGACY_DIR = "cpic-v1.30"
SOURCE = "CPIC"
STRENGTHS = ("Strong", "Moderate", "Optional", "No Recommendation")


@dataclass
class CpicExport:
    """The four CPIC API tables, indexed as the build needs them."""

    recommendations: list[dict]
    drugs: dict[str, dict]  # drugid -> drug
    guidelines: dict[int, dict]  # id -> guideline
    pairs: list[dict]
    paths: list[Path] = field(default_factory=list)

    @property
    def guidelines_by_name(self) -> dict[str, dict]:
        return {g["name"]: g for g in self.guidelines.values()}


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise KnowledgeBaseError(f"source file {path} is missing; is --sources pointing at the shared data?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseError(f"{path} is not valid JSON: {exc}") from exc


def read_cpic(sources: Path) -> CpicExport:
    """Read the CPIC API tables under ``sources/cpic``."""
    paths = [Path(sources) / CPIC_DIR / name for name in CPIC_FILES]
    recs, drugs, guidelines, pairs = (_read_json(p) for p in paths)
    return CpicExport(
        recommendations=recs,
        drugs={d["drugid"]: d for d in drugs},
        guidelines={g["id"]: g for g in guidelines},
        pairs=pairs,
        paths=paths,
    )


def guideline_pmids(guideline: dict | None) -> str:
    """The guideline's publications as ``;``-joined PMIDs, oldest first."""
    pubs = (guideline or {}).get("publication") or []
    ordered = sorted(pubs, key=lambda p: (p.get("year") or 0, str(p.get("pmid"))))
    return ";".join(str(p["pmid"]) for p in ordered if p.get("pmid"))


def lookup_key_string(lookupkey: dict[str, str]) -> str:
    """``GENE=key;GENE=key`` with genes sorted; CPIC's keys verbatim."""
    for gene, key in lookupkey.items():
        if any(c in f"{gene}{key}" for c in ";="):
            raise KnowledgeBaseError(f"lookup key {gene}={key!r} contains ';' or '='")
    return ";".join(f"{g}={lookupkey[g]}" for g in sorted(lookupkey))


@dataclass(frozen=True)
class SourceRow:
    """One CPIC recommendation, whichever file it came from."""

    recommendation_id: str
    drug: str
    lookupkey: dict
    population: str
    classification: str
    text: str
    guideline: dict
    source: str = SOURCE


def current_rows(cpic: CpicExport, genes: Sequence[str]) -> list[SourceRow]:
    """Rows of ``recommendation.json`` whose lookup key involves one of ``genes``."""
    wanted = set(genes)
    rows = []
    for r in cpic.recommendations:
        if not wanted & set(r["lookupkey"]):
            continue
        drug = cpic.drugs.get(r["drugid"])
        guideline = cpic.guidelines.get(r["guidelineid"])
        if drug is None or guideline is None:
            raise KnowledgeBaseError(f"CPIC recommendation {r['id']} names unknown drug {r['drugid']} or guideline")
        rows.append(_source_row(f"CPIC:{r['id']}", drug["name"], r, guideline))
    return rows


def _source_row(rid: str, drug: str, r: dict, guideline: dict) -> SourceRow:
    return SourceRow(
        recommendation_id=rid,
        drug=drug,
        lookupkey=r["lookupkey"],
        population=(r.get("population") or "").strip(),
        classification=r.get("classification") or "",
        text=r.get("drugrecommendation") or "",
        guideline=guideline,
    )


def legacy_rows(sources: Path, cpic: CpicExport, genes: Sequence[str]) -> tuple[list[SourceRow], list[Path]]:
    """Rows from ``cpic/cpic-v1.30/*.json`` for drugs the current export lacks.

    Used only when the file's genes meet ``genes`` (CYP2D6 for ondansetron and
    tropisetron). Ids are ``CPIC:<drug>:v1.30:<n>`` (the old files carry no row ids);
    the guideline is taken from ``guideline.json`` by name when it is there.
    """
    folder = Path(sources) / CPIC_DIR / LEGACY_DIR
    current = {cpic.drugs[r["drugid"]]["name"] for r in cpic.recommendations if r["drugid"] in cpic.drugs}
    rows, used = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        doc = _read_json(path)
        if not set(genes) & set(doc.get("genes") or []) or doc["drugname"] in current:
            continue
        guideline = cpic.guidelines_by_name.get(doc["guidelinename"]) or {
            "name": doc["guidelinename"],
            "url": doc.get("url") or "",
            "publication": doc.get("citations") or [],
        }
        version = str(doc.get("cpicVersion", "")).lstrip("v").rsplit(".", 1)[0]
        for n, r in enumerate(doc["recommendations"], start=1):
            rows.append(_source_row(f"CPIC:{doc['drugname']}:v{version}:{n:02d}", doc["drugname"], r, guideline))
        used.append(path)
    return rows, used


def drug_names(cpic: CpicExport, extra: Iterable[str] = ()) -> Names:
    """Every known substance name: CPIC's ``drug.json`` substances plus ``extra`` (the DPWG drugs)."""
    names = [d["name"] for d in cpic.drugs.values() if is_substance(d)]
    return Names.of([*names, *extra])


def is_substance(drug: dict) -> bool:
    """True for a single drug in ``drug.json``; False for a class (ATC group, MeSH group)."""
    if str(drug.get("drugid", "")).split(":")[0] in ("RxNorm", "Drugbank"):
        return True
    return any(len(code) == 7 for code in drug.get("atcid") or [])


def cpic_drug_rows(cpic: CpicExport, genes: Sequence[str], rec_drugs: set[str]) -> list[dict]:
    """One ``drugs`` row per CPIC gene-drug pair for ``genes`` or a drug with CPIC rows."""
    by_name = cpic.guidelines_by_name
    rows = []
    for p in cpic.pairs:
        if p["genesymbol"] not in genes and p["drugname"] not in rec_drugs:
            continue
        guideline = by_name.get(p.get("guidelinename") or "")
        rows.append(
            {
                "source": SOURCE,
                "drug": p["drugname"],
                "drug_id": p["drugid"],
                "gene": p["genesymbol"],
                "cpic_level": p.get("cpiclevel") or "",
                "guideline": (guideline or {}).get("name") or p.get("guidelinename") or "",
                "url": (guideline or {}).get("url") or p.get("guidelineurl") or "",
                "pmid": guideline_pmids(guideline),
            }
        )
    return rows
