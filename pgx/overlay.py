"""A local overlay of the user's own CPIC export: CPIC's exact wording at run time.

The knowledge base carries no guideline sentences (its texts are our own words, from
structured facts). A lab that wants CPIC's wording on its reports downloads CPIC's
``recommendation`` table itself (``https://api.cpicpgx.org/v1/recommendation?select=*``,
a JSON array, the layout of ``cpic/recommendation.json``) and imports it with
``pgx kb import-cpic FILE``. The overlay lives outside the repository and the KB:

``<overlay>/cpic_recommendations.tsv``
    one row per CPIC recommendation, keyed by our ``recommendation_id`` (``CPIC:<id>``),
    with ``drug_id``, ``lookup_key`` (our ``GENE=key;GENE=key`` form), ``population``,
    ``classification``, the verbatim ``drugrecommendation`` and the ``implications``
    (a JSON object ``{gene: text}``). Tabs, newlines and backslashes inside texts are
    written as ``\\t``, ``\\n``, ``\\r`` and ``\\\\``.
``<overlay>/manifest.json``
    ``format``, the imported file's name, ``sha256`` and row count, the pgx version.

The overlay directory is ``--overlay DIR``, else ``$PGX_OVERLAY``, else
``~/.local/share/pgx/overlay``.

**Matching a KB row.** A recommendation gets the overlay's text when the overlay row with
the same id names the same lookup key and population; otherwise (another CPIC version
renumbered its rows, or a KB row from ``cpic-v1.30`` that has no CPIC id) when exactly
one overlay row has the same drug id, lookup key and population. Anything else gets no
verbatim text rather than a wrong one.

Provenance: :func:`overlay_provenance` gives the keys the pipeline records.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pgx import __version__
from pgx.errors import ConfigError, InputError
from pgx.kb import KnowledgeBase
from pgx.outputs import atomic_path

OVERLAY_ENV = "PGX_OVERLAY"
DEFAULT_OVERLAY_DIR = Path("~/.local/share/pgx/overlay")
TABLE_FILE = "cpic_recommendations.tsv"
MANIFEST_FILE = "manifest.json"
FORMAT = "pgx-cpic-overlay/1"
COLUMNS = (
    "recommendation_id",
    "drug_id",
    "lookup_key",
    "population",
    "classification",
    "drugrecommendation",
    "implications",
)


def overlay_dir(path: Path | str | None = None) -> Path:
    """The overlay directory: ``path``, else ``$PGX_OVERLAY``, else ``~/.local/share/pgx/overlay``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(OVERLAY_ENV)
    return Path(env).expanduser() if env else DEFAULT_OVERLAY_DIR.expanduser()


