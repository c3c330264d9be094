"""FHIR Genomics Reporting bundles and patient JSON documents, one per patient.

Every bundle is parsed back with ``fhir.resources`` (R4B) and checked against the tables
it was made from: the LOINC codes and code systems of the Genomics Reporting guide, the
HGNC and RxNorm codes from the knowledge base, and that a gene without a result never
gives anything that looks like a result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from fhir.resources.R4B.bundle import Bundle

from pgx import fhir as fx
from pgx.kb import load_kb
from pgx.patient_files import PatientData
from pgx.patient_json import SCHEMA_PATH
from pgx.pipeline import file_sha256, run_batch
from pgx.sample_ids import INDEX_NAME, read_file_index, report_file_names

DEMO_VCF = Path(__file__).resolve().parents[1] / "resources" / "demo" / "simulated.vcf.gz"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The shipped demo batch, with an outside call giving one patient CYP2D6 (and the
    demo's own outside calls: CYP2D6 copy number, HLA types)."""
    out = tmp_path_factory.mktemp("fhir_demo")
    outside = out / "outside.tsv"
    shipped = (DEMO_VCF.parent / "outside_calls.tsv").read_text()
    outside.write_text(shipped.rstrip("\n") + "\nSIM0001\tCYP2D6\t*1/*4\n")
    paths = run_batch([DEMO_VCF], out / "batch", batch="demo", reports=False, outside_calls=outside, fhir=True, patient_json=True)
    return paths, out


@pytest.fixture(scope="module")
def tables(demo_run):
    paths, _ = demo_run
    calls = pd.read_parquet(paths["calls"])
    recs = pd.read_parquet(paths["recommendations"])
    prov = pd.read_parquet(paths["provenance"])
    return calls, recs, dict(zip(prov["key"], prov["value"]))


def parsed(path: Path) -> Bundle:
    return Bundle.model_validate_json(path.read_bytes())


def file_of(folder: Path, sample_id: str) -> Path:
    """A sample's file, found through the folder's index (IDs are not always file names)."""
    return folder / read_file_index(folder / INDEX_NAME)[sample_id]


def resources(bundle: Bundle, kind: str, profile: str | None = None) -> list:
    out = [e.resource for e in bundle.entry if e.resource.get_resource_type() == kind]
    if profile:
        out = [r for r in out if r.meta and fx.PROFILE + profile in r.meta.profile]
    return out


def codings(concept, system: str | None = None) -> list[tuple[str, str]]:
    return [(c.system, c.code) for c in (concept.coding or []) if system is None or c.system == system]


def component(obs, code: tuple[str, str, str]) -> list:
    return [c for c in obs.component or [] if (code[0], code[1]) in codings(c.code)]


def by_url(bundle: Bundle) -> dict:
    return {e.fullUrl: e.resource for e in bundle.entry}


def gene_of(obs) -> str:
    return component(obs, fx.GENE_STUDIED_CODE)[0].valueCodeableConcept.text


def test_every_kb_gene_has_an_hgnc_id():
    genes = load_kb().tables["genes"]
    assert genes["hgnc_id"].str.fullmatch(r"HGNC:\d+").all(), genes[["gene", "hgnc_id"]]
    assert not genes["hgnc_id"].duplicated().any()


def test_one_bundle_per_patient_named_like_the_reports_and_parsed_back(demo_run, tables):
    paths, _ = demo_run
    calls, _, _ = tables
    samples = list(dict.fromkeys(calls["sample_id"]))
    files = sorted(p.name for p in paths["fhir"].glob("*.json"))
    assert files == sorted(report_file_names(samples, ".json").values())
    assert read_file_index(paths["fhir"] / INDEX_NAME) == report_file_names(samples, ".json")
    for sample in samples:
        bundle = parsed(file_of(paths["fhir"], sample))
        assert bundle.type == "transaction"
        kinds = {e.resource.get_resource_type() for e in bundle.entry}
        assert {"Patient", "Observation", "DiagnosticReport", "Task"} <= kinds
        patient = resources(bundle, "Patient")[0]
        assert (patient.identifier[0].system, patient.identifier[0].value) == (fx.SAMPLE_ID_SYSTEM, sample)
        assert all(e.request.method == "POST" and e.fullUrl.startswith("urn:uuid:") for e in bundle.entry)


