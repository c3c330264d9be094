"""MT-RNR1 called from chrM: KB placement, haploid/homoplasmic/heteroplasmic genotypes,
several variants, missing chrM, hg19's chrM refused, contig naming, outside calls, and
the whole pipeline to an aminoglycoside recommendation."""

from __future__ import annotations

import pandas as pd
import pytest

from pgx.kb import describe, load_kb
from pgx.kb_build import mito as kbm
from pgx.calling import call_diplotypes
from pgx.builds import REFUSAL_MARK, mito_contig_refusal
from pgx.mito import RISK_ORDER, risk_rank
from pgx.outside import apply_outside_calls, read_outside_calls
from pgx.phenotype import assign_phenotypes
from pgx.simulate import all_pairs, write_cohort
from pgx.vcf import read_genotypes

GENE = "MT-RNR1"


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.fixture(scope="module")
def loci(kb):
    return kb.loci([GENE])


def placed_alleles(kb) -> dict[str, tuple[int, str]]:
    """allele -> (pos, VCF ALT) from the KB's definitions (reference excluded)."""
    defs = kb.table("allele_definitions", GENE)
    return {a: (int(p), b) for a, p, b in zip(defs["allele"], defs["pos"], defs["bases"]) if a != "Reference"}


def call(kb, path, loci, **kw) -> pd.DataFrame:
    calls = assign_phenotypes(call_diplotypes(read_genotypes(path, loci, **kw), kb, [GENE]), kb)
    return calls.set_index("sample_id")


def carrier_vcf(make_vcf, path, loci, gts: dict[str, dict[int, str]], ref_gt="0", chrom="chrM", **kw):
    """Every MT-RNR1 locus written with ``ref_gt``; ``gts[sample][pos]`` overrides (ALT = the KB's)."""
    samples = list(gts)
    rows = loci.assign(chrom=chrom)
    records = []
    for r in rows.itertuples():
        per = [gts[s].get(int(r.pos), ref_gt) for s in samples]
        records.append((chrom, int(r.pos), r.ref, r.alts, per))
    return make_vcf(path, samples=samples, records=records, contigs=kw.pop("contigs", [chrom]), **kw)


# --- knowledge base -------------------------------------------------------------------


def test_mt_rnr1_is_called_from_the_vcf_and_keeps_its_outside_only_allele(kb):
    genes = kb.tables["genes"].set_index("gene")
    assert genes.at[GENE, "called_from"] == "vcf" and genes.at[GENE, "chrom"] == "chrM"
    assert GENE in kb.genes and kb.mito_genes == [GENE]
    rules = kb.table("gene_rules", GENE)
    unplaced = set(rules.loc[rules["rule"] == "outside_only_allele", "value"])
    named = set(kb.table("alleles", GENE)["allele"]) - {"Reference"}
    assert unplaced and unplaced | set(placed_alleles(kb)) == named and not unplaced & set(placed_alleles(kb))
    assert all(a in describe(kb) for a in unplaced)


def test_every_placed_allele_agrees_with_its_name_and_locus(kb, loci):
    by_pos = loci.set_index("pos")
    for allele, (pos, alt) in placed_alleles(kb).items():
        ref = by_pos.at[pos, "ref"]
        assert alt in by_pos.at[pos, "alts"].split(",")
        assert kbm.name_agrees(allele, pos, ref, alt), allele
    assert (loci["grch37_pos"] == loci["pos"]).all()  # rCRS in both builds


def test_reference_allele_is_defined_at_every_locus_with_the_ref_base(kb, loci):
    defs = kb.table("allele_definitions", GENE)
    ref = defs[defs["allele"] == "Reference"].set_index("pos")["bases"]
    assert sorted(ref.index) == sorted(loci["pos"])
    assert (ref.loc[loci["pos"]].to_numpy() == loci["ref"].to_numpy()).all()