# --- TSV cells -----------------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def escape_cell(text: str) -> str:
    """``text`` with backslash, tab, newline and carriage return escaped for one TSV cell."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def unescape_cell(cell: str) -> str:
    """The inverse of :func:`escape_cell`."""
    out, i = [], 0
    while i < len(cell):
        ch = cell[i]
        if ch == "\\" and i + 1 < len(cell) and cell[i + 1] in _UNESCAPES:
            out.append(_UNESCAPES[cell[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# --- import -------------------------------------------------------------------------------


def _key_string(lookupkey: dict) -> str:
    return ";".join(f"{g}={lookupkey[g]}" for g in sorted(lookupkey))


def _overlay_rows(data: object, path: Path) -> list[dict[str, str]]:
    """Validate a CPIC ``recommendation`` export and turn it into overlay rows."""
    if not isinstance(data, list):
        raise InputError(
            f"{path}: expected a JSON array of CPIC recommendation rows (the `recommendation` table of the "
            f"CPIC API, as in cpic/recommendation.json), found a JSON {type(data).__name__}"
        )
    if not data:
        raise InputError(f"{path}: the JSON array is empty; nothing to import")
    rows = []
    for n, r in enumerate(data):
        where = f"{path}: row {n + 1}"
        if not isinstance(r, dict):
            raise InputError(f"{where} is not a JSON object")
        missing = [k for k in ("id", "drugid", "lookupkey", "drugrecommendation") if k not in r]
        if missing:
            raise InputError(f"{where} lacks {', '.join(missing)}; is this CPIC's `recommendation` table?")
        rid, key, impl = r["id"], r["lookupkey"], r.get("implications") or {}
        if isinstance(rid, bool) or not isinstance(rid, int):
            raise InputError(f"{where}: id {rid!r} is not an integer")
        if not isinstance(key, dict) or not key or not all(isinstance(v, str) for v in key.values()):
            raise InputError(f"{where} (id {rid}): lookupkey {key!r} is not an object of gene -> text")
        if not isinstance(impl, dict) or not all(isinstance(v, str) for v in impl.values()):
            raise InputError(f"{where} (id {rid}): implications {impl!r} is not an object of gene -> text")
        text = r["drugrecommendation"]
        if text is not None and not isinstance(text, str):
            raise InputError(f"{where} (id {rid}): drugrecommendation is not text")
        rows.append(
            {
                "recommendation_id": f"CPIC:{rid}",
                "drug_id": str(r["drugid"] or ""),
                "lookup_key": _key_string(key),
                "population": str(r.get("population") or "").strip(),
                "classification": str(r.get("classification") or ""),
                "drugrecommendation": text or "",
                "implications": json.dumps(impl, ensure_ascii=False, sort_keys=True),
            }
        )
    twice = [i for i, k in Counter(r["recommendation_id"] for r in rows).items() if k > 1]
    if twice:
        raise InputError(f"{path}: recommendation ids occur more than once: {', '.join(twice[:5])}")
    return sorted(rows, key=lambda r: int(r["recommendation_id"].split(":", 1)[1]))


def import_cpic(file: Path | str, overlay: Path | str | None = None) -> Path:
    """Import a CPIC ``recommendation`` export into the overlay; return the manifest path.

    A malformed file is an :class:`~pgx.errors.InputError` naming it; the previous
    overlay is then left as it was. A successful import replaces it.
    """
    path = Path(file)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give the CPIC recommendation export (JSON)")
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    rows = _overlay_rows(data, path)
    out = overlay_dir(overlay)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the overlay directory {out}: {exc}") from exc
    lines = ["\t".join(COLUMNS)] + ["\t".join(escape_cell(r[c]) for c in COLUMNS) for r in rows]
    table = ("\n".join(lines) + "\n").encode("utf-8")
    manifest = {
        "format": FORMAT,
        "source_file": path.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "rows": len(rows),
        "table_sha256": hashlib.sha256(table).hexdigest(),
        "pgx_version": __version__,
    }
    with atomic_path(out / TABLE_FILE) as tmp:
        tmp.write_bytes(table)
    with atomic_path(out / MANIFEST_FILE) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out / MANIFEST_FILE


# --- loading and lookups ---------------------------------------------------------------------


@dataclass
class Overlay:
    """A loaded overlay: rows by recommendation id, plus an index by content."""

    root: Path
    manifest: dict
    rows: dict[str, dict[str, str]]
    _by_content: dict[tuple[str, str, str], list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for rid, r in self.rows.items():
            self._by_content.setdefault((r["drug_id"], r["lookup_key"], r["population"]), []).append(rid)

    def find(self, recommendation_id: str | None, drug_id: str | None, lookup_key: str, population: str) -> dict | None:
        """The overlay row for one KB recommendation (see the module docstring), or None."""
        population = (population or "").strip()
        row = self.rows.get(recommendation_id or "")
        if row is not None and row["lookup_key"] == lookup_key and row["population"] == population:
            return row
        ids = self._by_content.get((drug_id or "", lookup_key, population), [])
        return self.rows[ids[0]] if len(ids) == 1 else None

    def verbatim(self, recommendation_id, drug_id, lookup_key, population) -> tuple[str | None, list[str] | None]:
        """(CPIC's recommendation text, ``["GENE: implication", ...]``) or (None, None)."""
        row = self.find(recommendation_id, drug_id, lookup_key, population)
        if row is None:
            return None, None
        implications = json.loads(row["implications"] or "{}")
        return row["drugrecommendation"] or None, [f"{g}: {implications[g]}" for g in sorted(implications)]


def load_overlay(path: Path | str | None = None) -> Overlay:
    """The overlay at ``path`` (default :func:`overlay_dir`); a missing or broken one is an error."""
    root = overlay_dir(path)
    manifest_path, table_path = root / MANIFEST_FILE, root / TABLE_FILE
    if not manifest_path.is_file() or not table_path.is_file():
        raise ConfigError(f"no CPIC overlay at {root}; create one with `pgx kb import-cpic FILE --overlay {root}`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{manifest_path} is not valid JSON ({exc}); import the CPIC file again") from exc
    if manifest.get("format") != FORMAT:
        raise ConfigError(f"{manifest_path}: unknown overlay format {manifest.get('format')!r}; import the file again")
    data = table_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest.get("table_sha256"):
        raise ConfigError(f"{table_path} does not match its manifest; import the CPIC file again")
    lines = data.decode("utf-8").split("\n")
    if lines[0].split("\t") != list(COLUMNS):
        raise ConfigError(f"{table_path} has columns {lines[0].split(chr(9))}, expected {list(COLUMNS)}")
    rows = {}
    for line in lines[1:]:
        if line:
            cells = [unescape_cell(c) for c in line.split("\t")]
            rows[cells[0]] = dict(zip(COLUMNS, cells))
    return Overlay(root=root, manifest=manifest, rows=rows)


def find_overlay(path: Path | str | None = None) -> Overlay | None:
    """The overlay at ``path`` (default :func:`overlay_dir`) if one was imported there, else None."""
    root = overlay_dir(path)
    if not (root / MANIFEST_FILE).is_file():
        return None
    return load_overlay(root)


def as_overlay(overlay: Overlay | Path | str) -> Overlay:
    """``overlay`` itself, or the overlay loaded from that directory."""
    return overlay if isinstance(overlay, Overlay) else load_overlay(overlay)


def overlay_provenance(overlay: Overlay | Path | str | None) -> dict[str, str]:
    """Provenance keys for a run that used ``overlay`` (empty without one).

    ``cpic_overlay_sha256`` (of the imported file), ``cpic_overlay_rows``,
    ``cpic_overlay_source`` (the imported file's name) and ``cpic_overlay_format``.
    """
    if overlay is None:
        return {}
    m = as_overlay(overlay).manifest
    return {
        "cpic_overlay_sha256": str(m.get("sha256", "")),
        "cpic_overlay_rows": str(m.get("rows", "")),
        "cpic_overlay_source": str(m.get("source_file", "")),
        "cpic_overlay_format": str(m.get("format", "")),
    }


def attach_verbatim(recs: pd.DataFrame, overlay: Overlay | Path | str, kb: KnowledgeBase) -> pd.DataFrame:
    """``recs`` (a recommendations frame) plus ``verbatim_text`` and ``implications``.

    Rows are matched to the overlay through the KB row they came from
    (``recommendation_id``: its lookup key, population and drug id); rows without an
    overlay text (DPWG, no_guideline_match, rows the export lacks) get None.
    """
    overlay = as_overlay(overlay)
    kb_recs = kb.tables["recommendations"]
    drugs = kb.tables["drugs"]
    drug_ids = {(s, d): i for s, d, i in zip(drugs["source"], drugs["drug"], drugs["drug_id"]) if i}
    info = {
        rid: (drug_ids.get((src, drug)), key, pop)
        for rid, src, drug, key, pop in zip(
            kb_recs["recommendation_id"], kb_recs["source"], kb_recs["drug"], kb_recs["lookup_key"], kb_recs["population"]
        )
        if src == "CPIC"
    }
    out = recs.copy()
    codes, ids = pd.factorize(out["recommendation_id"])
    texts = np.empty(len(ids) + 1, dtype=object)  # the last slot serves code -1 (no id)
    implications = np.empty(len(ids) + 1, dtype=object)
    for i, rid in enumerate(ids):
        if rid in info:
            texts[i], implications[i] = overlay.verbatim(rid, *info[rid])
    out["verbatim_text"] = pd.Series(texts[codes], index=out.index, dtype=object)
    out["implications"] = pd.Series(implications[codes], index=out.index, dtype=object)
    return out


__all__ = [
    "Overlay",
    "attach_verbatim",
    "find_overlay",
    "import_cpic",
    "load_overlay",
    "overlay_dir",
    "overlay_provenance",
]
