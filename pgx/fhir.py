"""One HL7 FHIR R4 bundle per patient, in the pharmacogenomics pattern of the Genomics
Reporting implementation guide, built with the ``fhir.resources`` R4B models.

A bundle (a ``transaction``, so that one POST puts it on a FHIR server) holds:

* the **Patient**, identified by the sample ID (created only if no patient with that
  identifier exists);
* per gene, a **Genotype** observation (LOINC 84413-4): the diplotype as the guideline
  names it, the gene as its HGNC code (LOINC 48018-6). A no-call or a gene not assessed
  has no value but a ``dataAbsentReason``, its reasons as codes and words, and the drugs
  whose guidance needed it; an ambiguous call lists every tied diplotype;
* per gene with a phenotype, a **Diagnostic implication** (the phenotype): metabolizer
  status or function (LOINC answer codes where LOINC has one), with the activity score;
* per drug recommendation that rests on results, a **Therapeutic implication** (the drug
  in RxNorm, the phenotypes it rests on, the strength, the guideline cited with its link)
  and, when the guideline advises a change (anything but the usual dose), a
  **Medication recommendation** task;
* the **Genomic report** (DiagnosticReport, LOINC 51969-4) referring to all of them, with
  the knowledge-base version, the pgx version and the input checksums.

A recommendation that only says a gene it needs had no result never becomes an
implication or a task: it is stated on that gene's genotype observation instead, so
nothing that is not a result looks like one. ``docs/fhir.md`` gives the codes, the
profiles and the choices made where the guide is silent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.relatedartifact import RelatedArtifact
from fhir.resources.R4B.task import Task, TaskInput

from pgx import __version__
from pgx.errors import KnowledgeBaseError
from pgx.kb import KnowledgeBase, load_kb
from pgx.patient_files import (
    GROUP_SIZE,
    BatchGroups,
    PatientData,
    cell_items as _items,
    cell_text as _text,
    cell_value as _value,
    columns_with_nulls,
    in_pool,
    write_documents,
)
from pgx.schema import CALL_REASONS, NO_RESULT

# --- code systems and profiles (docs/fhir.md) ---------------------------------------------

LOINC = "http://loinc.org"
HGNC = "http://www.genenames.org/geneId"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
PROFILE = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/"
RECOMMENDED_ACTION = PROFILE + "recommended-action"
RELATED_ARTIFACT = "http://hl7.org/fhir/StructureDefinition/workflow-relatedArtifact"

#: pgx's own codes and identifiers, for what no public code system names
PGX = "urn:pgx:fhir"
SAMPLE_ID_SYSTEM = f"{PGX}:sample-id"
CALL_STATUS_SYSTEM = f"{PGX}:call-status"
REASON_SYSTEM = f"{PGX}:call-reason"
ACTION_SYSTEM = f"{PGX}:action"
ELEMENT_SYSTEM = f"{PGX}:element"
EXT_KB_VERSION = f"{PGX}:extension:kb-version"
EXT_PGX_VERSION = f"{PGX}:extension:pgx-version"
EXT_INPUT_SHA256 = f"{PGX}:extension:input-sha256"
EXT_RUN_ID = f"{PGX}:extension:run-id"

GENOTYPE_CODE = (LOINC, "84413-4", "Genotype display name")
GENE_STUDIED_CODE = (LOINC, "48018-6", "Gene studied [ID]")
REPORT_CODE = (LOINC, "51969-4", "Genetic analysis report")
PREDICTED_PHENOTYPE_CODE = (LOINC, "81259-4", "Associated phenotype")
MEDICATION_ASSESSED_CODE = (LOINC, "51963-7", "Medication assessed [ID]")
EVIDENCE_LEVEL_CODE = (LOINC, "93044-6", "Level of evidence")
TREATMENT_CONTEXT_CODE = (LOINC, "81259-4", "Associated phenotype")
DIAGNOSTIC_IMPLICATION_CODE = (TBD, "diagnostic-implication", "Diagnostic Implication")
THERAPEUTIC_IMPLICATION_CODE = (TBD, "therapeutic-implication", "Therapeutic Implication")

#: phenotypes with a LOINC answer code (the guide's GeneticTherapeuticImplicationsVS)
PHENOTYPE_ANSWERS: dict[str, tuple[str, str]] = {
    "ultrarapid metabolizer": ("LA10315-2", "Ultrarapid metabolizer"),
    "rapid metabolizer": ("LA25390-8", "Rapid metabolizer"),
    "normal metabolizer": ("LA25391-6", "Normal metabolizer"),
    "intermediate metabolizer": ("LA10317-8", "Intermediate metabolizer"),
    "poor metabolizer": ("LA9657-3", "Poor metabolizer"),
    "increased function": ("LA25392-4", "Increased function"),
    "normal function": ("LA25393-2", "Normal function"),
    "decreased function": ("LA25395-7", "Decreased function"),
    "poor function": ("LA25394-0", "Poor function"),
}

#: pgx actions (schema.ACTIONS): display, and the LOINC answer (LL4049-4, medication usage
#: suggestion) where one means the same; actions without one are coded by pgx only
ACTIONS: dict[str, tuple[str, tuple[str, str] | None]] = {
    "avoid": ("Avoid", ("LA26421-0", "Consider alternative medication")),
    "use_alternative": ("Use an alternative", ("LA26421-0", "Consider alternative medication")),
    "consider_alternative": ("Consider an alternative", ("LA26421-0", "Consider alternative medication")),
    "reduce_dose": ("Reduce the dose", ("LA26422-8", "Decrease dose")),
    "increase_dose": ("Increase the dose", ("LA26423-6", "Increase dose")),
    "standard_dose": ("Use the usual dose", None),
    "monitor": ("Monitor", None),
    "assess_further": ("Assess further before deciding", None),
    "no_recommendation": ("The guideline makes no recommendation for this result", None),
    "no_guideline_match": ("The guideline has no recommendation for this result", None),
}

#: actions that are advice; the other two say the guideline gives none
ADVICE_ACTIONS = frozenset(ACTIONS) - {"no_recommendation", "no_guideline_match"}

#: advice that changes what the prescriber does, so it becomes a Task (a proposal); the
#: usual dose is stated by the therapeutic implication alone
TASK_ACTIONS = ADVICE_ACTIONS - {"standard_dose"}

# --- small builders -----------------------------------------------------------------------


def _concept(code: tuple[str, str, str] | None = None, text: str | None = None, *more: Coding) -> CodeableConcept:
    codings = ([Coding(system=code[0], code=code[1], display=code[2])] if code else []) + list(more)
    return CodeableConcept(coding=codings or None, text=text or None)


def _coding(system: str, code: str, display: str | None = None) -> Coding:
    return Coding(system=system, code=code, display=display or None)


def _categories() -> list[CodeableConcept]:
    return [
        _concept((OBSERVATION_CATEGORY, "laboratory", "Laboratory")),
        _concept((DIAGNOSTIC_SERVICE, "GE", "Genetics")),
    ]


def _component(code: tuple[str, str, str], **value: object) -> ObservationComponent:
    return ObservationComponent(code=_concept(code), **value)


def _pgx_element(name: str, display: str) -> tuple[str, str, str]:
    return (ELEMENT_SYSTEM, name, display)


def phenotype_concept(gene: str, phenotype: str) -> CodeableConcept:
    """A phenotype as text (``CYP2C19 Poor Metabolizer``) with its LOINC answer when one exists."""
    answer = PHENOTYPE_ANSWERS.get(phenotype.strip().lower())
    code = (LOINC, answer[0], answer[1]) if answer else None
    return _concept(code, f"{gene} {phenotype}")


def drug_concept(drug: str, drug_id: str) -> CodeableConcept:
    """The drug coded by its KB id (``RxNorm:190521``, ``ATC:...``); other ids as text only."""
    prefix, _, code = drug_id.partition(":")
    system = {"rxnorm": RXNORM, "atc": ATC}.get(prefix.lower())
    return _concept((system, code, drug) if system and code else None, drug)


def resource_uuid(patient: PatientData, key: str) -> str:
    """A stable id for one resource of one patient's bundle: the same run gives the same ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PGX}:{patient.run_id}:{patient.sample_id}:{key}"))