@pytest.mark.parametrize(
    "name,pos,ref,alt,ok",
    [
        ("m.1555A>G", 1555, "A", "G", True),
        ("m.1555A>G", 1555, "A", "C", False),
        ("m.1555A>G", 1556, "A", "G", False),
        ("m.960C>del", 955, "AC", "A", True),  # HGVS 3' end of the C run, VCF left-aligned
        ("m.960C>del", 961, "AC", "A", False),  # the named base is before the deletion
        ("m.960C>del", 955, "AT", "A", False),  # another base deleted
        ("m.961T>del+Cn", 960, "CT", "C", False),
    ],
)
def test_name_agrees_with_vcf_variant(name, pos, ref, alt, ok):
    assert kbm.name_agrees(name, pos, ref, alt) is ok


def test_snv_names_no_table_lists_are_placed_from_the_name_and_complex_ones_are_not():
    variants = {"M-1555-A-G": {"GRCh38Position": "1555", "GRCh38Allele": "A", "Variant": "G", "rsID": "rs267606617"}}
    cores = {"m.1555A>G": ["M-1555-A-G"], "m.1494C>T": [], "m.961T>del+Cn": [], "m.2000A>G": ["M-2000-A-C"]}
    placed, unplaced = kbm.place_alleles(["Reference", *cores], "Reference", cores, variants)
    how = {p.allele: (p.pos, p.ref, p.alt, p.source) for p in placed}
    assert how["m.1555A>G"] == (1555, "A", "G", "pypgx")
    assert how["m.1494C>T"] == (1494, "C", "T", "name")
    assert how["m.2000A>G"] == (2000, "A", "G", "name")  # the PyPGx core is not listed: the name decides
    assert set(unplaced) == {"m.961T>del+Cn"}


# --- genotypes -> calls ---------------------------------------------------------------


@pytest.mark.parametrize("carrier_gt", ["1", "1/1", "1|1"])
def test_every_placed_allele_is_called_back_from_simulated_chrm(kb, loci, tmp_path, carrier_gt):
    """Each allele's simulated haplotype, written haploid or homoplasmic diploid, gives that allele."""
    pairs = all_pairs(kb, GENE)
    assert {a for a, _ in pairs} == set(placed_alleles(kb)) | {"Reference"}
    assignment = {f"S{i}": {GENE: pair} for i, pair in enumerate(pairs)}
    ploidy = "haploid" if carrier_gt == "1" else "diploid"
    vcf, truth = write_cohort(kb, assignment, tmp_path, phased="|" in carrier_gt, mito_ploidy=ploidy)
    calls = call(kb, vcf, loci)
    expected = pd.read_csv(truth, sep="\t", dtype=str, keep_default_na=False).set_index("sample_id")
    assert (expected["allele_2"] == "").all()
    assert (calls["call_status"] == "called").all()
    assert calls["diplotype"].to_dict() == expected["diplotype"].to_dict()
    assert calls["allele_2"].isna().all() and calls["warnings"].map(len).eq(0).all()
    functions = kb.table("alleles", GENE).set_index("allele")["function"]
    assert (calls["function_1"] == calls["allele_1"].map(functions)).all()


def test_heteroplasmic_variant_is_called_present_with_a_warning(kb, loci, make_vcf, tmp_path):
    path = carrier_vcf(make_vcf, tmp_path / "het.vcf", loci, {"HET": {1555: "0/1"}, "HOM": {1555: "1/1"}}, ref_gt="0/0")
    calls = call(kb, path, loci)
    increased = [p for p in set(calls["phenotype"]) if p.startswith("increased")]
    assert calls.at["HET", "diplotype"] == calls.at["HOM", "diplotype"] == "m.1555A>G"
    assert calls.at["HET", "phenotype"] == calls.at["HOM", "phenotype"] and len(increased) == 1
    het_warn = " ".join(calls.at["HET", "warnings"])
    assert "heteroplasmic" in het_warn and "m.1555A>G" in het_warn and "0/1" in het_warn
    assert not any("heteroplasmic" in w for w in calls.at["HOM", "warnings"])
    assert calls.at["HET", "phased"] is False or calls.at["HET", "phased"] == False  # noqa: E712


