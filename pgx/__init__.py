"""pgx: a pharmacogenomics pipeline.

VCF -> genotypes at knowledge-base positions -> star-allele diplotypes -> phenotypes
-> guideline recommendations, written as Parquet tables and one PDF per patient.
Each stage is a module of pure functions: ``vcf``, ``match``, ``phenotype``,
``recommend``, ``report``; ``pipeline`` chains them; ``cli`` is a thin shim.
"""

__version__ = "0.1.0"