def resource_uuids(patient: PatientData) -> Callable[[str], str]:
    """``key -> resource_uuid(patient, key)``, the same name-based UUID (version 5) made
    faster for a whole bundle: the patient's part of the name is hashed once (the batch
    writer's; tested equal)."""
    base = hashlib.sha1(uuid.NAMESPACE_URL.bytes + f"{PGX}:{patient.run_id}:{patient.sample_id}:".encode("utf-8"))

    def resource_id(key: str) -> str:
        digest = base.copy()
        digest.update(key.encode("utf-8"))
        x = digest.hexdigest()  # version 5 in the 13th digit, the RFC 4122 variant in the 17th
        return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{'89ab'[int(x[16], 16) & 3]}{x[17:20]}-{x[20:32]}"

    return resource_id


# --- the knowledge the bundle needs ---------------------------------------------------------


class FhirCodes:
    """Gene and drug codes from the knowledge base the batch was run with."""

    def __init__(self, kb: KnowledgeBase):
        genes = kb.tables["genes"]
        if "hgnc_id" not in genes.columns:
            raise KnowledgeBaseError(
                f"{kb.root}: the genes table has no hgnc_id column; rebuild the knowledge base (pgx kb build)"
            )
        self.kb_version = kb.version
        self.hgnc = {str(g): _text(h) for g, h in zip(genes["gene"], genes["hgnc_id"])}
        self.genes = sorted(self.hgnc)
        drugs = kb.tables["drugs"]
        self.drug_ids: dict[tuple[str, str], str] = {}
        for source, drug, drug_id in zip(drugs["source"], drugs["drug"], drugs["drug_id"]):
            if _text(drug_id):
                self.drug_ids.setdefault((str(source), str(drug)), str(drug_id))
                self.drug_ids.setdefault(("", str(drug)), str(drug_id))

    def gene_concept(self, gene: str) -> CodeableConcept:
        hgnc = self.hgnc.get(gene, "")
        return _concept((HGNC, hgnc, gene) if hgnc else None, gene)

    def drug(self, source: str, drug: str) -> CodeableConcept:
        return drug_concept(drug, self.drug_ids.get((source, drug)) or self.drug_ids.get(("", drug), ""))


