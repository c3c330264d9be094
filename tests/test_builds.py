"""GRCh37 input: detected from the header and read at the KB's GRCh37 positions."""

from __future__ import annotations

import gzip

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pgx.builds import GRCH37, GRCH38, LENGTHS, detect_build
from pgx.errors import ConfigError
from pgx.kb import load_kb
from pgx.pipeline import resolve_build, run_batch
from pgx.simulate import simulate_cohort
from pgx.vcf import header_build


def test_detect_build_from_contig_lengths():
    assert detect_build({"chr10": LENGTHS[GRCH38]["chr10"]}) == GRCH38
    assert detect_build({"10": LENGTHS[GRCH37]["chr10"], "6": LENGTHS[GRCH37]["chr6"]}) == GRCH37
    assert detect_build({}, "##reference=file:///ref/human_g1k_v37.fasta") == GRCH37
    assert detect_build({}) is None


def to_grch37(src, dst, kb):
    """Rewrite a GRCh38 VCF onto GRCh37: positions from the KB, b37 contig names/lengths."""
    loci = kb.tables["loci"]
    lift = {(c, int(p)): int(q) for c, p, q in zip(loci["chrom"], loci["pos"], loci["grch37_pos"]) if not pd.isna(q)}
    out = []
    with gzip.open(src, "rt") as fh:
        for line in fh:
            if line.startswith("##contig"):
                continue
            if line.startswith("#CHROM"):
                for c in sorted({c for c, _ in lift}):
                    out.append(f"##contig=<ID={c[3:]},length={LENGTHS[GRCH37][c]}>\n")
                out.append(line)
                continue
            if line.startswith("#"):
                out.append(line)
                continue
            f = line.split("\t")
            key = (f[0], int(f[1]))
            if key in lift:
                f[0], f[1] = f[0][3:], str(lift[key])
                out.append("\t".join(f))
    dst.write_text("".join(out))
    return dst


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def test_grch37_vcf_is_detected_and_called_like_grch38(kb, tmp_path):
    genes = ["CYP2C19", "TPMT"]
    vcf38, _ = simulate_cohort(kb, genes, 10, tmp_path / "sim", seed=5)
    vcf37 = to_grch37(vcf38, tmp_path / "b37.vcf", kb)
    assert header_build(vcf37) == GRCH37
    assert header_build(vcf38) == GRCH38
    a = run_batch([vcf38], tmp_path / "a", reports=False, kb=kb, genes=genes)
    b = run_batch([vcf37], tmp_path / "b", reports=False, kb=kb, genes=genes)
    ca = pq.read_table(a["calls"]).to_pandas().set_index(["sample_id", "gene"])
    cb = pq.read_table(b["calls"]).to_pandas().set_index(["sample_id", "gene"])
    # positions without a GRCh37 coordinate are missing: a call may widen to ties, or an
    # allele defined there becomes uncallable (and is listed as such), but nothing else
    for key, row in cb.iterrows():
        options = list(row["alternatives"]) or [row["diplotype"]]
        if ca.loc[key, "diplotype"] in options:
            continue
        uncallable = " ".join(w for w in row["warnings"] if "could not be assessed" in w)
        lost = set(ca.loc[key, "diplotype"].split("/")) - set(row["diplotype"].split("/"))
        assert lost and all(a in uncallable.split(": ")[1].split(", ") for a in lost), (key, row["warnings"])
    prov = dict(pq.read_table(b["provenance"]).to_pandas().values)
    assert prov["genome_build"] == GRCH37
    # KB positions lacking a GRCh37 coordinate show up as missing, not as reference
    g = pq.read_table(b["genotypes"]).to_pandas()
    no37 = kb.loci(genes)["grch37_pos"].isna().sum()
    assert (g["status"] == "missing").sum() == no37 * 10
    # each genotype read names the GRCh37 file; the positions it cannot have name none
    assert (g["source_file"] == str(vcf37)).sum() == (g["status"] != "missing").sum() > 0
    assert g.loc[g["status"] == "missing", "source_file"].isna().all()


def test_mixed_builds_are_refused(kb, tmp_path):
    vcf38, _ = simulate_cohort(kb, ["TPMT"], 2, tmp_path / "sim", seed=1)
    vcf37 = to_grch37(vcf38, tmp_path / "b37.vcf", kb)
    with pytest.raises(ConfigError, match="different genome builds"):
        resolve_build([vcf38, vcf37], "auto")
    with pytest.raises(ConfigError, match="unknown genome build"):
        resolve_build([vcf38], "hg18")
