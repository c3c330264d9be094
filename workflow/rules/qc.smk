# Batch QC: one HTML page per batch (call rates, phenotypes, missing positions, novel
# variants, warnings; per population when the sample sheet has a `population` column).


rule qc:
    input:
        **batch_tables(),
        run="results/{batch}/run.json",
    output:
        report="results/{batch}/qc_report.html",
    log:
        "logs/{batch}/qc.log",
    benchmark:
        "benchmarks/{batch}/qc.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: 1
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(20),
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
        # {vcf: population} of the batch's sheet rows that name one (the column is optional)
        populations=lambda wildcards: {
            row.vcf: row.population
            for row in samples.itertuples()
            if row.batch == wildcards.batch and getattr(row, "population", "")
        },
    script:
        "../scripts/qc_report.py"