# --- resources ----------------------------------------------------------------------------


def bundle_entry(full_url: str, resource: object, method: str = "POST", if_none_exist: str | None = None) -> BundleEntry:
    request = BundleEntryRequest(method=method, url=resource.get_resource_type(), ifNoneExist=if_none_exist)
    return BundleEntry(fullUrl=full_url, resource=resource, request=request)


def patient_resource(sample_id: str) -> Patient:
    return Patient(identifier=[Identifier(system=SAMPLE_ID_SYSTEM, value=sample_id)])


def _call_components(call: dict, codes: FhirCodes) -> list[ObservationComponent]:
    status = _text(call.get("call_status")) or "not_assessed"
    parts = [
        _component(GENE_STUDIED_CODE, valueCodeableConcept=codes.gene_concept(call["gene"])),
        _component(
            _pgx_element("call-status", "Call status"),
            valueCodeableConcept=_concept((CALL_STATUS_SYSTEM, status, status.replace("_", " "))),
        ),
    ]
    for reason in _items(call.get("reason_codes")):
        concept = _concept((REASON_SYSTEM, reason, CALL_REASONS.get(reason, reason)))
        parts.append(
            _component(_pgx_element("call-reason", "Why the call is incomplete or uncertain"), valueCodeableConcept=concept)
        )
    for alternative in _items(call.get("alternatives")):
        parts.append(
            _component(_pgx_element("alternative-diplotype", "A diplotype tied with the others"), valueString=alternative)
        )
    return parts


