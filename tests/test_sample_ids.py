"""Sample IDs that labs really use: any printable text is accepted and kept as written;
file names are derived from it safely and never leave the output folder."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from pgx.errors import SampleError
from pgx.pipeline import run_batch
from pgx.sample_ids import (
    INDEX_NAME,
    MAX_SAMPLE_ID_CHARS,
    file_stem,
    read_file_index,
    report_file_names,
    sample_id_problem,
    shown,
)
from tests.conftest import write_vcf

#: IDs a lab may use, each a trap for a naive file name
ODD_IDS = [
    "Patient 12",
    "O'Brien & Co",
    "../../etc/passwd",
    "CON",
    "患者-" + "é" * 150 + "ß" * 48,  # 200 characters, 400+ bytes: over a file name's 255
    '<b>"Zoë"</b>; DROP TABLE',
    "HG00096",
    "hg00096",  # the same as HG00096 on a case-insensitive file system
]


def test_file_names_are_safe_short_readable_and_distinct():
    names = report_file_names(ODD_IDS)
    assert set(names) == set(ODD_IDS)
    for sample_id, name in names.items():
        assert "/" not in name and "\\" not in name and not name.startswith((".", "-"))
        assert name.isascii() and len(name.encode()) <= 80 and name.endswith(".pdf")
    assert len({n.casefold() for n in names.values()}) == len(names)
    assert names["Patient 12"].startswith("Patient_12-") and names["O'Brien & Co"].startswith("O_Brien_Co-")
    assert names["CON"] != "CON.pdf"  # reserved on Windows
    assert names["HG00096"] != "HG00096.pdf" and names["hg00096"] != "hg00096.pdf"  # they collide folded
    assert report_file_names(["HG00096"]) == {"HG00096": "HG00096.pdf"}  # alone: the ID itself


def test_a_file_name_depends_only_on_its_id():
    assert file_stem("Patient 12") == file_stem("Patient 12")
    assert file_stem("Patient 12") != file_stem("Patient_12") == "Patient_12"


@pytest.mark.parametrize("sample_id", ["", "a\tb", "x\x00", "\u200bzero-width", "x" * (MAX_SAMPLE_ID_CHARS + 1)])
def test_what_is_not_printable_text_is_not_an_id(sample_id):
    assert sample_id_problem(sample_id)


def test_a_long_id_is_shown_by_its_start_only():
    text = shown("A" * 10_000)
    assert len(text) < 100 and "10000 characters" in text


def test_odd_ids_run_end_to_end_and_stay_in_the_output_folder(tmp_path):
    loci_records = [("chr6", 18130918, "T", "C", ["0/1"] * len(ODD_IDS))]
    vcf = write_vcf(tmp_path / "odd.vcf", samples=ODD_IDS, records=loci_records)
    out = tmp_path / "results" / "odd"
    run_batch([vcf], out, batch="odd", genes=["TPMT"], assume_reference=True)
    calls = pq.read_table(out / "calls.parquet").to_pandas()
    assert sorted(calls["sample_id"].unique()) == sorted(ODD_IDS)  # kept exactly as written
    index = read_file_index(out / "reports" / INDEX_NAME)
    assert index == report_file_names(ODD_IDS)
    written = sorted(p.name for p in (out / "reports").iterdir())
    assert written == sorted([*index.values(), INDEX_NAME])
    everything = {p.resolve() for p in (tmp_path / "results").rglob("*")}
    assert all(str(p).startswith(str(out.resolve())) for p in everything if p != out.resolve())
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(out / "reports" / index["O'Brien & Co"]).pages)
    assert "O'Brien & Co" in text


def test_an_id_of_ten_kilobytes_is_refused_without_echoing_it(tmp_path):
    from pgx.vcf import read_genotypes
    from tests.conftest import loci_table

    huge = "P" * 10_240
    vcf = write_vcf(tmp_path / "huge.vcf", samples=["ok", huge], records=[("chr10", 100, "C", "T", ["0|1", "0|1"])])
    with pytest.raises(SampleError) as err:
        read_genotypes([vcf], loci_table([("TOY", "chr10", 100, "C", "T")]))
    assert "longer than 1000 characters (10240)" in str(err.value) and len(str(err.value)) < 500
