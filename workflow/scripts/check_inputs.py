"""Rule `check_inputs`: read a batch's VCFs at the KB positions and summarise them.

Fails (with pgx's message at the end of the log) on a VCF pgx cannot use: not a VCF,
truncated, no GT, wrong genome build, duplicate or unsafe sample IDs, conflicting
genotypes across files. Otherwise writes per-gene counts of missing genotypes, so a
variant-only VCF run without `assume_reference` shows up before anything is called.
Reads in sample chunks, like the pipeline, so memory stays flat.
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging
from collections import Counter
from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.builds import loci_on_build
from pgx.genotypes import STATUS_MISSING
from pgx.kb import load_kb
from pgx.pipeline import DEFAULT_CHUNK_SIZE, resolve_build
from pgx.vcf import iter_genotype_chunks

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

params = snakemake.params
kb = load_kb(params.kb or None)
vcfs = [Path(p) for p in snakemake.input.vcfs]
build = resolve_build(vcfs, params.build)
loci, _ = loci_on_build(kb.loci(params.genes or None), build)
genes = sorted(loci["gene"].unique())
n_samples, with_missing, missing, warnings = 0, Counter(), Counter(), {}
chunks = iter_genotype_chunks(vcfs, loci, chunk_size=DEFAULT_CHUNK_SIZE, assume_reference=params.assume_reference)
for gm in chunks:
    n_samples += len(gm.samples)
    warnings.update(dict.fromkeys(gm.warnings))
    is_missing = gm.status == STATUS_MISSING  # samples x loci
    for gene in genes:
        m = is_missing[:, gm.gene_columns(gene)]
        with_missing[gene] += int(m.any(axis=1).sum())
        missing[gene] += int(m.sum())

lines = [
    f"# batch\t{snakemake.wildcards.batch}",
    f"# kb_version\t{kb.version}",
    f"# genome_build\t{build}",
    f"# assume_reference\t{str(params.assume_reference).lower()}",
    *(f"# file\t{p}" for p in vcfs),
    f"# samples\t{n_samples}",
    *(f"# warning\t{w}" for w in warnings),
    "gene\tpositions\tsamples_with_missing\tmissing_genotypes",
]
positions = loci["gene"].value_counts()
lines += [f"{g}\t{positions[g]}\t{with_missing[g]}\t{missing[g]}" for g in genes]
Path(snakemake.output.checks).write_text("\n".join(lines) + "\n")