def genotype_observation(call: dict, codes: FhirCodes, subject: Reference, untested_drugs: Sequence[str]) -> Observation:
    """The genotype of one gene; a gene without a call says so (``dataAbsentReason``), never
    gives a value, and names the drugs whose guidance needed it."""
    status = _text(call.get("call_status"))
    diplotype = _text(call.get("diplotype"))
    notes = [Annotation(text=w) for w in _items(call.get("warnings"))]
    value = absent = None
    if status in ("called", "outside_call", "ambiguous") and diplotype:
        value = _concept(None, diplotype)
        if status == "ambiguous":
            listed = "; ".join(_items(call.get("alternatives"))) or diplotype
            notes.insert(0, Annotation(text=f"Ambiguous call: these diplotypes fit equally well: {listed}"))
    else:
        covered = "gene_not_covered" not in _items(call.get("reason_codes")) and status
        why = "; ".join(_items(call.get("warnings"))) or ("not assessed in this run" if not status else "could not be called")
        absent = _concept(
            (DATA_ABSENT, "unknown" if covered else "not-performed", "Unknown" if covered else "Not Performed"),
            f"No result: {why}",
        )
    if untested_drugs:
        notes.append(
            Annotation(
                text=f"No genotype-guided advice could be given for: {', '.join(untested_drugs)} ({call['gene']} has no result)"
            )
        )
    return Observation(
        meta=Meta(profile=[PROFILE + "genotype"]),
        status="final",
        category=_categories(),
        code=_concept(GENOTYPE_CODE),
        subject=subject,
        valueCodeableConcept=value,
        dataAbsentReason=absent,
        component=_call_components(call, codes),
        note=notes or None,
    )


def phenotype_observation(call: dict, subject: Reference, genotype: Reference) -> Observation | None:
    """The phenotype of one gene (a diagnostic implication), with its activity score; None
    when the gene has no phenotype."""
    phenotype = _text(call.get("phenotype"))
    if not phenotype or phenotype == NO_RESULT:
        return None
    parts = [_component(PREDICTED_PHENOTYPE_CODE, valueCodeableConcept=phenotype_concept(call["gene"], phenotype))]
    score = _value(call.get("activity_score"))
    if score is not None:
        parts.append(_component(_pgx_element("activity-score", "Activity score"), valueQuantity=Quantity(value=float(score))))
    key = _text(call.get("lookup_key"))
    if key and key not in (phenotype, NO_RESULT) and score is None:
        parts.append(_component(_pgx_element("lookup-key", "Result the guidelines are looked up by"), valueString=key))
    return Observation(
        meta=Meta(profile=[PROFILE + "diagnostic-implication"]),
        status="final",
        category=_categories(),
        code=_concept(DIAGNOSTIC_IMPLICATION_CODE),
        subject=subject,
        derivedFrom=[genotype],
        component=parts,
    )


def _recommendation_phenotypes(rec: dict) -> list[tuple[str, str]]:
    """(gene, result) the recommendation rests on, from its ``phenotypes`` (``GENE: result``)."""
    out = []
    for item in _items(rec.get("phenotypes")):
        gene, _, result = item.partition(":")
        out.append((gene.strip(), result.strip()))
    if not out:
        for part in _text(rec.get("lookup_key")).split(";"):
            gene, _, result = part.partition("=")
            if gene:
                out.append((gene.strip(), result.strip()))
    return out


def missing_genes(rec: dict) -> list[str]:
    """Genes a recommendation row needs that had no result."""
    return [g for g, result in _recommendation_phenotypes(rec) if result == NO_RESULT]