def test_report_is_a_genomic_report_with_versions_and_input_checksum(demo_run, tables):
    paths, _ = demo_run
    _, _, prov = tables
    bundle = parsed(paths["fhir"] / "SIM0002.json")
    (report,) = resources(bundle, "DiagnosticReport", "genomic-report")
    assert codings(report.code) == [(fx.LOINC, "51969-4")]
    assert (fx.DIAGNOSTIC_SERVICE, "GE") in codings(report.category[0])
    ext = {}
    for e in report.extension:
        ext.setdefault(e.url, []).append(e.valueString or e.valueReference)
    assert ext[fx.EXT_KB_VERSION] == [prov["kb_version"]]
    assert ext[fx.EXT_PGX_VERSION] == [prov["pipeline_version"]]
    assert f"simulated.vcf.gz sha256:{file_sha256(DEMO_VCF)}" in ext[fx.EXT_INPUT_SHA256]
    urls = by_url(bundle)
    assert {r.reference for r in report.result} == {u for u, r in urls.items() if r.get_resource_type() == "Observation"}
    tasks = {u for u, r in urls.items() if r.get_resource_type() == "Task"}
    assert {a.reference for a in ext[fx.RECOMMENDED_ACTION]} == tasks
    assert prov["kb_version"] in report.conclusion


def test_genotypes_carry_the_diplotype_and_the_gene_as_hgnc_code(demo_run, tables):
    paths, _ = demo_run
    calls, _, _ = tables
    hgnc = dict(zip(load_kb().tables["genes"]["gene"], load_kb().tables["genes"]["hgnc_id"]))
    for sample, rows in calls.groupby("sample_id"):
        bundle = parsed(file_of(paths["fhir"], sample))
        genotypes = resources(bundle, "Observation", "genotype")
        assert {gene_of(o) for o in genotypes} == set(hgnc)  # every KB gene, assessed or not
        for obs in genotypes:
            assert codings(obs.code) == [(fx.LOINC, "84413-4")]
            gene = gene_of(obs)
            assert codings(component(obs, fx.GENE_STUDIED_CODE)[0].valueCodeableConcept) == [(fx.HGNC, hgnc[gene])]
            row = rows[rows["gene"] == gene]
            if not row.empty and row["call_status"].item() in ("called", "outside_call"):
                assert obs.valueCodeableConcept.text == row["diplotype"].item()
                assert obs.dataAbsentReason is None


def test_outside_call_and_phenotype_observation_with_loinc_answer_and_activity_score(demo_run, tables):
    paths, _ = demo_run
    calls, _, _ = tables
    bundle = parsed(paths["fhir"] / "SIM0001.json")
    urls = by_url(bundle)
    phenotypes = resources(bundle, "Observation", "diagnostic-implication")
    assert phenotypes
    row = calls[(calls["sample_id"] == "SIM0001") & (calls["gene"] == "CYP2D6")].iloc[0]
    assert row["call_status"] == "outside_call"
    for obs in phenotypes:
        assert codings(obs.code) == [(fx.TBD, "diagnostic-implication")]
        assert obs.valueCodeableConcept is None  # an implication has no value of its own
        genotype = urls[obs.derivedFrom[0].reference]
        gene = gene_of(genotype)
        call = calls[(calls["sample_id"] == "SIM0001") & (calls["gene"] == gene)].iloc[0]
        (predicted,) = component(obs, fx.PREDICTED_PHENOTYPE_CODE)
        assert predicted.valueCodeableConcept.text == f"{gene} {call['phenotype']}"
        answer = fx.PHENOTYPE_ANSWERS.get(call["phenotype"].lower())
        assert codings(predicted.valueCodeableConcept, fx.LOINC) == ([(fx.LOINC, answer[0])] if answer else [])
        scores = [c.valueQuantity.value for c in obs.component if c.valueQuantity is not None]
        assert scores == ([] if pd.isna(call["activity_score"]) else [pytest.approx(call["activity_score"])])
    cyp2d6 = [o for o in phenotypes if gene_of(urls[o.derivedFrom[0].reference]) == "CYP2D6"]
    assert len(cyp2d6) == 1
    assert codings(component(cyp2d6[0], fx.PREDICTED_PHENOTYPE_CODE)[0].valueCodeableConcept, fx.LOINC) == [
        (fx.LOINC, "LA10317-8")
    ]


