"""A tiny, hand-written knowledge base for unit tests of matching and phenotyping.

Gene TOY1 on chr1 has four core positions; its alleles:

    pos      100  200  300  400(indel)
    ref      A    C    G    AT
    *1       A    C    G    AT    reference
    *2       T    .    .    .     no function
    *3       T    G    .    .     decreased function (more specific than *2)
    *4       .    .    R    .     IUPAC wobble: A or G -> matches ref G too, but
                                  is defined at 300 so it scores there
    *5       .    .    .    A     deletion, increased function

Gene TOY2 (activity-score gene) on chr2 has two positions.

Gene TOY3 is called by its lowest-function variants (like DPYD), on chr3:

    pos      10   20   30   40
    v1       T    .    .    .     no function (0.0)
    v2       .    T    .    .     decreased (0.5)
    v3       .    .    T    .     normal (1.0)
    hap      .    .    T    T     decreased (0.5); v3's variant is part of it

``write_toy_kb(root, rules=[...])`` adds gene_rules rows for rule tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pgx.schema import KB_TABLES

TABLES = {
    "genes": [
        ("TOY1", "", "chr1", "phenotype", "*1", "vcf", "test"),
        ("TOY2", "", "chr2", "activity_score", "*1", "vcf", "test"),
        ("TOY3", "", "chr3", "activity_score", "Reference", "vcf", "test"),
    ],
    "loci": [
        ("TOY1", "chr1", 100, "A", "T", "rs100", "", "core", "", ""),
        ("TOY1", "chr1", 200, "C", "G", "rs200", "", "core", "", ""),
        ("TOY1", "chr1", 300, "G", "A", "rs300", "", "core", "", ""),
        ("TOY1", "chr1", 400, "AT", "A", "rs400", "", "core", "", ""),
        ("TOY2", "chr2", 1000, "C", "T", "rs1000", "", "core", "", ""),
        ("TOY2", "chr2", 2000, "G", "A,C", "rs2000", "", "core", "", ""),
        *[("TOY3", "chr3", p, "C", "T", f"rs3{p}", "", "core", "", "") for p in (10, 20, 30, 40)],
    ],
    "allele_definitions": [
        ("TOY1", "*1", 100, "A"),
        ("TOY1", "*1", 200, "C"),
        ("TOY1", "*1", 300, "G"),
        ("TOY1", "*1", 400, "AT"),
        ("TOY1", "*2", 100, "T"),
        ("TOY1", "*3", 100, "T"),
        ("TOY1", "*3", 200, "G"),
        ("TOY1", "*4", 300, "R"),
        ("TOY1", "*5", 400, "A"),
        ("TOY2", "*1", 1000, "C"),
        ("TOY2", "*1", 2000, "G"),
        ("TOY2", "*2", 1000, "T"),
        ("TOY2", "*3", 2000, "A"),
        *[("TOY3", "Reference", p, "C") for p in (10, 20, 30, 40)],
        ("TOY3", "v1", 10, "T"),
        ("TOY3", "v2", 20, "T"),
        ("TOY3", "v3", 30, "T"),
        ("TOY3", "hap", 30, "T"),
        ("TOY3", "hap", 40, "T"),
    ],  # fmt: skip
    "alleles": [
        ("TOY1", "*1", "true", "false", "Normal function", ""),
        ("TOY1", "*2", "false", "false", "No function", ""),
        ("TOY1", "*3", "false", "false", "Decreased function", ""),
        ("TOY1", "*4", "false", "false", "Normal function", ""),
        ("TOY1", "*5", "false", "false", "Increased function", ""),
        ("TOY2", "*1", "true", "false", "Normal function", "1.0"),
        ("TOY2", "*2", "false", "false", "Decreased function", "0.5"),
        ("TOY2", "*3", "false", "false", "No function", "0.0"),
        ("TOY3", "Reference", "true", "false", "Normal function", "1.0"),
        ("TOY3", "v1", "false", "false", "No function", "0.0"),
        ("TOY3", "v2", "false", "false", "Decreased function", "0.5"),
        ("TOY3", "v3", "false", "false", "Normal function", "1.0"),
        ("TOY3", "hap", "false", "false", "Decreased function", "0.5"),
    ],
    "function_phenotypes": [
        ("TOY1", f1, f2, p)
        for f1, f2, p in [
            ("Normal function", "Normal function", "Normal Metabolizer"),
            ("No function", "Normal function", "Intermediate Metabolizer"),
            ("Decreased function", "Normal function", "Intermediate Metabolizer"),
            ("Increased function", "Normal function", "Rapid Metabolizer"),
            ("Increased function", "Increased function", "Ultrarapid Metabolizer"),
            ("No function", "No function", "Poor Metabolizer"),
            ("Decreased function", "No function", "Poor Metabolizer"),
            ("Decreased function", "Decreased function", "Intermediate Metabolizer"),
            ("Increased function", "No function", "Intermediate Metabolizer"),
            ("Decreased function", "Increased function", "Intermediate Metabolizer"),
            ("No function", "", "Poor Metabolizer"),  # hemizygous (one allele)
        ]
    ],
    "phenotype_rules": [
        ("TOY2", "Poor Metabolizer", 0.0, 1.0),
        ("TOY2", "Intermediate Metabolizer", 1.0, 2.0),
        ("TOY2", "Normal Metabolizer", 2.0, 2.0),
        ("TOY3", "Poor Metabolizer", 0.0, 1.0),
        ("TOY3", "Intermediate Metabolizer", 1.0, 2.0),
        ("TOY3", "Normal Metabolizer", 2.0, 2.0),
    ],
    "gene_rules": [("TOY3", "lowest_function", "", "test")],
    "drugs": [],
    "recommendations": [],
}


# every toy allele is reported under its own name (alleles.guideline_name)
TABLES["alleles"] = [(g, a, a, *rest) for g, a, *rest in TABLES["alleles"]]


def write_toy_kb(root: Path, version: str = "toy-1", rules: list[tuple] = ()) -> Path:
    """Write the toy KB (plus extra gene_rules ``rules``) under ``root`` and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, cols in KB_TABLES.items():
        rows = list(TABLES.get(name, [])) + (list(rules) if name == "gene_rules" else [])
        pd.DataFrame(rows, columns=list(cols)).to_csv(root / f"{name}.tsv", sep="\t", index=False)
    (root / "manifest.json").write_text(json.dumps({"kb_version": version, "sources": [], "tables": {}}))
    return root