def test_format_af_does_not_change_the_call(kb, loci, make_vcf, tmp_path):
    records = [("chrM", int(r.pos), r.ref, r.alts, ["0:0.0"]) for r in loci.itertuples() if r.pos != 1555]
    records.append(("chrM", 1555, "A", "G", ["1:0.03"]))
    path = make_vcf(
        tmp_path / "af.vcf", records=records, fmt="GT:AF",
        header_extra=['##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fraction">'],
    )  # fmt: skip
    assert call(kb, path, loci).at["S1", "diplotype"] == "m.1555A>G"


def test_several_variants_are_all_reported_and_the_highest_risk_one_decides(kb, loci, make_vcf, tmp_path):
    ranks = {a: risk_rank(f) for a, f in zip(kb.table("alleles", GENE)["allele"], kb.table("alleles", GENE)["function"])}
    placed = placed_alleles(kb)
    low = next(a for a in sorted(placed) if ranks[a] == RISK_ORDER.index("normal risk"))
    mid = next(a for a in sorted(placed) if ranks[a] == RISK_ORDER.index("uncertain risk") and placed[a][0] != placed[low][0])
    high = next(a for a in sorted(placed) if ranks[a] == 0)
    by_pos = loci.set_index("pos")
    carried = {placed[a][0]: by_pos.at[placed[a][0], "alts"].split(",").index(placed[a][1]) + 1 for a in (low, mid, high)}
    records = [
        ("chrM", int(pos), by_pos.at[pos, "ref"], by_pos.at[pos, "alts"], [str(carried.get(pos, 0))]) for pos in by_pos.index
    ]
    path = make_vcf(tmp_path / "three.vcf", samples=["S"], records=records)
    c = call(kb, path, loci).loc["S"]
    assert c["diplotype"] == high and c["call_status"] == "called"
    note = next(w for w in c["warnings"] if "variants found" in w)
    assert all(a in note for a in (low, mid, high)) and note.rstrip().endswith(high)


def test_missing_high_risk_position_is_a_no_call_never_reference(kb, loci, make_vcf, tmp_path):
    gts = {"NOCALL": {1555: "."}, "LOWMISS": {}}
    path = carrier_vcf(make_vcf, tmp_path / "miss.vcf", loci, gts)
    calls = call(kb, path, loci)
    assert calls.at["NOCALL", "call_status"] == "no_call" and calls.at["NOCALL", "lookup_key"] == "No Result"
    assert 1555 in list(calls.at["NOCALL", "missing_positions"])
    assert any("1555" in w and "higher-risk" in w for w in calls.at["NOCALL", "warnings"])
    assert calls.at["LOWMISS", "diplotype"] == "Reference"


def test_missing_lower_risk_position_keeps_the_high_risk_call(kb, loci, make_vcf, tmp_path):
    uncertain_pos = next(p for a, (p, _) in placed_alleles(kb).items() if a.startswith("m.663"))
    path = carrier_vcf(make_vcf, tmp_path / "m.vcf", loci, {"S": {1555: "1", uncertain_pos: "."}})
    c = call(kb, path, loci).loc["S"]
    assert c["diplotype"] == "m.1555A>G" and c["call_status"] == "called"
    assert list(c["missing_positions"]) == [uncertain_pos]


def test_no_chrm_records_means_no_call_even_with_assume_reference(kb, make_vcf, tmp_path):
    loci = kb.loci(["TPMT", GENE])
    tpmt = loci[loci["gene"] == "TPMT"]
    path = make_vcf(
        tmp_path / "nochrm.vcf",
        records=[(tpmt.iloc[0].chrom, int(tpmt.iloc[0].pos), tpmt.iloc[0].ref, tpmt.iloc[0].alts, ["0/1"])],
    )
    for assume in (False, True):
        c = call(kb, path, loci, assume_reference=assume).loc["S1"]
        assert c["call_status"] == "no_call" and "no MT-RNR1 position present" in c["warnings"][0]


