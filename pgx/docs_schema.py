"""The "Output columns" documentation, rendered from ``pgx.schema`` (the one place that
declares the output tables and what their columns mean).

README.md holds the rendered text between two marker lines; ``tests/test_schema_docs.py``
fails when it is out of date. To refresh it after changing a schema:

    python -m pgx.docs_schema --write README.md
    python -m pgx.docs_schema --check README.md    # exit 1 when out of date
    python -m pgx.docs_schema                      # print the section
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa

from pgx.schema import CALL_REASONS, COLUMN_DOCS, METADATA_DOCS, OUTPUT_SCHEMAS, SCHEMA_VERSION, TABLE_DOCS

BEGIN = (
    "<!-- BEGIN output-columns: generated from pgx/schema.py by `python -m pgx.docs_schema --write README.md`; do not edit -->"
)
END = "<!-- END output-columns -->"


def type_name(t: pa.DataType) -> str:
    """A short, reader-friendly name of an Arrow type (``list<string>``, ``string (dictionary)``)."""
    if pa.types.is_dictionary(t):
        return f"{type_name(t.value_type)} (dictionary)"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{type_name(t.value_type)}>"
    if pa.types.is_float64(t):
        return "float64"
    return str(t)


def missing_docs() -> list[str]:
    """Columns without a meaning, and meanings of columns that do not exist (empty = in sync)."""
    problems = []
    for table, schema in OUTPUT_SCHEMAS.items():
        docs = COLUMN_DOCS.get(table, {})
        problems += [f"{table}.{f.name}: no meaning in pgx.schema.COLUMN_DOCS" for f in schema if not docs.get(f.name)]
        problems += [f"{table}.{name}: documented but not a column" for name in docs if name not in schema.names]
        if not TABLE_DOCS.get(table):
            problems.append(f"{table}: no row description in pgx.schema.TABLE_DOCS")
    problems += [f"COLUMN_DOCS.{t}: not an output table" for t in COLUMN_DOCS if t not in OUTPUT_SCHEMAS]
    return problems


def render_output_columns() -> str:
    """The Markdown of README's "Output columns" section, markers included."""
    problems = missing_docs()
    if problems:
        raise ValueError("undocumented or stale columns: " + "; ".join(problems))
    lines = [
        BEGIN,
        "",
        f"Schema version **{SCHEMA_VERSION}**. Every Parquet file carries these key-value metadata:",
        "",
        *(f"- `{key}`: {doc}" for key, doc in METADATA_DOCS.items()),
        "",
        "A column marked *never null* always has a value; every other column may be null. "
        "`(dictionary)` columns are dictionary-encoded strings (pandas reads them as categoricals).",
    ]
    for table, schema in OUTPUT_SCHEMAS.items():
        lines += ["", f"#### `{table}.parquet`", "", f"{TABLE_DOCS[table][0].upper()}{TABLE_DOCS[table][1:]}.", ""]
        lines += ["| column | type | meaning |", "|---|---|---|"]
        for f in schema:
            typ = f"`{type_name(f.type)}`" + ("" if f.nullable else ", never null")
            meaning = COLUMN_DOCS[table][f.name].replace("|", "\\|")  # a pipe would split the cell
            lines.append(f"| `{f.name}` | {typ} | {meaning} |")
    lines += ["", *render_reason_codes(), "", END]
    return "\n".join(lines)


def render_reason_codes() -> list[str]:
    """The lines of the reason-code table (``calls.reason_codes``, from ``CALL_REASONS``)."""
    lines = [
        "#### Reason codes (`calls.reason_codes`)",
        "",
        "Group calls by these codes, not by the wording of `warnings` (which gives the details and may change). "
        "A call carries each code once, in the order the reasons arose.",
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    return lines + [f"| `{code}` | {meaning.replace('|', chr(92) + '|')} |" for code, meaning in CALL_REASONS.items()]


def update_readme(text: str) -> str:
    """``text`` (a README) with the section between the markers replaced by the rendering."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no output-columns markers ({BEGIN!r} ... {END!r})")
    return text[:start] + render_output_columns() + text[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgx.docs_schema", description=__doc__.splitlines()[0])
    parser.add_argument("readme", nargs="?", type=Path, help="README.md to check or rewrite")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the section in README")
    mode.add_argument("--check", action="store_true", help="exit 1 when README's section is out of date")
    args = parser.parse_args(argv)
    if args.readme is None:
        print(render_output_columns())
        return 0
    text = args.readme.read_text(encoding="utf-8")
    new = update_readme(text)
    if args.check:
        if new != text:
            print(
                f"{args.readme}: the output-columns section is out of date; run python -m pgx.docs_schema --write {args.readme}",
                file=sys.stderr,
            )
            return 1
        return 0
    if args.write and new != text:
        args.readme.write_text(new, encoding="utf-8")
    elif not args.write:
        print(render_output_columns())
    return 0


if __name__ == "__main__":
    sys.exit(main())
