"""One JSON document per patient, for programs that read one patient at a time.

It holds what the patient's PDF holds, as data: every gene's call (diplotype, alleles,
functions, activity score, phenotype, ambiguity, missing positions, why a call is
incomplete), every recommendation with its structured facts and guideline, the genes
the recommendations needed that were not tested, and the provenance of the batch. Its
published JSON Schema is ``docs/patient.schema.json`` (:data:`SCHEMA_PATH`); the Parquet
tables stay the cohort format. Values are the tables' own (column names, action and
reason codes), so a reader can join them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa

from pgx.patient_files import (
    GROUP_SIZE,
    BatchGroups,
    DistinctRows,
    PatientData,
    cell_items,
    cell_text,
    cell_value,
    write_documents,
)

#: the format's name and version, written into every document
FORMAT = "pgx-patient"
FORMAT_VERSION = "1"

#: the published schema (in the source checkout)
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "patient.schema.json"

_CALL_TEXT = ("diplotype", "allele_1", "allele_2", "function_1", "function_2", "phenotype", "lookup_key")
_CALL_LISTS = ("alternatives", "novel_variants", "alleles_found", "suballeles", "reason_codes", "warnings")
_CALL_POSITIONS = ("missing_positions", "assumed_reference_positions")
_CONDITIONS = ("population", "indication", "age", "risk_factors", "other_conditions")
_DOSE_TEXT = ("applies_to", "reference", "amount", "schedule", "unchanged")
_REC_TEXT = ("strength", "text", "guideline", "cpic_level", "url", "pmid", "recommendation_id", "verbatim_text")
_REC_LISTS = ("other_actions", "followup", "alternatives", "not_alternatives", "implications")


def _text_or_none(x: object) -> str | None:
    return cell_text(x) or None


def _number(x: object) -> float | None:
    v = cell_value(x)
    return None if v is None else float(v)


def call_entry(call: dict) -> dict:
    """One gene's call as the document gives it."""
    out: dict = {"gene": str(call["gene"]), "call_status": str(call["call_status"])}
    out.update({c: _text_or_none(call.get(c)) for c in _CALL_TEXT})
    out["activity_score"] = _number(call.get("activity_score"))
    out["score"] = None if cell_value(call.get("score")) is None else int(call["score"])
    out["phased"] = None if cell_value(call.get("phased")) is None else bool(call["phased"])
    out.update({c: cell_items(call.get(c)) for c in _CALL_LISTS})
    out.update({c: [int(p) for p in cell_items(call.get(c))] for c in _CALL_POSITIONS})
    return out


def recommendation_entry(rec: dict) -> dict:
    """One recommendation row as the document gives it, with its consequence group."""
    from pgx.report import group_key, no_result_genes

    row = SimpleNamespace(**rec)
    out: dict = {
        "drug": str(rec["drug"]),
        "source": str(rec["source"]),
        "genes": cell_items(rec.get("genes")),
        "phenotypes": cell_items(rec.get("phenotypes")),
        "lookup_key": str(rec["lookup_key"]),
        "action": str(rec["action"]),
        "group": group_key(row),
        "genes_without_result": no_result_genes(row),
        "conditions": {c: _text_or_none(rec.get(c)) for c in _CONDITIONS},
        "dose": {c: _text_or_none(rec.get(f"dose_{c}")) for c in _DOSE_TEXT},
    }
    out["dose"]["factor_min"] = _number(rec.get("dose_factor_min"))
    out["dose"]["factor_max"] = _number(rec.get("dose_factor_max"))
    out["dose"]["caps"] = cell_items(rec.get("dose_caps"))
    out.update({c: cell_items(rec.get(c)) for c in _REC_LISTS})
    out.update({c: _text_or_none(rec.get(c)) for c in _REC_TEXT})
    out["branch"] = None if cell_value(rec.get("branch")) is None else int(rec["branch"])
    return out


def _provenance(patient: PatientData) -> dict:
    p = patient.provenance
    options = {k.partition(":")[2]: v for k, v in p.items() if k.startswith("option:")}
    return {
        "pipeline_version": p.get("pipeline_version"),
        "kb_version": p.get("kb_version"),
        "genome_build": p.get("genome_build"),
        "genome_build_reason": p.get("genome_build_reason"),
        "run_id": patient.run_id,
        "inputs": [{"file": name, "sha256": sha} for name, sha in sorted(patient.input_checksums.items())],
        "options": dict(sorted(options.items())),
    }