def test_assume_reference_fills_chrm_when_the_file_has_chrm_records(kb, loci, make_vcf, tmp_path):
    """A variant-only file: m.8860A>G (outside MT-RNR1, carried by nearly everyone) shows chrM was called."""
    path = make_vcf(
        tmp_path / "varonly.vcf", samples=["CARRIER", "OTHER"],
        records=[("chrM", 1555, "A", "G", ["1", "0"]), ("chrM", 8860, "A", "G", ["1", "1"])],
    )  # fmt: skip
    filled = call(kb, path, loci, assume_reference=True)
    assert filled.at["CARRIER", "diplotype"] == "m.1555A>G" and filled.at["OTHER", "diplotype"] == "Reference"
    assert list(filled.at["OTHER", "assumed_reference_positions"]) and not list(filled.at["OTHER", "missing_positions"])
    assert any("assumed reference" in w for w in filled.at["OTHER", "warnings"])
    plain = call(kb, path, loci)
    # without the option nothing is assumed: the carrier's risk cannot rise, the other's could
    assert plain.at["CARRIER", "diplotype"] == "m.1555A>G" and len(plain.at["CARRIER", "missing_positions"]) == len(loci) - 1
    assert plain.at["OTHER", "call_status"] == "no_call"


@pytest.mark.parametrize("chrom", ["chrM", "MT", "M", "chrMT"])
def test_mitochondrial_contig_names_are_equivalent(kb, loci, make_vcf, tmp_path, chrom):
    path = carrier_vcf(make_vcf, tmp_path / "n.vcf", loci, {"S": {1494: "1"}}, chrom=chrom)
    assert call(kb, path, loci).at["S", "diplotype"] == "m.1494C>T"


@pytest.mark.parametrize(
    "contig,header,build",
    [
        ("chrM", ["##contig=<ID=chrM,length=16571>"], None),  # hg19 by its length
        ("chrM", ["##contig=<ID=chr1,length=249250621>"], None),  # hg19 by its autosome lengths
        ("chrM", [], "GRCh37"),  # --build GRCh37 with UCSC naming
        ("MT", ["##contig=<ID=MT,length=16571>"], "GRCh37"),
    ],
)
def test_hg19_chrm_is_refused_with_a_warning(kb, loci, make_vcf, tmp_path, contig, header, build):
    path = carrier_vcf(make_vcf, tmp_path / "hg19.vcf", loci, {"S": {1555: "1"}}, chrom=contig, contigs=[], header_extra=header)
    gm = read_genotypes(path, loci, build=build)
    assert any(REFUSAL_MARK in w for w in gm.warnings)
    c = assign_phenotypes(call_diplotypes(gm, kb, [GENE]), kb).iloc[0]
    assert c["call_status"] == "no_call" and any(REFUSAL_MARK in w for w in c["warnings"])


@pytest.mark.parametrize(
    "contig,header,build",
    [
        ("MT", ["##contig=<ID=MT,length=16569>"], "GRCh37"),
        ("chrM", ["##contig=<ID=chrM,length=16569>"], "GRCh37"),
        ("chrM", [], None),
    ],
)
def test_rcrs_mitochondrial_contigs_are_read(kb, loci, make_vcf, tmp_path, contig, header, build):
    path = carrier_vcf(make_vcf, tmp_path / "ok.vcf", loci, {"S": {1555: "1"}}, chrom=contig, contigs=[], header_extra=header)
    gm = read_genotypes(path, loci, build=build)
    assert not any(REFUSAL_MARK in w for w in gm.warnings)
    assert call_diplotypes(gm, kb, [GENE]).iloc[0]["diplotype"] == "m.1555A>G"


def test_refusal_rule_itself():
    assert mito_contig_refusal("chrM", 16571, "GRCh38")
    assert mito_contig_refusal("MT", 16000, None)
    assert mito_contig_refusal("chrM", None, "GRCh37")
    assert mito_contig_refusal("chrM", 16569, "GRCh37") is None
    assert mito_contig_refusal("MT", None, "GRCh37") is None
    assert mito_contig_refusal("chrM", None, "GRCh38") is None
    assert mito_contig_refusal("chr1", 16571, None) is None


# --- outside calls and the pipeline -------------------------------------------------------