def test_implications_code_the_drug_in_rxnorm_and_cite_the_guideline(demo_run, tables):
    paths, _ = demo_run
    _, recs, _ = tables
    drugs = load_kb().tables["drugs"]
    rxnorm = {
        (s, d): i.partition(":")[2]
        for s, d, i in zip(drugs["source"], drugs["drug"], drugs["drug_id"])
        if i.startswith("RxNorm:")
    }
    bundle = parsed(paths["fhir"] / "SIM0003.json")
    implications = resources(bundle, "Observation", "therapeutic-implication")
    mine = recs[recs["sample_id"] == "SIM0003"]
    advice = mine[mine["action"].astype(str).isin(fx.ADVICE_ACTIONS)]
    assert len(implications) >= len(advice) > 0
    for obs in implications:
        assert codings(obs.code) == [(fx.TBD, "therapeutic-implication")]
        (med,) = component(obs, fx.MEDICATION_ASSESSED_CODE)
        drug = med.valueCodeableConcept.text
        source = obs.extension[0].valueRelatedArtifact.label
        coded = codings(med.valueCodeableConcept, fx.RXNORM)
        assert coded == ([(fx.RXNORM, rxnorm[(source, drug)])] if (source, drug) in rxnorm else [])
        artifact = obs.extension[0].valueRelatedArtifact
        assert obs.extension[0].url == fx.RELATED_ARTIFACT and artifact.type == "citation"
        assert artifact.url in set(mine.loc[(mine["drug"] == drug) & (mine["source"] == source), "url"])
        assert component(obs, fx.EVIDENCE_LEVEL_CODE)
        assert component(obs, fx.THERAPEUTIC_IMPLICATION_CODE)
    assert {o.component[0].valueCodeableConcept.text for o in implications} >= set(advice["drug"])


def test_tasks_are_proposals_coded_by_action_for_their_implication(demo_run, tables):
    paths, _ = demo_run
    _, recs, _ = tables
    bundle = parsed(paths["fhir"] / "SIM0004.json")
    urls = by_url(bundle)
    tasks = resources(bundle, "Task", "medication-recommendation")
    changes = recs[(recs["sample_id"] == "SIM0004") & recs["action"].astype(str).isin(fx.TASK_ACTIONS)]
    assert len(tasks) == len(changes) > 0  # one per advised change; the usual dose is no task
    for task in tasks:
        assert (task.status, task.intent) == ("requested", "proposal")
        (action,) = codings(task.code, fx.ACTION_SYSTEM)
        assert action[1] in fx.TASK_ACTIONS
        loinc = fx.ACTIONS[action[1]][1]
        assert codings(task.code, fx.LOINC) == ([(fx.LOINC, loinc[0])] if loinc else [])
        reason = urls[task.reasonReference.reference]
        assert fx.PROFILE + "therapeutic-implication" in reason.meta.profile
        assert task.description


def test_a_gene_without_result_never_gives_something_that_looks_like_a_result(demo_run, tables):
    paths, _ = demo_run
    calls, recs, _ = tables
    for sample in calls["sample_id"].unique():
        bundle = parsed(file_of(paths["fhir"], sample))
        urls = by_url(bundle)
        no_result = set()
        for obs in resources(bundle, "Observation", "genotype"):
            if obs.valueCodeableConcept is None:
                no_result.add(gene_of(obs))
                assert obs.dataAbsentReason is not None and obs.dataAbsentReason.text.startswith("No result")
                assert codings(obs.dataAbsentReason, fx.DATA_ABSENT)
        expected = set(calls.loc[(calls["sample_id"] == sample) & (calls["call_status"] == "no_call"), "gene"])
        assert expected <= no_result
        for obs in resources(bundle, "Observation", "diagnostic-implication"):
            assert gene_of(urls[obs.derivedFrom[0].reference]) not in no_result
        for obs in resources(bundle, "Observation", "therapeutic-implication"):
            for part in component(obs, fx.THERAPEUTIC_IMPLICATION_CODE):
                if "No Result" in part.valueCodeableConcept.text:
                    assert not part.valueCodeableConcept.coding  # stated, never coded as a phenotype
        for task in resources(bundle, "Task"):
            implication = urls[task.reasonReference.reference]
            stated = [p.valueCodeableConcept.text for p in component(implication, fx.THERAPEUTIC_IMPLICATION_CODE)]
            missing = [t.partition(":")[0] for t in stated if "No Result" in t]
            assert len(missing) < len(stated), task.description  # a task rests on at least one result
            for gene in missing:
                assert f"{gene} has no result" in task.description or f"{gene}" in task.description
        # a drug whose only rows say a gene had no result is named on that gene, never a task
        mine = recs[(recs["sample_id"] == sample) & ~recs["action"].astype(str).isin(fx.ADVICE_ACTIONS)]
        task_drugs = {t.code.text.partition(": ")[2] for t in resources(bundle, "Task")}
        for rec in mine.to_dict("records"):
            if fx.missing_genes(rec) and rec["drug"] not in set(
                recs.loc[(recs["sample_id"] == sample) & recs["action"].astype(str).isin(fx.ADVICE_ACTIONS), "drug"]
            ):
                assert rec["drug"] not in task_drugs
                gene = fx.missing_genes(rec)[0]
                notes = " ".join(
                    n.text for o in resources(bundle, "Observation", "genotype") if gene_of(o) == gene for n in o.note or []
                )
                assert rec["drug"] in notes


