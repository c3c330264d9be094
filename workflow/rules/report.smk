# Reporting: one PDF per sample from the Parquet tables of a batch, one job per chunk of
# `chunk_size` samples (pgx/scatter.py), gathered into results/<batch>/reports/ with index.tsv.


rule report_chunk:
    input:
        **batch_tables(),
        run="results/{batch}/run.json",
    output:
        pdfs=temp(directory("results/{batch}/.scatter/reports/{chunk}")),
    log:
        "logs/{batch}/report_chunk/{chunk}.log",
    benchmark:
        "benchmarks/{batch}/report_chunk/{chunk}.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: config["threads"]
    resources:
        mem_mb=memory_per_attempt(1500),
        # about 0.1 s of one core per PDF, declared at twice that, plus start-up
        runtime=lambda wildcards, threads, attempt: (10 + config["chunk_size"] // (300 * threads)) * attempt,
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
        chunk_size=config["chunk_size"],
        paper=config["report_paper"],
        appendix=config["report_appendix"],
    script:
        "../scripts/report_chunk.py"


rule reports:
    input:
        **batch_tables(),
        chunks=lambda wildcards: [f"results/{wildcards.batch}/.scatter/reports/{k}" for k in range(batch_chunks(wildcards.batch))],
        run="results/{batch}/run.json",
    output:
        reports=directory("results/{batch}/reports"),
    log:
        "logs/{batch}/reports.log",
    benchmark:
        "benchmarks/{batch}/reports.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: 1
    resources:
        mem_mb=memory_per_attempt(1000),
        runtime=runtime_per_attempt(15),
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
    script:
        "../scripts/reports.py"
