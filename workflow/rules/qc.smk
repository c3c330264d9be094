# Batch QC: one HTML page per batch (call rates, phenotypes, missing positions, novel
# variants, warnings; per population when the sample sheet has a `population` column).


rule qc:
    input:
        genotypes="results/{batch}/genotypes.parquet",
        calls="results/{batch}/calls.parquet",
        recommendations="results/{batch}/recommendations.parquet",
        provenance="results/{batch}/provenance.parquet",
        run="results/{batch}/run.json",
    output:
        report="results/{batch}/qc_report.html",
    params:
        results_dir=lambda wildcards, input: Path(input.calls).parent,
        # {vcf: population} of the batch's sheet rows that name one (the column is optional)
        populations=lambda wildcards: {
            row.vcf: row.population
            for row in samples.itertuples()
            if row.batch == wildcards.batch and getattr(row, "population", "")
        },
    threads: 1
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(20),
    log:
        "logs/{batch}/qc.log",
    benchmark:
        "benchmarks/{batch}/qc.tsv"
    conda:
        "../envs/pgx.yaml"
    script:
        "../scripts/qc_report.py"
