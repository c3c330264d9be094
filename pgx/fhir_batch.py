"""A batch's FHIR bundles, each distinct resource built and serialised once.

:func:`pgx.fhir.build_bundle` builds every resource of a bundle as a ``fhir.resources``
model; about 225 of them per 1000 Genomes patient cost some 225 ms. Yet a cohort's
patients share nearly all their resources: a genotype observation is a function of the
gene's call row, a therapeutic implication or task of the recommendation row; the
patient's part is only the ids and references (the subject, the resource's own
``urn:uuid:`` and the references between resources). So :class:`BatchBundles`:

* finds the distinct call and recommendation rows of the batch, a group of samples at a
  time (:class:`pgx.patient_files.DistinctRows`, :func:`pgx.fhir.write_fhir_bundles`);
* builds each resource a distinct row needs once, with the same builders and models as
  :func:`pgx.fhir.build_bundle`, but with **slots** (marker strings) where a patient's
  ids and references go, serialises it with the library and cuts the JSON at the slots
  (:class:`Template`);
* writes a patient's bundle by filling the slots: strings encoded by the JSON encoder
  the library uses (``pydantic_core.to_json``), lists joined from filled templates.

Per patient, the Patient entry is still a model (it is all patient data), and the
conclusion is validated as a FHIR string. The bundle is byte for byte what
``bundle_json`` writes (tests compare them on varied patients; ``bench/export_speed.py``
and ``docs/fhir.md`` say how it was checked on the 1000 Genomes cohort). A template is
keyed by the whole row it is made from (calls: every column the builders read, and only
those reach them), so no patient's data can reach another patient's bundle unless their
rows are equal. The templates live in one ``BatchBundles`` (one batch, one knowledge
base) and go with it: memory is bounded by the batch's distinct rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from fhir.resources.R4B.bundle import BundleEntry
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.fhirtypes import StringType
from fhir.resources.R4B.reference import Reference
from pydantic import TypeAdapter
from pydantic_core import to_json

from pgx import fhir as fx
from pgx.outputs import read_table, verify_run
from pgx.patient_files import DistinctRows, PatientData, cell_items, columns_with_nulls

#: the call columns the builders read; only these reach them (see the module docstring)
CALL_COLUMNS = (
    "gene",
    "call_status",
    "diplotype",
    "phenotype",
    "activity_score",
    "lookup_key",
    "alternatives",
    "reason_codes",
    "warnings",
)

_FHIR_STRING = TypeAdapter(StringType)


def slot(name: str) -> str:
    """A marker for a patient's value in a resource built once. ``name[]`` stands for a
    list: the one-element object holding it is replaced by the list's elements."""
    return f"\x00{name}\x00"


#: a slot as serialised: NUL is always written escaped, so ``\\u0000`` comes from markers
_SLOT = re.compile(rb'\{"\w+":"\\u0000(\w+\[\])\\u0000"\}|"\\u0000(\w+)\\u0000"')


class NotTemplatable(Exception):
    """A row's text holds a NUL itself, so its resource cannot be cut at the markers."""


class Template:
    """A library-built model's JSON, cut at its slots."""

    __slots__ = ("literals", "names")

    def __init__(self, model: object):
        text = model.model_dump_json(exclude_none=True).encode("utf-8")
        pieces = _SLOT.split(text)
        self.literals = pieces[0::3]
        self.names = [(a or b).decode() for a, b in zip(pieces[1::3], pieces[2::3])]
        lists = [n for n in self.names if n.endswith("[]")]
        if text.count(b"\\u0000") != 2 * len(self.names) or len(lists) != len(set(lists)):
            raise NotTemplatable(text[:200])

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        """The JSON with each slot replaced by ``values[name]`` (JSON text; a list slot's
        elements joined by commas, never empty: the model would have left the list out)."""
        out = [self.literals[0]]
        for name, literal in zip(self.names, self.literals[1:]):
            value = values[name]
            if not value:
                raise ValueError(f"slot {name} of a FHIR template left empty")
            out.append(value)
            out.append(literal)
        return b"".join(out)


def _string(text: str) -> bytes:
    return to_json(text)