def _evidence(rec: dict) -> str:
    strength = _text(rec.get("strength"))
    level = _text(rec.get("cpic_level"))
    text = f"{_text(rec.get('source'))}: {strength or 'strength not given'}"
    return text + (f" (CPIC level {level})" if level else "")


def _citation(rec: dict) -> Extension:
    pmids = _text(rec.get("pmid"))
    artifact = RelatedArtifact(
        type="citation",
        label=_text(rec.get("source")) or None,
        display=_text(rec.get("guideline")) or None,
        url=_text(rec.get("url")) or None,
        citation=f"PMID {pmids.replace(';', ', PMID ')}" if pmids else None,
    )
    return Extension(url=RELATED_ARTIFACT, valueRelatedArtifact=artifact)


def therapeutic_implication(rec: dict, codes: FhirCodes, subject: Reference, genotypes: dict[str, Reference]) -> Observation:
    """What the patient's results mean for one drug, by one guideline row."""
    source = _text(rec.get("source"))
    parts = [_component(MEDICATION_ASSESSED_CODE, valueCodeableConcept=codes.drug(source, str(rec["drug"])))]
    for gene, result in _recommendation_phenotypes(rec):
        value = (
            _concept(None, f"{gene}: {result} (not called: no result)")
            if result == NO_RESULT
            else phenotype_concept(gene, result)
        )
        parts.append(_component(THERAPEUTIC_IMPLICATION_CODE, valueCodeableConcept=value))
    parts.append(_component(EVIDENCE_LEVEL_CODE, valueCodeableConcept=_concept(None, _evidence(rec))))
    if _text(rec.get("indication")):
        parts.append(_component(TREATMENT_CONTEXT_CODE, valueCodeableConcept=_concept(None, _text(rec.get("indication")))))
    notes = [Annotation(text=t) for t in (_text(rec.get("text")), _conditions(rec)) if t]
    ident = _text(rec.get("recommendation_id"))
    branch = _value(rec.get("branch"))
    return Observation(
        meta=Meta(profile=[PROFILE + "therapeutic-implication"]),
        extension=[_citation(rec)],
        identifier=[
            Identifier(system=f"{PGX}:recommendation-id", value=f"{ident}#{int(branch)}" if branch is not None else ident)
        ]
        if ident
        else None,
        status="final",
        category=_categories(),
        code=_concept(THERAPEUTIC_IMPLICATION_CODE),
        subject=subject,
        derivedFrom=[genotypes[g] for g in _items(rec.get("genes")) if g in genotypes] or None,
        component=parts,
        note=notes or None,
    )


_CONDITIONS = ("population", "indication", "age", "risk_factors", "other_conditions")


def _conditions(rec: dict) -> str:
    held = [f"{c.replace('_', ' ')}: {_text(rec.get(c))}" for c in _CONDITIONS if _text(rec.get(c))]
    return f"This advice holds for {'; '.join(held)}" if held else ""


def _dose_inputs(rec: dict) -> list[TaskInput]:
    """The recommendation's structured facts, one Task input each."""
    facts: list[tuple[str, str]] = [(c.replace("_", " "), _text(rec.get(c))) for c in _CONDITIONS if _text(rec.get(c))]
    low, high = _value(rec.get("dose_factor_min")), _value(rec.get("dose_factor_max"))
    if low is not None:
        factor = f"{low:g}" if high in (None, low) else f"{low:g} to {high:g}"
        ref = _text(rec.get("dose_reference")) or "standard"
        facts.append(("dose factor", f"{factor} x the {ref} dose"))
    for column in ("dose_applies_to", "dose_amount", "dose_schedule", "dose_unchanged"):
        if _text(rec.get(column)):
            facts.append((column.replace("_", " "), _text(rec.get(column))))
    for column in ("dose_caps", "followup", "alternatives", "not_alternatives", "other_actions"):
        for item in _items(rec.get(column)):
            facts.append((column.replace("_", " ").rstrip("s"), item))
    return [TaskInput(type=_concept(_pgx_element(name.replace(" ", "-"), name)), valueString=value) for name, value in facts]


