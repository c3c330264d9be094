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


#: rs3758581 (CYP2C19 I331V): GRCh38's reference base is A, GRCh37's is G (PyPGx's variant
#: table), so a real GRCh37 file writes G>A where the KB (GRCh38) has A>G
CYP2C19_SWAPPED = ("chr10", 94842866)


def to_grch37(src, dst, kb, *, header=True):
    """Rewrite a GRCh38 VCF onto GRCh37: positions from the KB, b37 contig names/lengths
    (none with ``header=False``), and rs3758581 written with GRCh37's reference base."""
    loci = kb.tables["loci"]
    lift = {(c, int(p)): int(q) for c, p, q in zip(loci["chrom"], loci["pos"], loci["grch37_pos"]) if not pd.isna(q)}
    out = []
    with gzip.open(src, "rt") as fh:
        for line in fh:
            if line.startswith("##contig"):
                continue
            if line.startswith("#CHROM"):
                for c in sorted({c for c, _ in lift}) if header else []:
                    out.append(f"##contig=<ID={c[3:]},length={LENGTHS[GRCH37][c]}>\n")
                out.append(line)
                continue
            if not line.startswith("#") and tuple(line.split("\t")[:2]) == (CYP2C19_SWAPPED[0], str(CYP2C19_SWAPPED[1])):
                f = line.rstrip("\n").split("\t")
                assert (f[3], f[4]) == ("A", "G"), "the KB's rs3758581 changed; update this test"
                swap = {"0": "1", "1": "0"}
                gts = ["".join(swap.get(ch, ch) for ch in gt) for gt in f[9:]]
                line = "\t".join(f[:3] + ["G", "A"] + f[5:9] + gts) + "\n"
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


@pytest.mark.shared_data
def test_refseq_table_agrees_with_pharmcats_chromosome_mapping(shared_data):
    from pgx.builds import REFSEQ

    rows = [line.split("\t") for line in (shared_data / "pharmcat" / "chr_build_mapping.tsv").read_text().splitlines()]
    theirs = {acc.strip(): (chrom, {"b37": "GRCh37", "b38": "GRCh38"}[b]) for b, _, chrom, acc in rows if b in ("b37", "b38")}
    mine = {acc: (chrom, build) for acc, (chrom, build) in REFSEQ.items() if chrom != "chrM"}
    theirs = {acc: v for acc, v in theirs.items() if v[0] != "chrM"}
    assert mine == theirs
    assert REFSEQ["NC_012920.1"] == ("chrM", None)


def test_a_grch37_file_without_a_build_header_is_read_as_grch37_and_says_why(kb, tmp_path, caplog):
    """No ##contig lengths, no ##reference: the REF bases decide, the user is told, and
    GRCh37's own reference base at rs3758581 (a KB ALT) is no REF disagreement."""
    genes = ["CYP2C19", "TPMT"]
    vcf38, _ = simulate_cohort(kb, genes, 6, tmp_path / "sim", seed=3)
    bare = to_grch37(vcf38, tmp_path / "bare37.vcf", kb, header=False)
    assert header_build(bare) is None
    out = run_batch([bare], tmp_path / "out", reports=False, kb=kb, genes=genes)
    prov = dict(pq.read_table(out["provenance"]).to_pandas().values)
    assert prov["genome_build"] == GRCH37
    assert "no VCF header names a build" in prov["genome_build_reason"] and "GRCh37 positions" in prov["genome_build_reason"]
    assert not any("REF disagrees" in r.getMessage() for r in caplog.records)
    with_header = run_batch([to_grch37(vcf38, tmp_path / "b37.vcf", kb)], tmp_path / "hdr", reports=False, kb=kb, genes=genes)
    a = pq.read_table(out["calls"]).to_pandas()
    b = pq.read_table(with_header["calls"]).to_pandas()
    assert a["diplotype"].tolist() == b["diplotype"].tolist()
    g = pq.read_table(out["genotypes"]).to_pandas()
    swapped = g[g["pos"] == CYP2C19_SWAPPED[1]]
    assert (swapped["status"] == "called").all()  # read by allele sequence, not missing
    prov_hdr = dict(pq.read_table(with_header["provenance"]).to_pandas().values)
    assert "##contig lengths in the VCF header are GRCh37&#x27;s" in _qc_html(tmp_path / "hdr")
    assert "##contig lengths in the VCF header are GRCh37's" in prov_hdr["genome_build_reason"]
    assert "no VCF header names a build" in _qc_html(tmp_path / "out")


def _qc_html(results_dir) -> str:
    from pgx.qc import render_qc_report

    render_qc_report(results_dir, results_dir / "qc.html")
    return (results_dir / "qc.html").read_text()


def test_pgx_run_prints_the_build_and_why(kb, tmp_path, capsys):
    from pgx.cli import main

    vcf38, _ = simulate_cohort(kb, ["TPMT"], 2, tmp_path / "sim", seed=1)
    assert main(["run", str(vcf38), "--out", str(tmp_path / "o"), "--no-reports", "--genes", "TPMT"]) == 0
    out = capsys.readouterr().out
    assert "genome build\tGRCh38: the ##contig lengths in the VCF header are GRCh38's" in out
    assert main(["run", str(vcf38), "--out", str(tmp_path / "o2"), "--no-reports", "--genes", "TPMT", "--build", "GRCh38"]) == 0
    assert "genome build\tGRCh38: given with --build" in capsys.readouterr().out