#: stand-ins the templates are built with
_SUBJECT = Reference(reference=slot("subject"), display=slot("subject_display"))
_URL = slot("url")


class BatchBundles:
    """Every patient's bundle of one batch (Parquet tables), distinct resources built once."""

    def __init__(
        self,
        calls: pa.Table,
        recs: pa.Table,
        provenance: Mapping[str, str],
        run_id: str,
        codes: fx.FhirCodes,
        *,
        nullable: set[str] = frozenset(),
    ):
        """``calls`` and ``recs``: the batch's tables, or its first group of samples
        (:meth:`load` takes the next; ``nullable``: the integer columns with a null
        anywhere in the batch, :class:`pgx.patient_files.DistinctRows`)."""
        self.codes = codes
        self.provenance = dict(provenance)
        self.run_id = run_id
        self._call_rows = DistinctRows(nullable, pandas_values=True)
        self._rec_rows = DistinctRows(nullable, pandas_values=True)
        self.call_rows, self.rec_rows = self._call_rows.rows, self._rec_rows.rows
        self.call_gene: list[str] = []
        self.call_display: list[str] = []
        self.rec_untested: list = []
        self.rec_represented: list[bool] = []
        self.rec_task: list[bool] = []
        self.rec_key: list[str] = []
        self.rec_genes: list[list[str]] = []
        self._templates: dict[tuple, Template | None] = {}
        self._provenance_json: bytes | None = None
        self._unprepared: tuple[list[int], list[int]] = ([], [])
        self.load(calls, recs)

    def load(self, calls: pa.Table, recs: pa.Table) -> BatchBundles:
        """Take the samples of ``calls`` and ``recs`` (a group of the batch's samples, each
        with all its rows) in place of the previous group's; the distinct rows met and
        their templates stay (memory: the batch's distinct rows)."""
        call_codes, new_calls = self._call_rows.number(calls.select(["sample_id", *CALL_COLUMNS]))
        rec_codes, new_recs = self._rec_rows.number(recs)
        self.calls: dict[str, list[int]] = {}
        for sample, code in zip(calls.column("sample_id").to_pylist(), call_codes.tolist()):
            self.calls.setdefault(sample, []).append(code)
        self.recs: dict[str, list[int]] = {}
        for sample, code in zip(recs.column("sample_id").to_pylist(), rec_codes.tolist()):
            self.recs.setdefault(sample, []).append(code)
        if self.calls:
            fx.check_kb(self.provenance, self.codes)
        for c in (self.call_rows[i] for i in new_calls):
            self.call_gene.append(str(c["gene"]))
            self.call_display.append(fx.genotype_display(str(c["gene"]), c))
        for r in (self.rec_rows[i] for i in new_recs):
            self.rec_untested.append(fx.untested_pairs(r))
            self.rec_represented.append(fx.represented(r))
            self.rec_task.append(str(r["action"]) in fx.TASK_ACTIONS)
            self.rec_key.append(fx.row_key(r))
            self.rec_genes.append(cell_items(r.get("genes")))
        self._unprepared = (self._unprepared[0] + new_calls, self._unprepared[1] + new_recs)
        return self

    @classmethod
    def read(cls, results_dir: Path | str, codes: fx.FhirCodes) -> BatchBundles:
        """The committed batch in ``results_dir``, whole (:func:`pgx.fhir.write_fhir_bundles`
        reads it by groups of samples)."""
        results_dir = Path(results_dir)
        run = verify_run(results_dir, ("calls", "recommendations", "provenance"))
        prov = read_table(results_dir / "provenance.parquet")  # as read_patients reads it
        calls = pq.read_table(results_dir / "calls.parquet")
        recs = pq.read_table(results_dir / "recommendations.parquet")
        nullable = columns_with_nulls(results_dir / "calls.parquet") | columns_with_nulls(results_dir / "recommendations.parquet")
        return cls(calls, recs, dict(zip(prov["key"], prov["value"])), run, codes, nullable=nullable)

    @property
    def samples(self) -> list[str]:
        """Every sample, in the order of the calls table."""
        return list(self.calls)

    def patient(self, sample_id: str) -> PatientData:
        """The sample as :func:`pgx.patient_files.read_patients` gives it (calls with the
        columns the builders read)."""
        calls = [self.call_rows[c] for c in self.calls[sample_id]]
        recs = [self.rec_rows[r] for r in self.recs.get(sample_id, [])]
        return PatientData(sample_id, calls, recs, self.provenance, self.run_id)

    def bundle_json(self, sample_id: str) -> bytes:
        """The sample's bundle: the bytes :func:`pgx.fhir.bundle_json` writes."""
        try:
            return self._assemble(sample_id)
        except NotTemplatable:
            return fx.bundle_json(self.patient(sample_id), self.codes)

    def prepare(self) -> BatchBundles:
        """Build the templates nearly every batch needs (each distinct row's resources) now,
        so that forked workers share them instead of each building its own (the rows
        met since the last call)."""
        new_calls, new_recs = self._unprepared
        self._unprepared = ([], [])
        for call in new_calls:
            row = self.call_rows[call]
            self._ready(lambda: self._genotype(self.call_gene[call], call, ()))
            self._ready(lambda: self._phenotype(call))
            self._ready(lambda: self._reference(self.call_display[call]))
            if self._templates.get(("phenotype", call)) is not None:
                self._ready(lambda: self._reference(fx.phenotype_display(self.call_gene[call], row)))
        for rec in new_recs:
            row = self.rec_rows[rec]
            if self.rec_represented[rec]:
                self._ready(lambda: self._implication(rec, tuple(self.rec_genes[rec])))
                self._ready(lambda: self._reference(fx.implication_display(row)))
                if self.rec_task[rec]:
                    self._ready(lambda: self._task(rec))
                    self._ready(lambda: self._action(rec))
        self._ready(self._report)
        self._ready(self._bundle)
        return self

    @staticmethod
    def _ready(make) -> None:
        try:
            make()
        except NotTemplatable:
            pass  # the patients with that row get the model build

    # --- templates, one per distinct resource ---------------------------------------------

    def _template(self, key: tuple, build) -> Template | None:
        try:
            return self._templates[key]
        except KeyError:
            model = build()
            self._templates[key] = template = None if model is None else Template(model)
            return template

    def _genotype(self, gene: str, call: int | None, untested: tuple[str, ...]) -> Template:
        row = {"gene": gene} if call is None else self.call_rows[call]
        return self._template(
            ("genotype", gene if call is None else call, untested),
            lambda: fx.bundle_entry(_URL, fx.genotype_observation(row, self.codes, _SUBJECT, list(untested))),
        )

    def _phenotype(self, call: int) -> Template | None:
        def build():
            derived = Reference(reference=slot("derived[]"))
            observation = fx.phenotype_observation(self.call_rows[call], _SUBJECT, derived)
            return None if observation is None else fx.bundle_entry(_URL, observation)

        return self._template(("phenotype", call), build)

    def _implication(self, rec: int, present: tuple[str, ...]) -> Template:
        def build():
            genotypes = {present[0]: Reference(reference=slot("derived[]"))} if present else {}
            return fx.bundle_entry(_URL, fx.therapeutic_implication(self.rec_rows[rec], self.codes, _SUBJECT, genotypes))

        return self._template(("implication", rec, bool(present)), build)

    def _task(self, rec: int) -> Template:
        def build():
            row = self.rec_rows[rec]
            implication = Reference(reference=slot("implication"), display=fx.implication_display(row))
            return fx.bundle_entry(_URL, fx.medication_recommendation(row, self.codes, _SUBJECT, implication))

        return self._template(("task", rec), build)

    def _reference(self, display: str) -> Template:
        return self._template(("reference", display), lambda: Reference(reference=_URL, display=display))

    def _action(self, rec: int) -> Template:
        return self._template(("action", rec), lambda: fx.recommended_action(self.rec_rows[rec], _URL))

    def _report(self) -> Template:
        def build():
            report = fx.genomic_report(
                [Extension(url=slot("extensions[]"))],
                slot("report_id"),
                _SUBJECT,
                [Reference(reference=slot("results[]"))],
                slot("conclusion"),
            )
            return fx.bundle_entry(_URL, report)

        return self._template(("report",), build)

    def _bundle(self) -> Template:
        return self._template(("bundle",), lambda: fx.transaction(slot("bundle_id"), [BundleEntry(fullUrl=slot("entries[]"))]))

    def _provenance(self, patient: PatientData) -> bytes:
        """The report's version and checksum extensions: the batch's, the same for all."""
        if self._provenance_json is None:
            extensions = fx.provenance_extensions(patient, self.codes.kb_version)
            self._provenance_json = b",".join(e.model_dump_json(exclude_none=True).encode("utf-8") for e in extensions)
        return self._provenance_json

    # --- one bundle -----------------------------------------------------------------------

    def _assemble(self, sample_id: str) -> bytes:
        """:func:`pgx.fhir.build_bundle`, step for step, from templates."""
        patient = PatientData(sample_id, [], [], self.provenance, self.run_id)
        resource_id = fx.resource_uuids(patient)

        def url(key: str) -> bytes:
            return _string(f"urn:uuid:{resource_id(key)}")

        entry = fx.patient_entry(patient)  # all patient data: a model, each time
        entries = [entry.model_dump_json(exclude_none=True).encode("utf-8")]
        subject = {"subject": _string(entry.fullUrl), "subject_display": _string(sample_id)}

        recs = self.recs.get(sample_id, [])
        untested = fx.untested_drugs(pair for r in recs for pair in self.rec_untested[r])
        calls: dict[str, int | None] = {self.call_gene[c]: c for c in self.calls[sample_id]}
        for gene in self.codes.genes:
            calls.setdefault(gene, None)
        genotypes: dict[str, bytes] = {}
        results: list[bytes] = []
        for gene in sorted(calls):
            call = calls[gene]
            genotype_url = url("genotype:" + gene)
            entries.append(self._genotype(gene, call, tuple(untested.get(gene, []))).fill({**subject, "url": genotype_url}))
            display = self.call_display[call] if call is not None else fx.genotype_display(gene, {})
            genotypes[gene] = self._reference(display).fill({"url": genotype_url})
            results.append(genotypes[gene])
            phenotype = self._phenotype(call) if call is not None else None
            if phenotype is not None:
                phenotype_url = url("phenotype:" + gene)
                entries.append(phenotype.fill({**subject, "url": phenotype_url, "derived[]": genotypes[gene]}))
                results.append(self._reference(fx.phenotype_display(gene, self.call_rows[call])).fill({"url": phenotype_url}))

        actions: list[bytes] = []
        for i, rec in enumerate(r for r in recs if self.rec_represented[r]):
            key = self.rec_key[rec] + str(i)
            implication_url = url("implication:" + key)
            present = tuple(g for g in self.rec_genes[rec] if g in genotypes)
            derived = b",".join(genotypes[g] for g in present)
            entries.append(self._implication(rec, present).fill({**subject, "url": implication_url, "derived[]": derived}))
            results.append(self._reference(fx.implication_display(self.rec_rows[rec])).fill({"url": implication_url}))
            if self.rec_task[rec]:
                task_url = url("task:" + key)
                entries.append(self._task(rec).fill({**subject, "url": task_url, "implication": implication_url}))
                actions.append(self._action(rec).fill({"url": task_url}))

        call_rows = {g: (self.call_rows[c] if c is not None else {"gene": g}) for g, c in calls.items()}
        conclusion = _FHIR_STRING.validate_python(fx.conclusion(patient, call_rows, untested, self.codes.kb_version))
        report_id = resource_id("report")
        entries.append(
            self._report().fill(
                {
                    **subject,
                    "url": _string(f"urn:uuid:{report_id}"),
                    "report_id": _string(report_id),
                    "extensions[]": b",".join([*actions, self._provenance(patient)]),
                    "results[]": b",".join(results),
                    "conclusion": _string(conclusion),
                }
            )
        )
        bundle = self._bundle().fill({"bundle_id": _string(resource_id("bundle")), "entries[]": b",".join(entries)})
        return bundle + b"\n"