def test_bundles_are_the_same_bytes_when_written_again_by_two_workers(demo_run, tmp_path):
    paths, _ = demo_run
    again = fx.write_fhir_bundles(paths["calls"].parent, tmp_path / "fhir", workers=2)
    for path in again:
        assert path.read_bytes() == (paths["fhir"] / path.name).read_bytes()


def test_exports_read_in_small_groups_of_samples_give_the_files_of_one_group(demo_run, tmp_path):
    from pgx.patient_json import write_patient_jsons

    paths, _ = demo_run  # written with the default group size: the demo batch is one group
    results = paths["calls"].parent
    samples = pd.read_parquet(paths["calls"], columns=["sample_id"])["sample_id"].unique()
    assert len(samples) > 2 * 4  # several groups, the last one short
    writers = {
        "fhir": lambda out: fx.write_fhir_bundles(results, out, workers=2, group_size=4),
        "json": lambda out: write_patient_jsons(results, out, group_size=4),
    }
    for name, write in writers.items():
        written = write(tmp_path / name)
        assert [file_of(tmp_path / name, s) for s in samples] == written
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted(p.name for p in paths[name].iterdir())
        for path in (tmp_path / name).iterdir():
            assert path.read_bytes() == (paths[name] / path.name).read_bytes(), (name, path.name)


def test_batch_bundles_by_group_read_integers_as_the_whole_batch_does(tables):
    """An integer column with a null somewhere in the batch comes as floats through pandas
    (``branch`` then reaches the resources' ids as "1.0"): a group without a null in it
    gives the same bundles, and rows met in an earlier group serve a later one."""
    import pyarrow as pa

    from pgx.schema import CALLS, RECOMMENDATIONS

    calls, recs, prov = tables
    first, second = calls["sample_id"].unique()[:2]
    without_nulls = recs[(recs["sample_id"] == first) & recs["branch"].notna()]
    with_nulls = recs[recs["sample_id"] == second]
    assert len(without_nulls) and with_nulls["branch"].isna().any()

    def arrow(sample: str, sample_recs: pd.DataFrame) -> tuple[pa.Table, pa.Table]:
        return (
            pa.Table.from_pandas(calls[calls["sample_id"] == sample], schema=CALLS, preserve_index=False),
            pa.Table.from_pandas(sample_recs, schema=RECOMMENDATIONS, preserve_index=False),
        )

    whole, _ = _batch(calls[calls["sample_id"].isin([first, second])], pd.concat([without_nulls, with_nulls]), prov)
    alone, _ = _batch(calls[calls["sample_id"] == first], without_nulls, prov)
    nullable = {f.name for f in RECOMMENDATIONS if pa.types.is_integer(f.type) and with_nulls[f.name].isna().any()}
    grouped = type(whole)(*arrow(first, without_nulls), prov, "run-test", whole.codes, nullable=nullable).prepare()
    assert grouped.bundle_json(first) == whole.bundle_json(first)
    assert alone.bundle_json(first) != whole.bundle_json(first)  # read as if no null were in the batch
    met = len(grouped.rec_rows)
    grouped.load(*arrow(second, with_nulls)).prepare()
    assert grouped.samples == [second] and len(grouped.rec_rows) > met
    assert grouped.bundle_json(second) == whole.bundle_json(second)


