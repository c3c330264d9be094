# Input checks: read a batch's VCFs at the KB positions before anything is called, so a
# bad file fails first, with pgx's message in logs/<batch>/check_inputs.log.


rule check_inputs:
    input:
        vcfs=get_batch_vcfs,
    output:
        checks="results/{batch}/checks.txt",
    log:
        "logs/{batch}/check_inputs.log",
    benchmark:
        "benchmarks/{batch}/check_inputs.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: 1
    resources:
        mem_mb=memory_per_attempt(1000),
        runtime=runtime_per_attempt(20),
    params:
        assume_reference=config["assume_reference"],
        genes=config["genes"],
        build=config["build"],
        kb=get_kb(),
    script:
        "../scripts/check_inputs.py"
