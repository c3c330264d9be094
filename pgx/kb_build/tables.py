"""Write KB tables and the manifest deterministically.

Building twice from the same sources must give byte-identical files, so: rows are
sorted by a fixed key per table, numbers have one spelling (``repr`` of the float:
``1.0``, ``0.25``, ``inf``; integers without a decimal point), booleans are
``true``/``false``, empty cells are empty strings, lines end in ``\\n``, and the
manifest has sorted keys and no timestamps.

``kb_version`` = ``<YYYY.MM.DD of the newest allele-definition source>-<8 hex>``, where
the hex is the start of the sha256 of the lines ``<table file>\\t<sha256>\\n`` over all
tables sorted by file name. Any change to any table therefore changes the version.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable

import pandas as pd

from pgx.errors import KnowledgeBaseError
from pgx.kb_build.sources import sha256_bytes
from pgx.naming import allele_sort_key
from pgx.schema import KB_TABLES

#: sort columns per table; allele columns sort in the canonical allele order
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "genes": ("gene",),
    "loci": ("gene", "pos"),
    "allele_definitions": ("gene", "allele", "pos"),
    "alleles": ("gene", "allele"),
    "function_phenotypes": ("gene", "function_1", "function_2"),
    "phenotype_rules": ("gene", "min_score"),
    "gene_rules": ("gene", "rule", "value"),
    "outside_results": ("gene", "kind"),
    "legacy_alleles": ("gene", "legacy_name"),
}

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def format_cell(value: object, dtype: str) -> str:
    """One TSV cell in the KB's fixed spelling for ``dtype`` (see module doc)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if dtype == "boolean":
        return "true" if bool(value) else "false"
    if dtype in ("int64", "Int64"):
        return str(int(value))
    if dtype in ("float64", "Float64"):
        return repr(float(value))
    text = str(value)
    if "\n" in text or "\r" in text:
        raise KnowledgeBaseError(f"a KB cell contains a line break: {text[:60]!r}")
    return text


def _row_key(table: str, columns: list[str]) -> Callable[[dict], tuple]:
    """Sort key for rows of ``table``: its SORT_KEYS, then every cell as text."""
    keys = SORT_KEYS.get(table, ())

    def key(row: dict) -> tuple:
        head = tuple(allele_sort_key(row[c]) if c in ("allele", "legacy_name") else row[c] for c in keys)
        return head + tuple(row["_text"])

    return key


def table_bytes(name: str, frame: pd.DataFrame) -> bytes:
    """The TSV bytes of KB table ``name``: declared columns, fixed formatting, sorted rows."""
    declared = KB_TABLES[name]
    if list(frame.columns) != list(declared):
        raise KnowledgeBaseError(f"table {name} has columns {list(frame.columns)}, expected {list(declared)}")
    rows = []
    for record in frame.to_dict("records"):
        record = {c: (None if _is_missing(v) else v) for c, v in record.items()}
        record["_text"] = [format_cell(record[c], dtype) for c, dtype in declared.items()]
        rows.append(record)
    rows.sort(key=_row_key(name, list(declared)))
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(list(declared))
    writer.writerows(row["_text"] for row in rows)
    return out.getvalue().encode("utf-8")


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def definition_date(versions: list[str]) -> str:
    """``YYYY.MM.DD`` of the newest allele-definition version (``2025-11-05-00-25``)."""
    dates = []
    for version in versions:
        m = _DATE.match(version or "")
        if not m:
            raise KnowledgeBaseError(f"allele-definition version {version!r} does not start with a date")
        dates.append(".".join(m.groups()))
    if not dates:
        raise KnowledgeBaseError("no allele-definition sources: cannot date the knowledge base")
    return max(dates)


def tables_digest(checksums: dict[str, str]) -> str:
    """sha256 over ``<file>\\t<sha256>`` lines of every table, sorted by file name."""
    text = "".join(f"{name}\t{checksums[name]}\n" for name in sorted(checksums))
    return sha256_bytes(text.encode("utf-8"))


def kb_version(definition_versions: list[str], checksums: dict[str, str]) -> str:
    """The KB version string (see module doc)."""
    return f"{definition_date(definition_versions)}-{tables_digest(checksums)[:8]}"


def manifest_bytes(manifest: dict) -> bytes:
    """The manifest as stable JSON (sorted keys, two-space indent, trailing newline)."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
