"""Every output column is documented in ``pgx.schema`` (the one module that declares the
tables), and README's "Output columns" section is exactly what ``pgx.docs_schema``
renders from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import pgx.docs_schema as docs_schema
from pgx.docs_schema import BEGIN, END, missing_docs, render_output_columns, type_name, update_readme
from pgx.outputs import schema_for
from pgx.schema import COLUMN_DOCS, METADATA_DOCS, OUTPUT_SCHEMAS, SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def test_every_output_column_has_a_meaning_and_no_meaning_is_stale():
    assert missing_docs() == []
    for table, schema in OUTPUT_SCHEMAS.items():
        assert list(COLUMN_DOCS[table]) == schema.names, f"{table}: documented in another order than declared"


def test_readme_output_columns_section_is_up_to_date():
    text = README.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert update_readme(text) == text, "README is out of date: run python -m pgx.docs_schema --write README.md"


def test_readme_lists_every_column_with_its_type():
    section = render_output_columns()
    for table, schema in OUTPUT_SCHEMAS.items():
        assert f"#### `{table}.parquet`" in section
        for f in schema:
            assert f"| `{f.name}` | `{type_name(f.type)}`" in section


def test_the_schema_version_and_metadata_keys_written_are_the_documented_ones():
    section = render_output_columns()
    assert f"Schema version **{SCHEMA_VERSION}**" in section
    for table in OUTPUT_SCHEMAS:
        metadata = {k.decode(): v.decode() for k, v in schema_for(table).metadata.items()}
        assert set(metadata) == set(METADATA_DOCS)
        assert metadata["pgx_schema_version"] == SCHEMA_VERSION and metadata["pgx_table"] == table
    for key in METADATA_DOCS:
        assert f"- `{key}`:" in section


@pytest.mark.parametrize(
    "arrow_type, name",
    [
        (pa.string(), "string"),
        (pa.int64(), "int64"),
        (pa.float64(), "float64"),
        (pa.bool_(), "bool"),
        (pa.list_(pa.string()), "list<string>"),
        (pa.list_(pa.int64()), "list<int64>"),
        (pa.dictionary(pa.int8(), pa.string()), "string (dictionary)"),
    ],
)
def test_type_names(arrow_type, name):
    assert type_name(arrow_type) == name


def test_a_column_added_without_a_meaning_is_caught(monkeypatch):
    schemas = dict(OUTPUT_SCHEMAS)
    schemas["calls"] = OUTPUT_SCHEMAS["calls"].append(pa.field("confidence", pa.float64()))
    monkeypatch.setattr(docs_schema, "OUTPUT_SCHEMAS", schemas)
    assert missing_docs() == ["calls.confidence: no meaning in pgx.schema.COLUMN_DOCS"]
    with pytest.raises(ValueError, match="calls.confidence"):
        render_output_columns()


def test_a_pipe_in_a_meaning_does_not_split_the_table_cell():
    row = next(line for line in render_output_columns().splitlines() if line.startswith("| `phased` | `bool`, never"))
    assert row.count(" | ") == 2 and "\\|" in row


def test_check_command_fails_on_a_stale_readme_and_write_fixes_it(tmp_path):
    stale = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    stale.write_text(text[:start] + f"{BEGIN}\nold\n{END}" + text[end:], encoding="utf-8")
    cmd = [sys.executable, "-m", "pgx.docs_schema"]
    check = subprocess.run([*cmd, "--check", str(stale)], capture_output=True, text=True)
    assert check.returncode == 1 and "out of date" in check.stderr
    assert subprocess.run([*cmd, "--write", str(stale)], capture_output=True).returncode == 0
    assert stale.read_text(encoding="utf-8") == text
