# Cohort: every batch's tables under results/ as one hive-partitioned Parquet dataset,
# results/_cohort/<table>/batch=<batch>/part-0.parquet (see pgx/cohort.py). It holds every
# complete batch in results/, including batches of earlier sample sheets.


rule cohort:
    input:
        tables=expand("results/{batch}/{table}.parquet", batch=get_batches(), table=TABLES),
        runs=expand("results/{batch}/run.json", batch=get_batches()),
    output:
        manifest="results/_cohort/batches.tsv",
    log:
        "logs/cohort.log",
    benchmark:
        "benchmarks/cohort.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: 1
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(20),
    params:
        out=lambda wildcards, output: Path(output.manifest).parent,
        results_root=lambda wildcards, output: Path(output.manifest).parent.parent,
    script:
        "../scripts/cohort.py"