def test_a_batch_made_with_another_kb_is_refused(demo_run):
    from pgx.errors import KnowledgeBaseError
    from pgx.patient_files import read_patients

    paths, _ = demo_run
    patient = read_patients(paths["calls"].parent)[0]
    other = PatientData(
        patient.sample_id, patient.calls, patient.recommendations, {**patient.provenance, "kb_version": "0000"}, patient.run_id
    )
    with pytest.raises(KnowledgeBaseError, match="knowledge base 0000"):
        fx.build_bundle(other, fx.FhirCodes(load_kb()))


def _call(gene: str, **fields) -> dict:
    row = {"sample_id": "P1", "gene": gene, "call_status": "called", "diplotype": None, "phenotype": None, "activity_score": None,
           "lookup_key": None, "alternatives": [], "reason_codes": [], "warnings": []}  # fmt: skip
    return {**row, **fields}


def test_ambiguous_call_lists_its_alternatives_and_genes_not_run_are_not_assessed():
    kb = load_kb()
    calls = [
        _call("CYP2C19", call_status="ambiguous", diplotype="*1/*2 or *1/*3", alternatives=["*1/*2", "*1/*3"],
              phenotype="Intermediate Metabolizer", lookup_key="Intermediate Metabolizer", reason_codes=["tie"],
              warnings=["several diplotypes fit equally well"]),
    ]  # fmt: skip
    recs: list[dict] = []
    patient = PatientData("P1", calls, recs, {"kb_version": kb.version, "batch": "b", "pipeline_version": "x"}, "run1")
    bundle = Bundle.model_validate_json(fx.bundle_json(patient, fx.FhirCodes(kb)))
    genotypes = {gene_of(o): o for o in resources(bundle, "Observation", "genotype")}
    amb = genotypes["CYP2C19"]
    assert amb.valueCodeableConcept.text == "*1/*2 or *1/*3"
    assert [c.valueString for c in amb.component if c.valueString] == ["*1/*2", "*1/*3"]
    assert "*1/*2; *1/*3" in amb.note[0].text
    assert (fx.CALL_STATUS_SYSTEM, "ambiguous") in [
        x for c in amb.component if c.valueCodeableConcept for x in codings(c.valueCodeableConcept)
    ]
    tpmt = genotypes["TPMT"]  # not in this run at all
    assert tpmt.valueCodeableConcept is None
    assert codings(tpmt.dataAbsentReason) == [(fx.DATA_ABSENT, "not-performed")]
    assert "not assessed" in tpmt.dataAbsentReason.text


def test_sample_ids_of_any_text_get_safe_file_names_and_exact_identifiers(make_vcf, tmp_path):
    from tests.conftest import kb_loci_for

    ids = ["Patient 12", "患者-7", "../etc"]
    vcf = make_vcf(tmp_path / "ids.vcf", samples=ids, loci=kb_loci_for("CYP2C19"))
    paths = run_batch([vcf], tmp_path / "out", genes=["CYP2C19"], reports=False, fhir=True, patient_json=True)
    names = report_file_names(ids, ".json")
    for folder in ("fhir", "json"):
        assert read_file_index(paths[folder] / INDEX_NAME) == names
        assert sorted(p.name for p in paths[folder].glob("*.json")) == sorted(names.values())
    for sample_id, name in names.items():
        assert re.fullmatch(r"[A-Za-z0-9_.+-]+\.json", name) and ".." not in name
        bundle = parsed(paths["fhir"] / name)
        assert resources(bundle, "Patient")[0].identifier[0].value == sample_id
        assert json.loads((paths["json"] / name).read_text(encoding="utf-8"))["sample_id"] == sample_id


# --- patient JSON -------------------------------------------------------------------------


def test_patient_json_validates_against_the_published_schema(demo_run):
    paths, _ = demo_run
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    files = sorted(paths["json"].glob("*.json"))
    assert len(files) == len(read_file_index(paths["json"] / INDEX_NAME)) > 12
    for path in files:
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema, cls=jsonschema.Draft202012Validator)