def medication_recommendation(rec: dict, codes: FhirCodes, subject: Reference, implication: Reference) -> Task:
    """The action the guideline advises for one drug (a proposal to the prescriber)."""
    action = str(rec["action"])
    display, loinc = ACTIONS[action]
    drug = str(rec["drug"])
    code = _concept((ACTION_SYSTEM, action, display), f"{display}: {drug}", *([_coding(LOINC, *loinc)] if loinc else []))
    description = _text(rec.get("text")) or f"{display}: {drug}"
    missing = missing_genes(rec)
    if missing:
        description += (
            f" (This is the guideline's advice when {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no result; "
            "testing may change it.)"
        )
    return Task(
        meta=Meta(profile=[PROFILE + "medication-recommendation"]),
        status="requested",
        intent="proposal",
        code=code,
        description=description,
        for_fhir=subject,
        reasonReference=implication,
        input=_dose_inputs(rec) or None,
    )


def provenance_extensions(patient: PatientData, kb_version: str) -> list[Extension]:
    ext = [
        Extension(url=EXT_KB_VERSION, valueString=kb_version),
        Extension(url=EXT_PGX_VERSION, valueString=patient.provenance.get("pipeline_version") or __version__),
        Extension(url=EXT_RUN_ID, valueString=patient.run_id),
    ]
    ext += [
        Extension(url=EXT_INPUT_SHA256, valueString=f"{name} sha256:{sha}")
        for name, sha in sorted(patient.input_checksums.items())
    ]
    return ext


# --- the bundle ---------------------------------------------------------------------------


def untested_pairs(rec: dict) -> list[tuple[str, str]]:
    """(gene, drug) for each gene a row without advice names as having no result."""
    if str(rec["action"]) in ADVICE_ACTIONS:
        return []
    return [(gene, str(rec["drug"])) for gene in missing_genes(rec)]


