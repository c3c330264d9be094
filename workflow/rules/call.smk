# Calling: read a batch's VCFs at the KB positions, call diplotypes, phenotypes and
# recommendations, and write the Parquet tables, committed as one unit (run.json last).


rule call:
    input:
        vcfs=get_batch_vcfs,
        outside_calls=get_outside_calls,
        checks="results/{batch}/checks.txt",
    output:
        genotypes="results/{batch}/genotypes.parquet",
        calls="results/{batch}/calls.parquet",
        recommendations="results/{batch}/recommendations.parquet",
        provenance="results/{batch}/provenance.parquet",
        run="results/{batch}/run.json",
    params:
        out_dir=lambda wildcards, output: Path(output.calls).parent,
        assume_reference=config["assume_reference"],
        find_combinations=config["find_combinations"],
        genes=config["genes"],
        build=config["build"],
        kb=get_kb(),
        outside_calls_sample=get_outside_calls_sample,
    threads: config["threads"]
    resources:
        mem_mb=memory_per_attempt(2000),
        runtime=runtime_per_attempt(30),
    log:
        "logs/{batch}/call.log",
    benchmark:
        "benchmarks/{batch}/call.tsv"
    conda:
        "../envs/pgx.yaml"
    script:
        "../scripts/call.py"
