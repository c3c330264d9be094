"""One file per patient from a batch's tables: the shared part of the FHIR and JSON exports.

A batch's committed tables (:func:`pgx.outputs.verify_run`) are split by sample; a render
function turns one sample's calls and recommendations (with the batch's provenance) into
the bytes of its file. File names come from the sample IDs exactly as the PDF reports'
do (:func:`pgx.sample_ids.report_file_names`: the ID itself when it is a short plain
name, else a slug and a hash), with ``index.tsv`` beside the files mapping each ID to its
file. The files are written into a hidden folder that then takes the place of the output
folder as a whole, so a folder never mixes files of two runs and a killed run leaves the
previous folder (or none), never half a folder or half a file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pgx.outputs import clean_stale_temporaries, make_folder, read_table, replace_folder, temporary_folder, verify_run, writing
from pgx.sample_ids import INDEX_NAME, report_file_names, write_file_index


def cell_value(x: object) -> object:
    """None for a missing table cell (None, NaN, NA), else the value."""
    if x is None or x is pd.NA:
        return None
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def cell_text(x: object) -> str:
    """A cell as text; '' when missing."""
    v = cell_value(x)
    return "" if v is None else str(v)


def cell_items(x: object) -> list[str]:
    """A list cell (None, list or numpy array) as a list of strings, missing items dropped."""
    v = cell_value(x)
    return [] if v is None else [str(i) for i in v if cell_value(i) is not None]


@dataclass(frozen=True)
class PatientData:
    """What one patient's file is made from: their rows and the batch's facts."""

    sample_id: str
    calls: pd.DataFrame
    recommendations: pd.DataFrame
    provenance: Mapping[str, str]
    run_id: str

    @property
    def batch(self) -> str:
        return self.provenance.get("batch", "")

    @property
    def input_checksums(self) -> dict[str, str]:
        """Input file name -> sha256, from the provenance table."""
        prefix = "input_sha256:"
        return {k[len(prefix) :]: v for k, v in self.provenance.items() if k.startswith(prefix)}


def read_patients(results_dir: Path | str) -> list[PatientData]:
    """Every sample of a committed batch, in the order of its calls table."""
    results_dir = Path(results_dir)
    run = verify_run(results_dir, ("calls", "recommendations", "provenance"))
    calls = read_table(results_dir / "calls.parquet")
    recs = read_table(results_dir / "recommendations.parquet")
    prov = read_table(results_dir / "provenance.parquet")
    provenance = dict(zip(prov["key"], prov["value"]))
    recs_by_sample = dict(tuple(recs.groupby("sample_id", sort=False)))
    empty = recs.iloc[0:0]
    return [
        PatientData(str(sample_id), rows.reset_index(drop=True), recs_by_sample.get(sample_id, empty).reset_index(drop=True), provenance, run)
        for sample_id, rows in calls.groupby("sample_id", sort=False)
    ]


def write_patient_files(
    results_dir: Path | str, out_dir: Path | str, render: Callable[[PatientData], bytes], suffix: str
) -> list[Path]:
    """Write ``render(patient)`` for every patient of the batch in ``results_dir`` to
    ``out_dir/<file name><suffix>``, plus ``index.tsv``; return the paths in calls-table order."""
    out_dir = Path(out_dir)
    patients = read_patients(results_dir)
    clean_stale_temporaries(make_folder(out_dir.parent))
    names = report_file_names((p.sample_id for p in patients), suffix=suffix)
    with temporary_folder(out_dir) as staging:
        with writing(staging):
            for patient in patients:
                (staging / names[patient.sample_id]).write_bytes(render(patient))
            write_file_index(names, staging / INDEX_NAME)
        replace_folder(staging, out_dir)
    return [out_dir / names[p.sample_id] for p in patients]