def test_patient_json_holds_the_tables_rows(demo_run, tables):
    paths, _ = demo_run
    calls, recs, prov = tables
    doc = json.loads((paths["json"] / "SIM0001.json").read_text())
    mine = calls[calls["sample_id"] == "SIM0001"]
    assert {c["gene"]: c["diplotype"] for c in doc["calls"]} == {
        g: (d if isinstance(d, str) else None) for g, d in zip(mine["gene"], mine["diplotype"])
    }
    assert sorted(doc["not_called"]) == sorted(mine.loc[mine["call_status"] == "no_call", "gene"])
    assert len(doc["recommendations"]) == int((recs["sample_id"] == "SIM0001").sum())
    assert doc["provenance"]["kb_version"] == prov["kb_version"]
    assert doc["provenance"]["inputs"][0]["sha256"] in prov.values()
    assert "HLA-B" in doc["not_tested"]  # abacavir's guideline needs it; the run does not test it
    untested = [r for r in doc["recommendations"] if r["group"] == "untested"]
    assert untested and all(r["genes_without_result"] for r in untested)


def test_invalid_document_is_caught_by_the_schema(demo_run):
    paths, _ = demo_run
    schema = json.loads(SCHEMA_PATH.read_text())
    doc = json.loads((paths["json"] / "SIM0001.json").read_text())
    doc["calls"][0]["call_status"] = "probably"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)


def test_cli_run_with_fhir_and_json(tmp_path, capsys):
    from pgx.cli import main

    assert (
        main(["run", str(DEMO_VCF), "--out", str(tmp_path / "r"), "--no-reports", "--fhir", "--json", "--genes", "CYP2C19"]) == 0
    )
    out = capsys.readouterr().out
    assert f"fhir\t{tmp_path / 'r' / 'fhir'}" in out
    samples = set(pd.read_parquet(tmp_path / "r" / "calls.parquet")["sample_id"])
    for folder in ("fhir", "json"):
        assert set(read_file_index(tmp_path / "r" / folder / INDEX_NAME)) == samples
        assert len(list((tmp_path / "r" / folder).glob("*.json"))) == len(samples)


def test_the_example_bundle_in_docs_parses_and_uses_the_guides_codes():
    bundle = parsed(Path(__file__).resolve().parents[1] / "docs" / "fhir-example-bundle.json")
    (report,) = resources(bundle, "DiagnosticReport", "genomic-report")
    assert codings(report.code) == [(fx.LOINC, "51969-4")]
    genotypes = resources(bundle, "Observation", "genotype")
    assert genotypes and all(codings(o.code) == [(fx.LOINC, "84413-4")] for o in genotypes)
    assert resources(bundle, "Task", "medication-recommendation")


def test_batch_writer_gives_each_patient_the_bytes_of_the_one_patient_writer(demo_run):
    from pgx.patient_files import read_patients
    from pgx.patient_json import patient_json

    paths, _ = demo_run
    index = read_file_index(paths["json"] / INDEX_NAME)
    patients = read_patients(paths["calls"].parent)
    assert len(patients) == len(index)
    for patient in patients:
        assert (paths["json"] / index[patient.sample_id]).read_bytes() == patient_json(patient)


# --- the batch writer (pgx.fhir_batch): each distinct resource built once ------------------


def _batch(calls: pd.DataFrame, recs: pd.DataFrame, prov: dict, run_id: str = "run-test"):
    """A BatchBundles over in-memory tables, and the same patients as read_patients gives them."""
    import pyarrow as pa

    from pgx.fhir_batch import BatchBundles
    from pgx.patient_files import rows_by_sample
    from pgx.schema import CALLS, RECOMMENDATIONS

    call_table = pa.Table.from_pandas(calls, schema=CALLS, preserve_index=False)
    rec_table = pa.Table.from_pandas(recs, schema=RECOMMENDATIONS, preserve_index=False)
    batch = BatchBundles(call_table, rec_table, prov, run_id, fx.FhirCodes(load_kb()))
    call_rows, rec_rows = rows_by_sample(call_table.to_pandas()), rows_by_sample(rec_table.to_pandas())
    patients = {s: PatientData(s, rows, rec_rows.get(s, []), prov, run_id) for s, rows in call_rows.items()}
    return batch, patients


def test_batch_writer_gives_each_demo_patient_the_bytes_of_the_full_model_build(demo_run):
    from pgx.patient_files import read_patients

    paths, _ = demo_run
    codes = fx.FhirCodes(load_kb())
    patients = read_patients(paths["calls"].parent)
    assert len(patients) > 12
    for patient in patients:  # ties, a no-call, outside calls, HLA genes not assessed
        assert file_of(paths["fhir"], patient.sample_id).read_bytes() == fx.bundle_json(patient, codes)


