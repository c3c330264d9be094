# Per-patient exports from the Parquet tables of a batch: one HL7 FHIR Genomics Reporting
# bundle per sample (fhir/) and one patient JSON per sample (json/), each with index.tsv.


rule fhir:
    input:
        calls="results/{batch}/calls.parquet",
        recommendations="results/{batch}/recommendations.parquet",
        provenance="results/{batch}/provenance.parquet",
        run="results/{batch}/run.json",
    output:
        bundles=directory("results/{batch}/fhir"),
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
        kb=get_kb(),
    threads: config["threads"]
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(60),
    log:
        "logs/{batch}/fhir.log",
    benchmark:
        "benchmarks/{batch}/fhir.tsv"
    conda:
        "../envs/pgx.yaml"
    script:
        "../scripts/fhir.py"


rule patient_json:
    input:
        calls="results/{batch}/calls.parquet",
        recommendations="results/{batch}/recommendations.parquet",
        provenance="results/{batch}/provenance.parquet",
        run="results/{batch}/run.json",
    output:
        documents=directory("results/{batch}/json"),
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
    threads: 1
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(20),
    log:
        "logs/{batch}/patient_json.log",
    benchmark:
        "benchmarks/{batch}/patient_json.tsv"
    conda:
        "../envs/pgx.yaml"
    script:
        "../scripts/patient_json.py"