def test_outside_call_overrides_the_vcf_call(kb, loci, make_vcf, tmp_path):
    path = carrier_vcf(make_vcf, tmp_path / "o.vcf", loci, {"A": {1555: "1"}, "B": {}, "C": {}})
    calls = assign_phenotypes(call_diplotypes(read_genotypes(path, loci), kb, [GENE]), kb)
    tsv = tmp_path / "outside.tsv"
    tsv.write_text("sample_id\tgene\tdiplotype\nA\tMT-RNR1\tm.961T>del+Cn\nB\tMT-RNR1\tm.1555A>G\nC\tMT-RNR1\t*1/*2\n")
    out = apply_outside_calls(calls, read_outside_calls(tsv), kb).set_index("sample_id")
    vcf_a = calls.set_index("sample_id").at["A", "phenotype"]
    assert out.at["A", "call_status"] == "outside_call" and out.at["A", "diplotype"] == "m.961T>del+Cn"
    assert out.at["A", "phenotype"] != vcf_a and "replaces the VCF call m.1555A>G" in out.at["A", "warnings"][0]
    assert out.at["B", "phenotype"] == vcf_a and pd.isna(out.at["B", "allele_2"])
    assert out.at["C", "call_status"] == "no_call" and "one haplotype" in out.at["C", "warnings"][0]


def test_pipeline_gives_an_aminoglycoside_recommendation_from_chrm(kb, tmp_path):
    from pgx.pipeline import run_batch

    high = "m.1555A>G"
    assignment = {
        "P1": {GENE: (high, high), "TPMT": ("*1", "*1")},
        "P2": {GENE: ("Reference", "Reference"), "TPMT": ("*1", "*3A")},
    }
    vcf, _ = write_cohort(kb, assignment, tmp_path / "in")
    paths = run_batch([vcf], tmp_path / "out", batch="mito", reports=True, kb=kb)
    calls = pd.read_parquet(paths["calls"]).set_index(["sample_id", "gene"])
    assert calls.loc[("P1", GENE), "diplotype"] == high and calls.loc[("P1", GENE), "call_status"] == "called"
    recs = pd.read_parquet(paths["recommendations"])
    genta = recs[(recs["drug"] == "gentamicin") & (recs["source"] == "CPIC")].set_index("sample_id")
    kb_recs = kb.tables["recommendations"]
    expected = {
        s: kb_recs[(kb_recs["drug"] == "gentamicin") & (kb_recs["lookup_key"] == f"{GENE}={calls.loc[(s, GENE), 'lookup_key']}")][
            "action"
        ].item()
        for s in ("P1", "P2")
    }
    assert genta.loc["P1", "action"] == expected["P1"] != genta.loc["P2", "action"] == expected["P2"]
    assert (tmp_path / "out" / "reports" / "P1.pdf").stat().st_size > 0


def test_annotate_writes_chrm_variants_with_their_allele(kb, loci, make_vcf, tmp_path):
    import gzip

    from pgx.pipeline import annotate_batch

    path = carrier_vcf(make_vcf, tmp_path / "a.vcf", loci, {"S": {1555: "1"}, "T": {}})
    out = annotate_batch([path], tmp_path / "ann.vcf.gz", kb=kb, genes=[GENE])
    lines = [x for x in gzip.open(out, "rt").read().splitlines() if x.startswith("chrM\t1555\t")]
    assert len(lines) == 1
    fields = lines[0].split("\t")
    assert "m.1555A>G" in fields[7] and fields[9:] == ["1", "0"]


def test_batch_check_reports_the_refused_chrm_under_an_explicit_build(kb, loci, make_vcf, tmp_path):
    from pgx.input_check import check_batch

    path = carrier_vcf(make_vcf, tmp_path / "b37.vcf", loci, {"S": {1555: "1"}}, contigs=[])
    out = tmp_path / "checks.txt"
    check_batch([path], out, kb=kb, genes=[GENE], build="GRCh37")
    assert REFUSAL_MARK in out.read_text()
    check_batch([path], out, kb=kb, genes=[GENE], build="GRCh38")
    assert REFUSAL_MARK not in out.read_text()