def patient_document(patient: PatientData) -> dict:
    """The patient's document (a dict that validates against the published schema)."""
    calls = [call_entry(c) for c in patient.calls]
    recs = [recommendation_entry(r) for r in patient.recommendations]
    called = {c["gene"] for c in calls}
    needed = sorted({g for r in recs for g in r["genes"]} - called)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sample_id": patient.sample_id,
        "batch": patient.batch,
        "provenance": _provenance(patient),
        "calls": sorted(calls, key=lambda c: c["gene"]),
        "not_called": sorted(c["gene"] for c in calls if c["call_status"] == "no_call"),
        "not_tested": needed,
        "recommendations": recs,
    }


def patient_json(patient: PatientData) -> bytes:
    """One patient's document as compact UTF-8 JSON."""
    return _dumps(patient_document(patient)).encode("utf-8") + b"\n"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: stands for a list in a document's skeleton; JSON never writes a NUL unescaped, so the
#: escaped form below can only come from these markers (and they come last)
_CALLS, _RECS = "\x00calls", "\x00recommendations"


class _BatchDocuments:
    """Every patient's document of a batch, each distinct call and recommendation turned
    into JSON once (a cohort's patients share most of them); byte for byte what
    :func:`patient_json` writes. The batch comes group of samples by group (:meth:`load`)."""

    def __init__(self, batch: BatchGroups):
        self.run = batch.run_id
        self.provenance = dict(batch.provenance)
        self._calls, self._recs = DistinctRows(), DistinctRows()
        self.call_json: list[str] = []
        self.rec_json: list[str] = []
        self.call_gene: list[str] = []
        self.call_missing: list[bool] = []
        self.rec_genes: list[list[str]] = []
        self.calls: dict[str, list[int]] = {}
        self.recs: dict[str, list[int]] = {}

    def load(self, calls: pa.Table, recs: pa.Table) -> _BatchDocuments:
        """Take the samples of ``calls`` and ``recs`` (each with all its rows) in place of
        the previous group's; the distinct rows met stay."""
        call_codes, new_calls = self._calls.number(calls)
        rec_codes, new_recs = self._recs.number(recs)
        for entry in (call_entry(self._calls.rows[i]) for i in new_calls):
            self.call_json.append(_dumps(entry))
            self.call_gene.append(entry["gene"])
            self.call_missing.append(entry["call_status"] == "no_call")
        for entry in (recommendation_entry(self._recs.rows[i]) for i in new_recs):
            self.rec_json.append(_dumps(entry))
            self.rec_genes.append(entry["genes"])
        self.calls = {}
        for sample, code in zip(calls.column("sample_id").to_pylist(), call_codes.tolist()):
            self.calls.setdefault(sample, []).append(code)
        self.recs = {}
        for sample, code in zip(recs.column("sample_id").to_pylist(), rec_codes.tolist()):
            self.recs.setdefault(sample, []).append(code)
        return self

    def document(self, sample_id: str) -> bytes:
        calls = sorted(self.calls[sample_id], key=lambda c: self.call_gene[c])
        recs = self.recs.get(sample_id, [])
        called = {self.call_gene[c] for c in calls}
        patient = PatientData(sample_id, [], [], self.provenance, self.run)
        skeleton = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "sample_id": sample_id,
            "batch": patient.batch,
            "provenance": _provenance(patient),
            "calls": _CALLS,
            "not_called": sorted(self.call_gene[c] for c in calls if self.call_missing[c]),
            "not_tested": sorted({g for r in recs for g in self.rec_genes[r]} - called),
            "recommendations": _RECS,
        }
        text = _dumps(skeleton)
        head, _, tail = text.rpartition(_dumps(_RECS))
        text = head + "[" + ",".join(self.rec_json[r] for r in recs) + "]" + tail
        head, _, tail = text.rpartition(_dumps(_CALLS))
        text = head + "[" + ",".join(self.call_json[c] for c in calls) + "]" + tail
        return text.encode("utf-8") + b"\n"


def write_patient_jsons(results_dir: Path | str, out_dir: Path | str, *, group_size: int = GROUP_SIZE) -> list[Path]:
    """One JSON document per sample of the committed batch in ``results_dir``, as
    ``out_dir/<sample file name>.json`` (see :mod:`pgx.patient_files`). The batch is read
    ``group_size`` samples at a time (:class:`pgx.patient_files.BatchGroups`): memory
    follows the group and the batch's distinct rows; the files do not depend on it."""
    batch = BatchGroups.open(results_dir)
    documents = _BatchDocuments(batch)

    def written() -> Iterator[bytes]:
        for samples, calls, recs in batch.groups(group_size):
            yield from map(documents.load(calls, recs).document, samples)

    return write_documents(out_dir, batch.samples, written(), ".json")
