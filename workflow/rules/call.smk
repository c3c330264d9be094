# Calling, scattered by sample chunk (pgx/scatter.py): `prepare` reads a batch's VCFs once
# and writes one genotype matrix per chunk of `chunk_size` samples; `call_chunk` calls one
# chunk; `call` gathers the parts into the batch's Parquet tables, committed as one unit
# (run.json last), byte-identical to `pgx run` with the same chunk size.


wildcard_constraints:
    chunk=r"\d+",


rule prepare:
    input:
        vcfs=get_batch_vcfs,
        outside_calls=get_outside_calls,
        checks="results/{batch}/checks.txt",
    output:
        work=temp(directory("results/{batch}/.scatter/matrices")),
    log:
        "logs/{batch}/prepare.log",
    benchmark:
        "benchmarks/{batch}/prepare.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: 1
    resources:
        # the reader keeps every sample's decoded genotypes (a few kB each) while it writes the chunks
        mem_mb=lambda wildcards, attempt: int(
            (1000 + batch_chunks(wildcards.batch) * config["chunk_size"] // 200) * (1 + 0.5 * (attempt - 1))
        ),
        runtime=lambda wildcards, attempt: (10 + batch_chunks(wildcards.batch) * config["chunk_size"] // 4000) * attempt,
    params:
        expected_chunks=lambda wildcards: batch_chunks(wildcards.batch),
        chunk_size=config["chunk_size"],
        assume_reference=config["assume_reference"],
        find_combinations=config["find_combinations"],
        genes=config["genes"],
        build=config["build"],
        kb=get_kb(),
        outside_calls_sample=get_outside_calls_sample,
    script:
        "../scripts/prepare.py"


rule call_chunk:
    input:
        work="results/{batch}/.scatter/matrices",
    output:
        part=temp(directory("results/{batch}/.scatter/parts/{chunk}")),
    log:
        "logs/{batch}/call_chunk/{chunk}.log",
    benchmark:
        "benchmarks/{batch}/call_chunk/{chunk}.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: 1
    resources:
        # measured: about 0.1 MB per sample of the chunk on top of the KB (bench/README.md)
        mem_mb=memory_per_attempt(800 + config["chunk_size"] // 4),
        runtime=runtime_per_attempt(10 + config["chunk_size"] // 1000),
    params:
        kb=get_kb(),
    script:
        "../scripts/call_chunk.py"


rule call:
    input:
        work="results/{batch}/.scatter/matrices",
        parts=chunk_parts,
    output:
        **batch_tables(),
        run="results/{batch}/run.json",
    log:
        "logs/{batch}/call.log",
    benchmark:
        "benchmarks/{batch}/call.tsv"
    conda:
        "../envs/pgx.yaml"
    threads: 1
    resources:
        # one chunk's tables at a time (measured: about 0.12 MB per sample of a chunk, bench/README.md)
        mem_mb=memory_per_attempt(600 + config["chunk_size"] * 3 // 20),
        runtime=lambda wildcards, attempt: (10 + batch_chunks(wildcards.batch) * config["chunk_size"] // 10000) * attempt,
    params:
        out_dir=lambda wildcards, output: Path(output.calls).parent,
        kb=get_kb(),
    script:
        "../scripts/call.py"