def test_batch_writer_agrees_with_the_full_model_build_on_unusual_rows(tables):
    calls, recs, prov = tables
    source = "DEMO-CYP2D6-unphased-tie"
    mine_calls, mine_recs = calls[calls["sample_id"] == source], recs[recs["sample_id"] == source]
    variants = []
    for name, change in {
        "tie-elsewhere": lambda c: c.assign(call_status=c["call_status"].astype(str).where(c["gene"] != "CYP2C9", "ambiguous")),
        "no-calls": lambda c: c.assign(
            call_status=c["call_status"].astype(str).where(~c["gene"].isin(["CYP2C19", "DPYD"]), "no_call"),
            diplotype=c["diplotype"].where(~c["gene"].isin(["CYP2C19", "DPYD"]), None),
        ),
        "genes-missing": lambda c: c[~c["gene"].isin(["TPMT", "UGT1A1", "CYP2D6"])],
        "nul-in-a-warning": lambda c: c.assign(
            warnings=[["odd\x00text"] if g == "CYP3A5" else w for g, w in zip(c["gene"], c["warnings"])]
        ),
    }.items():
        variants.append((change(mine_calls.copy()).assign(sample_id=name), mine_recs.assign(sample_id=name)))
    all_calls = pd.concat([calls, *[c for c, _ in variants]], ignore_index=True)
    all_recs = pd.concat([recs, *[r for _, r in variants]], ignore_index=True)
    batch, patients = _batch(all_calls, all_recs, prov)
    codes = fx.FhirCodes(load_kb())
    assert batch.samples == list(patients)
    for sample in reversed(batch.samples):  # another order than the table's: nothing depends on it
        assert batch.bundle_json(sample) == fx.bundle_json(patients[sample], codes), sample
    text = batch.bundle_json("nul-in-a-warning").decode()
    assert "odd\\u0000text" in text  # made by the full model build (a NUL cannot be cut at the markers)


def _normalised(bundle: bytes, sample_id: str) -> list[dict]:
    """A bundle's entries with its patient's ids replaced by the entries' positions."""
    data = json.loads(bundle)
    text = json.dumps(data["entry"])
    for i, entry in enumerate(data["entry"]):
        text = text.replace(entry["fullUrl"].removeprefix("urn:uuid:"), f"entry-{i}")
    return json.loads(text.replace(json.dumps(sample_id)[1:-1], "SAMPLE"))


def test_two_patients_differing_in_one_gene_differ_exactly_there(tables):
    calls, recs, prov = tables
    one = calls[calls["sample_id"] == "SIM0005"]  # CYP2C19 *2/*3, a poor metabolizer
    other = one.assign(diplotype=one["diplotype"].where(one["gene"] != "CYP2C19", "*2/*2"))
    pair_calls = pd.concat([one.assign(sample_id="P-one"), other.assign(sample_id="P-other")], ignore_index=True)
    mine = recs[recs["sample_id"] == "SIM0005"]
    pair_recs = pd.concat([mine.assign(sample_id="P-one"), mine.assign(sample_id="P-other")], ignore_index=True)
    batch, patients = _batch(pair_calls, pair_recs, prov)
    codes = fx.FhirCodes(load_kb())
    first, second = batch.bundle_json("P-one"), batch.bundle_json("P-other")
    assert second == fx.bundle_json(patients["P-other"], codes)  # the first patient's resources were cached
    assert b"CYP2C19 *2/*2" in second and b"CYP2C19 *2/*2" not in first and b"CYP2C19 *2/*3" not in second
    a, b = _normalised(first, "P-one"), _normalised(second, "P-other")
    assert len(a) == len(b)
    differing = {i for i, (x, y) in enumerate(zip(a, b)) if x != y}

    def cyp2c19(entry: dict) -> bool:
        resource = entry["resource"]
        refs = [r["display"] for r in resource.get("derivedFrom", [])]
        genes = [
            c["valueCodeableConcept"]["text"]
            for c in resource.get("component", [])
            if c["code"]["coding"][0]["code"] == "48018-6"
        ]
        return "CYP2C19" in genes or any(r.startswith("CYP2C19 ") for r in refs)

    expected = {i for i, e in enumerate(a) if cyp2c19(e)} | {
        len(a) - 1
    }  # the gene's observations, what rests on them, the report
    assert len(expected) > 3
    assert differing == expected