def untested_drugs(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Gene -> drugs whose every applicable row only says the gene had no result, from the
    :func:`untested_pairs` of a patient's rows."""
    out: dict[str, set[str]] = {}
    for gene, drug in pairs:
        out.setdefault(gene, set()).add(drug)
    return {g: sorted(d) for g, d in out.items()}


def represented(rec: dict) -> bool:
    """Whether a recommendation row becomes a therapeutic implication: it gives advice, or
    the guideline says it has none for results that were all called."""
    action = str(rec["action"])
    return action in ADVICE_ACTIONS or (action == "no_recommendation" and not missing_genes(rec))


def check_kb(provenance: Mapping[str, str], codes: FhirCodes) -> None:
    """Refuse a batch that was run with another knowledge base than the one loaded."""
    if provenance.get("kb_version") and provenance["kb_version"] != codes.kb_version:
        raise KnowledgeBaseError(
            f"batch {provenance.get('batch', '')!r} was run with knowledge base {provenance['kb_version']}, but "
            f"{codes.kb_version} is loaded; give the batch's knowledge base (--kb, or `kb` in the config)"
        )


def patient_entry(patient: PatientData) -> BundleEntry:
    """The bundle's first entry: the patient, created only if no patient has the sample ID."""
    search = f"identifier={quote(SAMPLE_ID_SYSTEM, safe=':')}|{quote(patient.sample_id, safe='')}"
    return bundle_entry(patient_url(patient), patient_resource(patient.sample_id), if_none_exist=search)


def patient_url(patient: PatientData) -> str:
    return f"urn:uuid:{resource_uuid(patient, 'patient')}"


def subject_reference(url: str, sample_id: str) -> Reference:
    return Reference(reference=url, display=sample_id)


def genotype_display(gene: str, call: dict) -> str:
    """How a genotype observation is named where it is referred to."""
    return f"{gene} {_text(call.get('diplotype')) or NO_RESULT}"


def phenotype_display(gene: str, call: dict) -> str:
    return f"{gene} {call.get('phenotype')}"


def row_key(rec: dict) -> str:
    """What a recommendation row's resource ids are made from, before its position among
    the patient's implications."""
    return f"{rec['drug']}:{rec['source']}:{_text(rec.get('recommendation_id'))}:{_text(rec.get('branch'))}:"


def implication_display(rec: dict) -> str:
    return f"{rec['drug']} ({rec['source']})"


def recommended_action(rec: dict, task_url: str) -> Extension:
    """The report's pointer to one task."""
    display = f"{ACTIONS[str(rec['action'])][0]}: {rec['drug']}"
    return Extension(url=RECOMMENDED_ACTION, valueReference=Reference(reference=task_url, display=display))


def genomic_report(
    extensions: list[Extension], report_id: str, subject: Reference, results: list[Reference], conclusion: str
) -> DiagnosticReport:
    """The bundle's DiagnosticReport: every observation, every task (as recommended
    actions), the versions and checksums (``extensions``) and the summary."""
    return DiagnosticReport(
        meta=Meta(profile=[PROFILE + "genomic-report"]),
        extension=extensions,
        identifier=[Identifier(system=f"{PGX}:report", value=report_id)],
        status="final",
        category=[_concept((DIAGNOSTIC_SERVICE, "GE", "Genetics"))],
        code=_concept(REPORT_CODE),
        subject=subject,
        result=results,
        conclusion=conclusion,
    )


def transaction(bundle_id: str, entries: list[BundleEntry]) -> Bundle:
    return Bundle(identifier=Identifier(system=f"{PGX}:bundle", value=bundle_id), type="transaction", entry=entries)


def build_bundle(patient: PatientData, codes: FhirCodes) -> Bundle:
    """The FHIR transaction bundle of one patient, every resource built as a model (the
    reference the batch writer, :mod:`pgx.fhir_batch`, is tested against)."""
    check_kb(patient.provenance, codes)
    entries: list[BundleEntry] = [patient_entry(patient)]
    subject = subject_reference(patient_url(patient), patient.sample_id)

    recs = patient.recommendations
    untested = untested_drugs(pair for rec in recs for pair in untested_pairs(rec))
    calls = {str(c["gene"]): c for c in patient.calls}
    for gene in codes.genes:  # genes of the KB this run did not assess are stated too
        calls.setdefault(gene, {"gene": gene})
    genotypes: dict[str, Reference] = {}
    results: list[Reference] = []
    for gene in sorted(calls):
        call = calls[gene]
        url = f"urn:uuid:{resource_uuid(patient, 'genotype:' + gene)}"
        entries.append(bundle_entry(url, genotype_observation(call, codes, subject, untested.get(gene, []))))
        genotypes[gene] = Reference(reference=url, display=genotype_display(gene, call))
        results.append(genotypes[gene])
        phenotype = phenotype_observation(call, subject, genotypes[gene])
        if phenotype is not None:
            url = f"urn:uuid:{resource_uuid(patient, 'phenotype:' + gene)}"
            entries.append(bundle_entry(url, phenotype))
            results.append(Reference(reference=url, display=phenotype_display(gene, call)))

    actions: list[Extension] = []
    for i, rec in enumerate(r for r in recs if represented(r)):
        key = row_key(rec) + str(i)
        url = f"urn:uuid:{resource_uuid(patient, 'implication:' + key)}"
        entries.append(bundle_entry(url, therapeutic_implication(rec, codes, subject, genotypes)))
        implication = Reference(reference=url, display=implication_display(rec))
        results.append(implication)
        if str(rec["action"]) in TASK_ACTIONS:
            task_url = f"urn:uuid:{resource_uuid(patient, 'task:' + key)}"
            entries.append(bundle_entry(task_url, medication_recommendation(rec, codes, subject, implication)))
            actions.append(recommended_action(rec, task_url))

    report = genomic_report(
        actions + provenance_extensions(patient, codes.kb_version),
        resource_uuid(patient, "report"),
        subject,
        results,
        conclusion(patient, calls, untested, codes.kb_version),
    )
    entries.append(bundle_entry(f"urn:uuid:{resource_uuid(patient, 'report')}", report))
    return transaction(resource_uuid(patient, "bundle"), entries)


def conclusion(patient: PatientData, calls: dict[str, dict], untested: dict[str, list[str]], kb_version: str) -> str:
    called = [g for g, c in sorted(calls.items()) if _text(c.get("call_status")) in ("called", "outside_call")]
    ambiguous = [g for g, c in sorted(calls.items()) if _text(c.get("call_status")) == "ambiguous"]
    missing = [g for g in sorted(calls) if g not in called and g not in ambiguous]
    parts = [f"Pharmacogenomic results of sample {patient.sample_id} (batch {patient.batch})."]
    parts.append(f"Called: {', '.join(called) or 'none'}.")
    if ambiguous:
        parts.append(f"Ambiguous (several diplotypes fit; see each genotype): {', '.join(ambiguous)}.")
    parts.append(f"No result (not called or not assessed; see each genotype for why): {', '.join(missing) or 'none'}.")
    if untested:
        drugs = sorted({d for ds in untested.values() for d in ds})
        parts.append(f"Drugs without genotype-guided advice because a gene they need has no result: {', '.join(drugs)}.")
    parts.append(f"Made by pgx {patient.provenance.get('pipeline_version') or __version__} with knowledge base {kb_version}.")
    return " ".join(parts)


def bundle_json(patient: PatientData, codes: FhirCodes) -> bytes:
    """The patient's bundle as compact UTF-8 JSON."""
    return build_bundle(patient, codes).model_dump_json(exclude_none=True).encode("utf-8") + b"\n"


#: the batch a pool's workers write (set before the workers are forked)
_WORKER_BATCH = None


def _bundles(sample_ids: list[str]) -> list[bytes]:
    return [_WORKER_BATCH.bundle_json(s) for s in sample_ids]


def write_fhir_bundles(
    results_dir: Path | str,
    out_dir: Path | str,
    *,
    kb: KnowledgeBase | None = None,
    workers: int | None = 1,
    group_size: int = GROUP_SIZE,
) -> list[Path]:
    """One FHIR bundle per sample of the committed batch in ``results_dir``, as
    ``out_dir/<sample file name>.json`` (see :mod:`pgx.patient_files`), made by ``workers``
    processes (None: one per CPU), each distinct resource built once per batch and
    process (:mod:`pgx.fhir_batch`): the bytes :func:`bundle_json` gives. The batch is read
    ``group_size`` samples at a time (:class:`pgx.patient_files.BatchGroups`), so memory
    follows the group and the batch's distinct rows, not the batch. Each bundle depends on
    its patient alone, so the files are the same whatever the group size or number of workers."""
    from pgx.fhir_batch import BatchBundles  # it builds on this module

    codes = FhirCodes(kb or load_kb())
    batch = BatchGroups.open(results_dir)
    if batch.samples:
        check_kb(batch.provenance, codes)
    nullable = columns_with_nulls(batch.results_dir / "calls.parquet") | columns_with_nulls(
        batch.results_dir / "recommendations.parquet"
    )

    def bundles() -> Iterator[bytes]:
        global _WORKER_BATCH
        made = None
        for samples, calls, recs in batch.groups(group_size):
            if made is None:
                made = BatchBundles(calls, recs, batch.provenance, batch.run_id, codes, nullable=nullable)
            else:
                made.load(calls, recs)
            _WORKER_BATCH = made.prepare()  # before the group's workers are forked
            yield from in_pool(_bundles, samples, workers)

    global _WORKER_BATCH
    try:
        return write_documents(out_dir, batch.samples, bundles(), ".json")
    finally:
        _WORKER_BATCH = None
