# Per-patient exports from the Parquet tables of a batch: one HL7 FHIR Genomics Reporting
# bundle per sample (fhir/) and one patient JSON per sample (json/), each with index.tsv.


rule fhir:
    input:
        **batch_tables(),
        run="results/{batch}/run.json",
    output:
        bundles=directory("results/{batch}/fhir"),
    log:
        "logs/{batch}/fhir.log",
    benchmark:
        "benchmarks/{batch}/fhir.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: config["threads"]
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(60),
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
        kb=get_kb(),
    script:
        "../scripts/fhir_bundles.py"


rule patient_json:
    input:
        **batch_tables(),
        run="results/{batch}/run.json",
    output:
        documents=directory("results/{batch}/json"),
    log:
        "logs/{batch}/patient_json.log",
    benchmark:
        "benchmarks/{batch}/patient_json.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: 1
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(20),
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
    script:
        "../scripts/patient_json.py"
