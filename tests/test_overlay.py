"""The CPIC overlay: import a user's own CPIC export, show its verbatim texts at run time.

No guideline text is written in this file: the round trip compares what recommend()
shows with the shared export, read at run time; the unit tests use texts made up here.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import pgx.overlay as ov
import pgx.recommend as rec
from pgx.errors import ConfigError, InputError, PgxError
from pgx.outputs import as_table
from pgx.schema import RECOMMENDATIONS
from tests.test_recommend import calls_frame, for_drug, make_kb

CPIC_EXPORT = ("cpic", "recommendation.json")


def _export(tmp_path: Path, rows: list, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def _row(rid: int, key: dict, text: str, population: str = "general", drugid: str = "X:clopidogrel") -> dict:
    return {
        "id": rid, "guidelineid": 1, "drugid": drugid, "implications": {g: f"implication {rid} for {g}" for g in key},
        "drugrecommendation": text, "classification": "Strong", "phenotypes": {}, "activityscore": {},
        "allelestatus": {}, "lookupkey": key, "population": population, "comments": None, "version": 1,
    }  # fmt: skip


# --- made-up exports ---------------------------------------------------------------------------


def test_import_writes_a_table_and_a_manifest_with_the_files_checksum(tmp_path) -> None:
    path = _export(tmp_path, [_row(2, {"CYP2C19": "Poor Metabolizer"}, "made-up text\twith a tab\nand a line")])
    manifest_path = ov.import_cpic(path, tmp_path / "overlay")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (manifest["rows"], manifest["source_file"], manifest["format"]) == (1, "export.json", ov.FORMAT)
    overlay = ov.load_overlay(tmp_path / "overlay")
    row = overlay.rows["CPIC:2"]
    assert row["drugrecommendation"] == "made-up text\twith a tab\nand a line"  # escaped in the TSV, exact back
    assert (row["lookup_key"], row["drug_id"], row["population"]) == ("CYP2C19=Poor Metabolizer", "X:clopidogrel", "general")
    assert len((tmp_path / "overlay" / ov.TABLE_FILE).read_text().splitlines()) == 2


@pytest.mark.parametrize("text", ["plain", "back\\slash", "tab\there", "new\nline", "\\t literal", "cr\r"])
def test_cells_escape_and_unescape_exactly(text: str) -> None:
    cell = ov.escape_cell(text)
    assert "\t" not in cell and "\n" not in cell and ov.unescape_cell(cell) == text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid UTF-8 JSON"),
        ('{"recommendations": []}', "expected a JSON array"),
        ("[]", "empty"),
        ('[{"id": 1}]', "lacks drugid, lookupkey, drugrecommendation"),
        ('[{"id": "1", "drugid": "X", "lookupkey": {"A": "b"}, "drugrecommendation": "t"}]', "not an integer"),
        ('[{"id": 1, "drugid": "X", "lookupkey": "A=b", "drugrecommendation": "t"}]', "lookupkey"),
        ('[{"id": 1, "drugid": "X", "lookupkey": {"A": "b"}, "drugrecommendation": "t", "implications": ["x"]}]',
         "implications"),
        ('[{"id": 1, "drugid": "X", "lookupkey": {"A": "b"}, "drugrecommendation": "t"},'
         ' {"id": 1, "drugid": "X", "lookupkey": {"A": "c"}, "drugrecommendation": "u"}]', "more than once"),
    ],
)  # fmt: skip
def test_malformed_file_is_an_error_naming_it(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "bad export.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PgxError, match=message) as err:
        ov.import_cpic(path, tmp_path / "overlay")
    assert isinstance(err.value, InputError) and str(path) in str(err.value)
    assert not (tmp_path / "overlay" / ov.MANIFEST_FILE).exists()


def test_a_failed_import_keeps_the_previous_overlay(tmp_path) -> None:
    good = _export(tmp_path, [_row(2, {"CYP2C19": "Poor Metabolizer"}, "made-up")])
    ov.import_cpic(good, tmp_path / "o")
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(InputError):
        ov.import_cpic(bad, tmp_path / "o")
    assert ov.load_overlay(tmp_path / "o").manifest["rows"] == 1


def test_missing_file_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="no such file"):
        ov.import_cpic(tmp_path / "absent.json", tmp_path / "o")


def test_default_directory_is_pgx_overlay_then_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PGX_OVERLAY", str(tmp_path / "env"))
    assert ov.overlay_dir() == tmp_path / "env"
    assert ov.overlay_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("PGX_OVERLAY")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ov.overlay_dir() == tmp_path / "home" / ".local" / "share" / "pgx" / "overlay"


def test_missing_or_altered_overlay_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="import-cpic"):
        ov.load_overlay(tmp_path / "nothing")
    assert ov.find_overlay(tmp_path / "nothing") is None
    ov.import_cpic(_export(tmp_path, [_row(2, {"CYP2C19": "Poor Metabolizer"}, "made-up")]), tmp_path / "o")
    table = tmp_path / "o" / ov.TABLE_FILE
    table.write_text(table.read_text().replace("made-up", "edited"))
    with pytest.raises(ConfigError, match="does not match its manifest"):
        ov.load_overlay(tmp_path / "o")


def test_provenance_names_the_imported_files_checksum(tmp_path) -> None:
    path = _export(tmp_path, [_row(2, {"CYP2C19": "Poor Metabolizer"}, "made-up")])
    ov.import_cpic(path, tmp_path / "o")
    prov = ov.overlay_provenance(tmp_path / "o")
    assert prov == {
        "cpic_overlay_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "cpic_overlay_rows": "1",
        "cpic_overlay_source": "export.json",
        "cpic_overlay_format": ov.FORMAT,
    }
    assert ov.overlay_provenance(None) == {}
    assert all(isinstance(v, str) for v in prov.values())


def _kb_with_ids():
    """The hand-made test KB with its clopidogrel rows renamed to CPIC ids 1 and 2."""
    kb = make_kb()
    recs = kb.tables["recommendations"]
    recs.loc[recs["recommendation_id"] == "T:0", "recommendation_id"] = "CPIC:1"
    recs.loc[recs["recommendation_id"] == "T:1", "recommendation_id"] = "CPIC:2"
    return kb


def test_verbatim_text_is_attached_only_with_an_overlay(tmp_path) -> None:
    rows = [_row(2, {"CYP2C19": "Poor Metabolizer"}, "made-up PM text"), _row(1, {"CYP2C19": "Normal Metabolizer"}, "nm")]
    ov.import_cpic(_export(tmp_path, rows), tmp_path / "o")
    kb = _kb_with_ids()
    calls = calls_frame(("S1", "CYP2C19", "Poor Metabolizer", "Poor Metabolizer"))
    plain = rec.recommend(calls, kb)
    assert list(plain.columns) == [f.name for f in RECOMMENDATIONS]
    out = rec.recommend(calls, kb, overlay=tmp_path / "o")
    assert list(out.columns) == [f.name for f in RECOMMENDATIONS]
    row = for_drug(out, "S1", "clopidogrel").iloc[0]
    assert (row["verbatim_text"], row["implications"]) == ("made-up PM text", ["CYP2C19: implication 2 for CYP2C19"])
    assert row["text"] == for_drug(plain, "S1", "clopidogrel").iloc[0]["text"]  # our text is untouched
    other = out[out["drug"] != "clopidogrel"]
    assert other["verbatim_text"].isna().all()
    pd.testing.assert_frame_equal(ov.attach_verbatim(plain, tmp_path / "o", kb), out)
    table = rec.recommendation_table(calls, kb, overlay=tmp_path / "o")  # what the pipeline writes
    assert as_table(table, "recommendations").equals(as_table(out, "recommendations"))


def test_an_overlay_row_for_another_key_is_not_shown_but_a_renumbered_one_is(tmp_path) -> None:
    kb = _kb_with_ids()
    drug_id = "X:clopidogrel"
    rows = [
        _row(2, {"CYP2C19": "Normal Metabolizer"}, "same id, other key", drugid=drug_id),  # id 2 is PM in the KB
        _row(77, {"CYP2C19": "Poor Metabolizer"}, "renumbered PM text", drugid=drug_id),
    ]
    ov.import_cpic(_export(tmp_path, rows), tmp_path / "o")
    calls = calls_frame(("S1", "CYP2C19", "Poor Metabolizer", "Poor Metabolizer"))
    row = for_drug(rec.recommend(calls, kb, overlay=tmp_path / "o"), "S1", "clopidogrel").iloc[0]
    assert row["verbatim_text"] == "renumbered PM text"  # found by drug id, key and population
    ov.import_cpic(_export(tmp_path, rows[:1]), tmp_path / "o")
    row = for_drug(rec.recommend(calls, kb, overlay=tmp_path / "o"), "S1", "clopidogrel").iloc[0]
    assert row["verbatim_text"] is None


def test_empty_calls_with_an_overlay_still_have_its_columns(tmp_path) -> None:
    ov.import_cpic(_export(tmp_path, [_row(2, {"CYP2C19": "Poor Metabolizer"}, "t")]), tmp_path / "o")
    out = rec.recommend(calls_frame(), make_kb(), overlay=tmp_path / "o")
    assert out.empty and {"verbatim_text", "implications"} <= set(out.columns)


# --- the shared CPIC export ------------------------------------------------------------------


@pytest.mark.shared_data
def test_round_trip_shows_cpic_wording_for_a_cyp2c19_poor_metabolizer_on_clopidogrel(shared_data, tmp_path) -> None:
    from pgx.kb import KnowledgeBase
    from pgx.kb_build.recommendations import build_recommendation_tables
    from tests.test_recommend import _typed

    export = shared_data.joinpath(*CPIC_EXPORT)
    manifest = json.loads(ov.import_cpic(export, tmp_path / "o").read_text())
    source = json.loads(export.read_text(encoding="utf-8"))
    assert manifest["rows"] == len(source) == 2115
    built, _ = build_recommendation_tables(shared_data, ("CYP2C19", "CYP2D6"))
    tables = {name: _typed(name, df.to_dict("records")) for name, df in built.items()}
    kb = KnowledgeBase(root=Path("."), manifest={"kb_version": "overlay-round-trip"}, tables=tables)
    calls = calls_frame(("S1", "CYP2C19", "Poor Metabolizer", "Poor Metabolizer"))
    out = rec.recommend(calls, kb, overlay=ov.load_overlay(tmp_path / "o"))
    clop = for_drug(out, "S1", "clopidogrel")
    cpic = clop[clop["source"] == "CPIC"]
    assert len(cpic) == 3
    by_id = {f"CPIC:{r['id']}": r for r in source}
    for row in cpic.itertuples():
        src = by_id[row.recommendation_id]
        assert row.verbatim_text == src["drugrecommendation"]
        assert row.implications == [f"{g}: {t}" for g, t in sorted(src["implications"].items())]
        assert row.text != row.verbatim_text
    assert clop.loc[clop["source"] == "DPWG", "verbatim_text"].isna().all()
    # ondansetron rows come from cpic-v1.30 and have no counterpart in this export
    assert for_drug(out, "S1", "ondansetron")["verbatim_text"].isna().all()


@pytest.mark.shared_data
def test_cli_import_cpic(shared_data, tmp_path) -> None:
    env = {**os.environ, "PGX_OVERLAY": str(tmp_path / "env-overlay")}
    run = [sys.executable, "-m", "pgx", "kb", "import-cpic"]
    ok = subprocess.run([*run, str(shared_data.joinpath(*CPIC_EXPORT))], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "imported 2115 CPIC recommendations" in ok.stdout
    assert (tmp_path / "env-overlay" / ov.MANIFEST_FILE).is_file()
    bad = shared_data / "cpic" / "drug.json"
    failed = subprocess.run([*run, str(bad), "--overlay", str(tmp_path / "o")], capture_output=True, text=True)
    assert failed.returncode == 2
    assert failed.stderr.startswith("pgx: error: ") and str(bad) in failed.stderr
