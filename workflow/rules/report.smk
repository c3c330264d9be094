# Reporting: one PDF per sample from the Parquet tables of a batch.


rule reports:
    input:
        genotypes="results/{batch}/genotypes.parquet",
        calls="results/{batch}/calls.parquet",
        recommendations="results/{batch}/recommendations.parquet",
        provenance="results/{batch}/provenance.parquet",
        run="results/{batch}/run.json",
    output:
        reports=directory("results/{batch}/reports"),
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
        paper=config["report_paper"],
        appendix=config["report_appendix"],
    threads: config["threads"]
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(60),
    log:
        "logs/{batch}/reports.log",
    benchmark:
        "benchmarks/{batch}/reports.tsv"
    conda:
        "../envs/pgx.yaml"
    script:
        "../scripts/reports.py"
