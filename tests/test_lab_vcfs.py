"""What lab VCFs carry besides genotypes: only GT decides a call (INFO, other FORMAT fields
and FILTER never change it; failed filters are warned), and a no-call says which allele
the positions the input lacked would have decided."""

from __future__ import annotations

from pgx.kb import load_kb
from pgx.calling import call_diplotypes
from pgx.vcf import read_genotypes


def _variants(kb, gene: str, allele: str) -> list[tuple[str, int, str, str]]:
    """(chrom, pos, ref, alt) of the positions where ``allele`` differs from the reference."""
    loci = kb.loci([gene]).set_index("pos")
    defs = kb.table("allele_definitions", gene)
    rows = defs[defs["allele"] == allele]
    return [
        (loci.loc[p, "chrom"], int(p), loci.loc[p, "ref"], b)
        for p, b in zip(rows["pos"].astype(int), rows["bases"])
        if b != loci.loc[p, "ref"] and b in loci.loc[p, "alts"].split(",")
    ]


def test_info_and_format_fields_never_change_a_call(make_vcf, tmp_path):
    kb = load_kb()
    loci = kb.loci(["CYP2C19"])
    het = sorted(set(_variants(kb, "CYP2C19", "*2")) ^ set(_variants(kb, "CYP2C19", "*17")))
    hom = sorted(set(_variants(kb, "CYP2C19", "*2")) & set(_variants(kb, "CYP2C19", "*17")))
    plain = [(c, p, r, a, ["0/1"]) for c, p, r, a in het] + [(c, p, r, a, ["1/1"]) for c, p, r, a in hom]
    noisy = [(c, p, r, a, [gt[0] + ":0,0:0:0:LowGQ"], "AF=0;DP=0;AC=0") for c, p, r, a, gt in plain]
    extra = [
        '##INFO=<ID=AF,Number=A,Type=Float,Description="x">',
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="x">',
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="x">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="x">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="x">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="x">',
        '##FORMAT=<ID=FT,Number=1,Type=String,Description="x">',
    ]
    a = make_vcf(tmp_path / "gt.vcf", records=plain, loci=loci)
    b = make_vcf(
        tmp_path / "noisy.vcf", records=noisy, loci=loci, header_extra=extra, fmt="GT:AD:DP:GQ:FT", ref_gt="0/0:0,0:0:0:LowGQ"
    )
    calls = [call_diplotypes(read_genotypes(v, loci), kb, ["CYP2C19"]) for v in (a, b)]
    assert calls[0]["diplotype"].tolist() in (["*2/*17"], ["*17/*2"])
    cols = ["diplotype", "call_status", "alternatives", "missing_positions", "novel_variants", "warnings"]
    assert calls[0][cols].to_dict("records") == calls[1][cols].to_dict("records")


def test_records_that_failed_filters_are_used_and_named_in_a_warning(make_vcf, tmp_path):
    kb = load_kb()
    loci = kb.loci(["CYP2C19"])
    variants = sorted(set(_variants(kb, "CYP2C19", "*2")) | set(_variants(kb, "CYP2C19", "*17")))
    records = [(c, p, r, a, ["0/1"]) for c, p, r, a in variants]
    passing = make_vcf(tmp_path / "pass.vcf", records=records, loci=loci)
    low = sorted(p for _, p, _, _ in _variants(kb, "CYP2C19", "*17"))[0]
    text = passing.read_text().replace(f"\t{low}\t.\t", f"\t{low}\tflagged\t")
    lines = [line.replace("\tPASS\t", "\tLowQual;LowDP\t") if "\tflagged\t" in line else line for line in text.splitlines()]
    failing = tmp_path / "filtered.vcf"
    failing.write_text("\n".join(lines).replace("\tflagged\t", "\t.\t") + "\n")
    a, b = (read_genotypes(v, loci) for v in (passing, failing))
    assert not any("FILTER" in w for w in a.warnings)
    [warning] = [w for w in b.warnings if "FILTER" in w]
    assert "FILTER LowQual;LowDP" in warning and str(low) in warning and "filtered.vcf" in warning
    calls = [call_diplotypes(gm, kb, ["CYP2C19"])["diplotype"].tolist() for gm in (a, b)]
    assert calls[0] == calls[1]


def test_a_no_call_names_the_allele_whose_other_positions_were_absent(make_vcf, tmp_path):
    """A variant of an allele whose other defining positions the input lacked: the no-call says
    which allele and positions, so the lab knows what a fuller VCF would resolve."""
    kb = load_kb()
    gene = "CYP2B6"
    loci = kb.loci([gene])
    variants = _variants(kb, gene, "*17")
    assert len(variants) > 1
    first, rest = variants[0], variants[1:]
    others = {(c, p) for c, p, _, _ in rest}
    # a file with the first *17 variant and a record near every other position except *17's others
    records = [(*first, ["0/1"])] + [
        (r.chrom, int(r.pos), r.ref, r.alts or ".", ["0/0"])
        for r in loci.itertuples()
        if (r.chrom, int(r.pos)) not in others and int(r.pos) != first[1]
    ]
    sparse = make_vcf(tmp_path / "sparse.vcf", records=records)
    call = call_diplotypes(read_genotypes(sparse, loci, assume_reference=True), kb, [gene]).iloc[0]
    assert call["call_status"] == "no_call"
    [note] = [w for w in call["warnings"] if w.startswith("the variants found fit ")]
    assert "*17 (also needs " + ", ".join(str(p) for _, p, _, _ in rest) + ")" in note
    # the same genotype with those positions read as reference: nothing was absent, no such note
    full = make_vcf(tmp_path / "full.vcf", records=[(*first, ["0/1"])], loci=loci)
    call = call_diplotypes(read_genotypes(full, loci), kb, [gene]).iloc[0]
    assert call["call_status"] == "no_call"
    assert not any(w.startswith("the variants found fit ") for w in call["warnings"])
