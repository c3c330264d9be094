#!/usr/bin/env python
"""Accuracy on real genomes: all 1000 Genomes samples, phased and with the phase removed.

Runs the pipeline on every gene file in ``../shared/data/1kgp/GRCh38`` (with
``--assume-reference``: the files list variable sites only), then ``pgx validate``
against the GeT-RM truth table and the superpopulation table, and writes a Markdown
report (call/ambiguity/novel rates per gene and per superpopulation, concordance per
gene, every disagreement with its reason).

    python bench/accuracy_1kgp.py --out docs/accuracy.md [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pgx.kb import KnowledgeBase, load_kb  # noqa: E402
from pgx.pipeline import run_batch  # noqa: E402
from pgx.validate import (  # noqa: E402
    call_rates,
    compare,
    read_populations,
    read_truth,
    summarize,
    true_disagreements,
    unresolvable_counts,
)


def unphase(src: Path, dst: Path) -> Path:
    """A copy of a VCF with every ``|`` in the genotype columns turned into ``/``."""
    with gzip.open(src, "rt") as fin, open(dst.with_suffix(""), "w") as fout:
        for line in fin:
            if line.startswith("#"):
                fout.write(line)
                continue
            head, _, tail = line.partition("\tGT\t")
            fout.write(head + "\tGT\t" + tail.replace("|", "/"))
    subprocess.run(["bgzip", "-f", str(dst.with_suffix(""))], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(dst)], check=True)
    return dst


def run(vcfs: list[Path], out: Path, kb: KnowledgeBase, genes: list[str]) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    paths = run_batch(vcfs, out, batch="1kgp", assume_reference=True, reports=False, kb=kb, genes=genes, overlay=None)
    return pd.read_parquet(paths["calls"]), time.perf_counter() - start


def markdown(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub table (no extra dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = ["" if (isinstance(v, float) and v != v) else str(v) for v in row]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


#: the calling rules section, written by hand beside this script (the rest is measured)
CALLING_RULES = Path(__file__).with_name("calling_rules.md")

SCORING = """## How truth rows are scored

Each GeT-RM row is scored three ways (`pgx validate`, see `pgx/validate.py`): **exact**
(the two allele names as GeT-RM writes them), **legacy-aware exact** (the names once older
names are translated to current ones through the knowledge base's `legacy_alleles` table:
SLCO1B1 `*1A` = `*1`, `*1B` = `*37`, `*17` = `*15`; UGT1A1 `*60` = `*1`; CYP3A4 `*1B` = `*1`;
CYP2C19 `*1` from before `*38` was defined = `*1` or `*38`; each row of the map cites its
source, see docs/knowledge_base.md) and **function** (the same phenotype as the translated
truth). `legacy_named` counts the resolvable rows the map translated. Rates are over the
resolvable rows: rows naming an allele with no current meaning (SLCO1B1 `*21`, TPMT `*46`),
structural variants, platform notes and positions absent from the input are counted apart
with their reason. Names current definitions leave out (UGT1A1 `*60`'s c.-3279T>G, CYP3A4
`*1B`'s -392A>G, SLCO1B1 `*17`'s g.-11187G>A) are not read from the VCF: a legacy-aware
agreement on them holds over the positions current definitions use, as each row's
translation says."""


def every_row_section(cmp: pd.DataFrame) -> list[str]:
    """The rows that agree only once legacy names are translated, the true disagreements,
    and the rows the input cannot resolve, each listed with its reason."""
    legacy = cmp[cmp["resolvable"] & cmp["legacy_exact"] & ~cmp["exact"]]
    true = true_disagreements(cmp)
    rest = cmp[~cmp["resolvable"]]
    return [
        "",
        "## Agreements once legacy names are translated (phased)",
        "",
        markdown(legacy[["sample", "gene", "truth", "truth_current", "call", "translation"]]),
        "",
        "## True disagreements (phased): resolvable rows that still differ after translation",
        "",
        markdown(true[["sample", "gene", "truth", "truth_current", "call", "function", "kind", "reason"]]),
        "",
        "## Rows the input cannot resolve (phased)",
        "",
        markdown(rest[["sample", "gene", "truth", "call", "flags", "unresolvable_because", "reason"]]),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "accuracy.md")
    args = ap.parse_args(argv)
    kb = load_kb()
    vcf_dir = args.data / "1kgp" / "GRCh38"
    genes = [g for g in kb.genes if (vcf_dir / f"{g}.vcf.gz").exists()]
    vcfs = [vcf_dir / f"{g}.vcf.gz" for g in genes]
    truth = read_truth(args.data / "truth" / "getrm_dev.tsv")
    pops = read_populations(args.data / "1kgp" / "samples.tsv")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        phased, t_phased = run(vcfs, tmp / "phased", kb, genes)
        unphased_vcfs = [unphase(v, tmp / v.name) for v in vcfs]
        unphased, t_unphased = run(unphased_vcfs, tmp / "unphased", kb, genes)
    parts = [
        "# Accuracy on 1000 Genomes (generated by `bench/accuracy_1kgp.py`)",
        "",
        f"KB `{kb.version}`; {phased['sample_id'].nunique()} samples; genes: {', '.join(genes)}.",
        f"Run time (all genes, Parquet out, no PDFs, this 2-core machine): phased {t_phased:.1f} s, "
        f"phase removed {t_unphased:.1f} s. `--assume-reference` (the files list variable sites only).",
    ]
    for label, calls in (("phased", phased), ("phase removed", unphased)):
        rates = call_rates(calls)
        parts += ["", f"## Call, ambiguity and novel-variant rates ({label})", "", markdown(rates)]
    parts += ["", "## Per superpopulation (phased)", "", markdown(call_rates(phased, pops))]
    parts += ["", CALLING_RULES.read_text().strip()]
    parts += ["", SCORING]
    for label, calls in (("phased", phased), ("phase removed", unphased)):
        cmp = compare(calls, truth[truth["gene"].isin(genes)], kb)
        parts += ["", f"## GeT-RM concordance ({label})", "", markdown(summarize(cmp))]
        parts += ["", f"Rows the input cannot resolve, by reason ({label}):", "", markdown(unresolvable_counts(cmp))]
        kinds = cmp[cmp["resolvable"]].groupby(["gene", "kind"]).size().rename("rows").reset_index()
        parts += ["", f"Resolvable rows by kind ({label}):", "", markdown(kinds)]
        if label == "phased":
            parts += every_row_section(cmp)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(parts) + "\n")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
