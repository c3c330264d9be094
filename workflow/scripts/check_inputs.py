"""Rule `check_inputs`: read a batch's VCFs at the KB positions and summarise them.

Fails (with pgx's message at the end of the log) on a VCF pgx cannot use: not a VCF,
truncated, no GT, wrong genome build, duplicate or unsafe sample IDs, conflicting
genotypes across files. Otherwise writes per-gene counts of missing genotypes, so a
variant-only VCF run without `assume_reference` is visible before anything is called.
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging
from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.genotypes import STATUS_MISSING
from pgx.kb import load_kb
from pgx.vcf import read_genotypes

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

kb = load_kb(snakemake.params.kb or None)
gm = read_genotypes(
    [Path(p) for p in snakemake.input.vcfs],
    kb.loci(),
    assume_reference=snakemake.params.assume_reference,
)
missing = gm.status == STATUS_MISSING  # samples x loci
lines = [
    f"# batch\t{snakemake.wildcards.batch}",
    f"# kb_version\t{kb.version}",
    f"# assume_reference\t{str(snakemake.params.assume_reference).lower()}",
    *(f"# file\t{p}" for p in snakemake.input.vcfs),
    f"# samples\t{len(gm.samples)}",
    *(f"# warning\t{w}" for w in gm.warnings),
    "gene\tpositions\tsamples_with_missing\tmissing_genotypes",
]
for gene in sorted(gm.loci["gene"].unique()):
    cols = gm.gene_columns(gene)
    m = missing[:, cols]
    lines.append(f"{gene}\t{len(cols)}\t{int(m.any(axis=1).sum())}\t{int(m.sum())}")
Path(snakemake.output.checks).write_text("\n".join(lines) + "\n")
