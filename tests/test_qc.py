"""Batch QC report (pgx.qc): summaries, the HTML page on a simulated batch, the workflow
rule, and the real report over the 3,202 1000 Genomes samples."""

from __future__ import annotations

import base64
import gzip
import html
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgx import qc, qc_summary
from pgx.kb import load_kb
from pgx.outputs import read_table, write_table
from pgx.pipeline import run_batch
from pgx.schema import CALL_REASONS, CALLS
from pgx.simulate import simulate_cohort
from pgx.validate import call_rates
from pgx.vcf import bgzip_vcf

GENES = ["CYP2C19", "CYP2C9", "TPMT"]
N = 30
#: a sample ID no VCF reader accepts, but a Parquet table from elsewhere may hold
MARKUP_ID = "SIM<b>&\"$x$'0001"
MISSING_SAMPLES = ("SIM0001", "SIM0002", "SIM0003")  # SIM0001 becomes MARKUP_ID
NOVEL_SAMPLE = "SIM0004"

REPO = Path(__file__).resolve().parents[1]


# --- a simulated batch with something to report in every section ------------------------


def degrade_vcf(vcf: Path) -> tuple[int, str]:
    """Blank the first CYP2C19 genotypes of MISSING_SAMPLES (./.) and give NOVEL_SAMPLE an
    ALT base no allele defines; returns (positions blanked, the novel variant)."""
    lines = gzip.open(vcf, "rt").read().splitlines()
    header = next(line for line in lines if line.startswith("#CHROM")).split("\t")
    col = {s: header.index(s) for s in (*MISSING_SAMPLES, NOVEL_SAMPLE)}
    blanked, novel = 0, None
    out = []
    for line in lines:
        f = line.split("\t")
        if not line.startswith("#") and f[0] == "chr10" and 94_700_000 < int(f[1]) < 94_900_000:
            if blanked < 4:  # CYP2C19's first positions
                for s in MISSING_SAMPLES:
                    f[col[s]] = "./."
                blanked += 1
            elif novel is None and len(f[3]) == 1 and all(len(a) == 1 for a in f[4].split(",")):
                alts = f[4].split(",")
                new = next(b for b in "ACGT" if b != f[3] and b not in alts)
                f[4] = ",".join([*alts, new])
                f[col[NOVEL_SAMPLE]] = f"0/{len(alts) + 1}"
                novel = f"{f[0]}:{f[1]}:{f[3]}>{new}"
        out.append("\t".join(f))
    plain = vcf.with_suffix(".plain")
    plain.write_text("\n".join(out) + "\n")
    bgzip_vcf(plain, vcf, index="tbi")
    plain.unlink()
    return blanked, novel


def rename_sample(results: Path, old: str, new: str) -> None:
    """Rewrite the batch's tables with one sample renamed (as another tool might write them)."""
    for name in ("calls", "recommendations", "genotypes"):
        df = read_table(results / f"{name}.parquet")
        df["sample_id"] = df["sample_id"].astype(object).replace(old, new)
        write_table(df, name, results / f"{name}.parquet")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    kb = load_kb()
    sim = tmp_path_factory.mktemp("sim")
    vcf, _ = simulate_cohort(kb, GENES, N, sim, phased=False, seed=3)
    blanked, novel = degrade_vcf(vcf)
    results = tmp_path_factory.mktemp("results") / "qc-sim"
    run_batch([vcf], results, batch="qc-sim", reports=False, kb=kb, genes=GENES)
    rename_sample(results, MISSING_SAMPLES[0], MARKUP_ID)
    return {"results": results, "vcf": vcf, "kb": kb, "blanked": blanked, "novel": novel}


@pytest.fixture(scope="module")
def page(batch, tmp_path_factory):
    out = tmp_path_factory.mktemp("qc") / "qc_report.html"
    assert qc.render_qc_report(batch["results"], out) == out
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def populations():
    ids = [MARKUP_ID, *(f"SIM{i:04d}" for i in range(2, N + 1))]
    return pd.DataFrame({"sample": ids, "superpopulation": ["AFR" if i % 2 else "EUR" for i in range(N)]})


@pytest.fixture(scope="module")
def page_with_populations(batch, populations, tmp_path_factory):
    out = tmp_path_factory.mktemp("qc_pop") / "qc_report.html"
    qc.render_qc_report(batch["results"], out, populations=populations)
    return out.read_text(encoding="utf-8")


class Page(HTMLParser):
    """Sections (id -> text, images) of a report, checking that every tag closes."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.sections: dict[str, dict] = {}
        self.current: str | None = None
        self.title = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "section":
            self.current = attrs["id"]
            self.sections[self.current] = {"text": "", "images": []}
        if tag == "img" and self.current:
            self.sections[self.current]["images"].append(attrs)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()
        if tag == "section":
            self.current = None

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "title":
            self.title += data
        if self.current:
            self.sections[self.current]["text"] += data


# --- the page ----------------------------------------------------------------------------


def test_report_names_batch_kb_and_pipeline_versions_and_samples(page, batch):
    from pgx import __version__

    parsed = Page(page)
    assert parsed.title == "pgx QC: qc-sim"
    assert "Batch QC report: qc-sim" in page
    assert batch["kb"].version in page
    assert f"<b>{__version__}</b>" in page
    assert f"<span>Samples</span><b>{N}</b>" in page


def test_every_section_has_a_plot(page):
    parsed = Page(page)
    expected = [k for k in qc.SECTIONS if k != "populations"]
    assert list(parsed.sections) == expected
    for key in expected:
        images = parsed.sections[key]["images"]
        assert images, f"section {key} has no plot"
        for img in images:
            assert img["src"].startswith("data:image/png;base64,")
            png = base64.b64decode(img["src"].split(",", 1)[1])
            assert png.startswith(b"\x89PNG") and b"matplotlib" not in png  # no Software metadata


def test_sections_report_what_the_batch_holds(page, batch):
    parsed = Page(page).sections
    assert f"{len(MISSING_SAMPLES)} of {N} samples miss at least one KB position" in parsed["missing"]["text"]
    assert f"CYP2C19 ({batch['blanked']})" in parsed["missing"]["text"]
    assert batch["novel"] in parsed["novel"]["text"] and NOVEL_SAMPLE in parsed["novel"]["text"]
    assert "novel_variant" in parsed["warnings"]["text"] and CALL_REASONS["novel_variant"] in parsed["warnings"]["text"]
    assert "Ambiguous" in parsed["call-rates"]["text"] and "CYP2C19" in parsed["phenotypes"]["text"]


def test_sample_id_with_markup_characters_is_escaped(page):
    assert MARKUP_ID not in page and "<b>&" not in page
    assert html.escape(MARKUP_ID, quote=True) in page
    assert MARKUP_ID in Page(page).sections["missing"]["text"]  # and reads back as itself


def test_no_population_section_without_a_mapping(page):
    assert 'id="populations"' not in page


def test_populations_section_appears_when_given(page_with_populations):
    section = Page(page_with_populations).sections["populations"]
    assert len(section["images"]) == 2  # rates heatmaps + phenotypes per population
    assert "Samples by superpopulation: AFR 15, EUR 15." in section["text"]
    assert "Rates per superpopulation and gene (6 rows)" in section["text"]


def test_report_is_deterministic_and_written_atomically(batch, populations, tmp_path):
    a = qc.render_qc_report(batch["results"], tmp_path / "a" / "qc.html", populations=populations)
    b = qc.render_qc_report(batch["results"], tmp_path / "b" / "qc.html", populations=populations)
    assert a.read_bytes() == b.read_bytes()
    assert [p.name for p in a.parent.iterdir()] == ["qc.html"]  # no temporary file left


def test_failed_render_keeps_the_previous_report(batch, tmp_path):
    out = tmp_path / "qc.html"
    out.write_text("previous")
    broken = tmp_path / "broken"
    shutil.copytree(batch["results"], broken)
    (broken / "calls.parquet").write_bytes(b"not parquet")
    with pytest.raises(Exception):
        qc.render_qc_report(broken, out)
    assert out.read_text() == "previous"


# --- summaries ----------------------------------------------------------------------------


def calls_frame(rows: list[dict]) -> pd.DataFrame:
    base = {"call_status": "called", "phenotype": "Normal Metabolizer", "missing_positions": [],
            "novel_variants": [], "warnings": [], "kb_version": "k"}  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows])


def test_reason_table_counts_calls_and_samples_per_code():
    calls = calls_frame(
        [
            {"sample_id": "A", "gene": "CYP2C19", "reason_codes": ["assumed_reference"], "warnings": ["3 of 40 assumed"]},
            {"sample_id": "A", "gene": "TPMT", "reason_codes": ["assumed_reference", "tie"], "warnings": ["5 of 9 assumed"]},
            {"sample_id": "B", "gene": "TPMT", "reason_codes": ["assumed_reference"], "warnings": ["5 of 9 assumed", "x: 1"]},
            {"sample_id": "C", "gene": "TPMT", "reason_codes": [], "warnings": []},
        ]
    )
    table = qc_summary.reason_table(calls).set_index("code")
    assert list(table.index) == ["assumed_reference", "tie"]  # most calls first
    assert table.loc["assumed_reference", ["calls", "samples"]].tolist() == [3, 2]
    assert table.loc["assumed_reference", "genes"] == "CYP2C19, TPMT"
    assert table.loc["tie", "meaning"] == CALL_REASONS["tie"]
    assert table.loc["tie", ["calls", "samples"]].tolist() == [1, 1]


def test_reason_table_of_calls_without_codes_is_empty():
    assert qc_summary.reason_table(calls_frame([{"sample_id": "A", "gene": "G", "warnings": ["w"]}])).empty


def test_null_warning_entries_are_counted():
    calls = calls_frame(
        [{"sample_id": "A", "gene": "G", "warnings": [None, "w"]}, {"sample_id": "B", "gene": "G", "warnings": [None]}]
    )
    assert qc_summary.null_warnings(calls) == 2


@pytest.mark.parametrize(
    "phenotype, category",
    [
        ("Poor Metabolizer", "poor"), ("Likely Poor Metabolizer", "poor"), ("Deficient with CNSHA", "poor"),
        ("Malignant Hyperthermia Susceptibility", "poor"), ("Uncertain Susceptibility", "indeterminate"),
        ("Intermediate Metabolizer", "intermediate"), ("Possible Decreased Function", "intermediate"),
        ("Normal Metabolizer", "normal"), ("Rapid Metabolizer", "rapid"), ("Increased Function", "rapid"),
        ("Ultrarapid Metabolizer", "ultrarapid"), ("Indeterminate", "indeterminate"),
        ("increased risk of aminoglycoside-induced hearing loss", "poor"), ("-1639 AG", "other"),
        ("ivacaftor non-responsive in CF patients", "other"), ("ivacaftor responsive in CF patients", "other"),
        (None, "no_call"),
    ],
)  # fmt: skip
def test_phenotype_category(phenotype, category):
    assert qc_summary.phenotype_category(phenotype) == category


def test_phenotype_counts_share_per_gene_in_category_order():
    calls = calls_frame(
        [
            {"sample_id": "A", "gene": "G", "phenotype": "Normal Metabolizer"},
            {"sample_id": "B", "gene": "G", "phenotype": "Poor Metabolizer"},
            {"sample_id": "C", "gene": "G", "phenotype": None, "call_status": "no_call"},
            {"sample_id": "D", "gene": "G", "phenotype": "Normal Metabolizer"},
        ]
    )
    counts = qc_summary.phenotype_counts(calls)
    assert counts["phenotype"].tolist() == ["Poor Metabolizer", "Normal Metabolizer", "No call"]
    assert counts["share"].tolist() == [0.25, 0.5, 0.25]


def test_a_called_gene_without_phenotype_rule_is_not_counted_as_a_no_call():
    calls = calls_frame(
        [
            {"sample_id": "A", "gene": "CYP4F2", "phenotype": None, "call_status": "called"},
            {"sample_id": "B", "gene": "CYP4F2", "phenotype": None, "call_status": "no_call"},
        ]
    )
    counts = qc_summary.phenotype_counts(calls).set_index("phenotype")
    assert counts.loc[qc_summary.NO_PHENOTYPE, "category"] == "no_phenotype"
    assert counts.loc["No call", "category"] == "no_call"
    assert counts["samples"].tolist() == [1, 1]


def test_missing_by_sample_most_missing_first():
    calls = calls_frame(
        [
            {"sample_id": "A", "gene": "TPMT", "missing_positions": [1]},
            {"sample_id": "B", "gene": "CYP2C19", "missing_positions": [1, 2], "call_status": "no_call"},
            {"sample_id": "B", "gene": "TPMT", "missing_positions": [3]},
            {"sample_id": "C", "gene": "TPMT"},
        ]
    )
    missing = qc_summary.missing_by_sample(calls)
    assert missing["sample_id"].tolist() == ["B", "A"]
    assert missing.loc[0, "genes"] == "CYP2C19 (2), TPMT (1)" and missing.loc[0, "no_call_genes"] == "CYP2C19"


def test_novel_variant_table_lists_carriers():
    calls = calls_frame(
        [
            {"sample_id": "A", "gene": "G", "novel_variants": ["chr1:5:A>C", "chr1:10:G>T"]},
            {"sample_id": "B", "gene": "G", "novel_variants": ["chr1:10:G>T"]},
        ]
    )
    table = qc_summary.novel_variant_table(calls)
    assert table["variant"].tolist() == ["chr1:10:G>T", "chr1:5:A>C"]
    assert table["sample_ids"].tolist() == [["A", "B"], ["A"]]


def test_population_columns_are_normalised():
    kgp = pd.DataFrame({"sample": ["A", "B"], "population": ["GBR", "YRI"], "superpopulation": ["EUR", "AFR"]})
    out = qc_summary.normalise_populations(kgp)
    assert out.to_dict("list") == {"sample_id": ["A", "B"], "population": ["EUR", "AFR"]}
    assert out.attrs["label"] == "superpopulation"
    with pytest.raises(ValueError, match="needs a sample column"):
        qc_summary.normalise_populations(pd.DataFrame({"id": ["A"], "group": ["x"]}))


def test_population_rates_put_unlisted_samples_apart():
    calls = calls_frame([{"sample_id": s, "gene": "G"} for s in "ABC"])
    rates = qc_summary.population_rates(calls, pd.DataFrame({"sample_id": ["A", "B"], "population": ["P", "P"]}))
    assert dict(zip(rates["population"], rates["samples"])) == {"P": 2, qc_summary.NO_POPULATION: 1}


def test_populations_from_sheet_follow_each_samples_file(batch):
    sheet = pd.DataFrame({"vcf": [str(batch["vcf"]), "other.vcf.gz"], "population": ["synthetic", "X"]})
    pops = qc_summary.populations_from_sheet(sheet, batch["results"] / "genotypes.parquet")
    assert len(pops) == N and set(pops["population"]) == {"synthetic"}
    assert qc_summary.populations_from_sheet(sheet.assign(population=""), batch["results"] / "genotypes.parquet") is None


def test_populations_from_sheet_take_the_first_labelled_file_in_sheet_order(tmp_path):
    a, b, c = (str(tmp_path / f"{x}.vcf.gz") for x in "abc")
    rows = [("A", a), ("A", None), ("B", a), ("B", b), ("C", c), ("D", None)]
    genotypes = tmp_path / "genotypes.parquet"
    pq.write_table(pa.table({"sample_id": [r[0] for r in rows], "source_file": [r[1] for r in rows]}), genotypes)
    sheet = pd.DataFrame({"vcf": [b, a, c], "population": ["PB", "PA", ""]})
    pops = qc_summary.populations_from_sheet(sheet, genotypes)
    assert pops.to_dict("list") == {"sample_id": ["A", "B"], "population": ["PA", "PB"]}


# --- workflow -------------------------------------------------------------------------------


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(cwd), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture
def workdir(tmp_path) -> Path:
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copytree(REPO / "resources" / "demo", tmp_path / "resources" / "demo")
    (tmp_path / "config" / "samples.tsv").write_text("batch\tvcf\tpopulation\ndemo\tresources/demo/simulated.vcf.gz\tsynthetic\n")
    return tmp_path


def test_workflow_plans_a_qc_report_per_batch(workdir):
    result = snakemake("-n", "--cores", "1", "--config", "reports=False", cwd=workdir)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "rule qc:" in out and "results/demo/qc_report.html" in out


@pytest.mark.slow
def test_workflow_writes_the_qc_report_with_the_sheets_populations(workdir):
    result = snakemake("--cores", "2", "results/demo/qc_report.html", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (workdir / "results" / "demo" / "qc_report.html").read_text(encoding="utf-8")
    section = Page(text).sections["populations"]
    assert "Samples by population: synthetic 17." in section["text"]
    assert (workdir / "logs" / "demo" / "qc.log").exists()
    assert (workdir / "benchmarks" / "demo" / "qc.tsv").exists()


# --- 1000 Genomes ---------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.slow
def test_qc_report_of_the_1000_genomes_samples(shared_data, tmp_path):
    kgp = shared_data / "1kgp"
    vcfs = [kgp / "GRCh38" / f"{g}.vcf.gz" for g in GENES]
    results = tmp_path / "1kgp"
    run_batch(vcfs, results, batch="1kgp", assume_reference=True, reports=False, genes=GENES)
    populations = qc_summary.read_populations(kgp / "samples.tsv")
    out = qc.render_qc_report(results, tmp_path / "qc_report.html", populations=populations)
    parsed = Page(out.read_text(encoding="utf-8"))
    assert "<span>Samples</span><b>3,202</b>" in out.read_text(encoding="utf-8")
    assert list(parsed.sections) == list(qc.SECTIONS)
    pop_text = parsed.sections["populations"]["text"]
    for pop in ("AFR", "AMR", "EAS", "EUR", "SAS"):
        assert pop in pop_text
    assert qc_summary.NO_POPULATION not in pop_text  # every sample is in samples.tsv
    rates = qc_summary.population_rates(read_table(results / "calls.parquet"), populations)
    assert len(rates) == 5 * len(GENES) and (rates["call_rate"] >= 0.99).all()
    # every call that assumed reference counts under one code, whatever the counts in its text
    reasons = qc_summary.reason_table(read_table(results / "calls.parquet")).set_index("code")
    assert reasons.loc["assumed_reference", "calls"] >= 3202 * len(GENES) - 20


def test_genotypes_are_read_in_batches_with_the_same_result(batch, populations, tmp_path, monkeypatch):
    """The QC streams genotypes.parquet and calls.parquet (a 200,000-genome batch has
    hundreds of millions of genotypes and millions of calls): read a few rows at a time,
    the status counts, sample files and call summaries, and so the whole page, are those
    of one read."""
    whole = qc.render_qc_report(batch["results"], tmp_path / "whole.html", populations=populations)
    sheet = pd.DataFrame({"vcf": [str(batch["vcf"])], "population": ["X"]})
    pairs_whole = qc_summary.populations_from_sheet(sheet, batch["results"] / "genotypes.parquet")
    monkeypatch.setattr(qc_summary, "STREAM_ROWS", 7)
    assert len(list(qc_summary._stream(batch["results"] / "genotypes.parquet", ["gene"]))) > 10
    assert len(list(qc_summary._stream(batch["results"] / "calls.parquet", ["gene"]))) > 10
    streamed = qc.render_qc_report(batch["results"], tmp_path / "streamed.html", populations=populations)
    assert streamed.read_bytes() == whole.read_bytes()
    pairs_streamed = qc_summary.populations_from_sheet(sheet, batch["results"] / "genotypes.parquet")
    pd.testing.assert_frame_equal(pairs_streamed.reset_index(drop=True), pairs_whole.reset_index(drop=True))


def test_streamed_call_summary_equals_the_whole_table(batch, populations, tmp_path, monkeypatch):
    """summarise_calls adds up counts batch by batch of rows; on a batch of several chunks
    (several row groups) read 5 rows at a time (so a sample's calls fall into two reads),
    every summary equals the one computed from the whole calls table."""
    results = tmp_path / "chunks"
    run_batch([batch["vcf"]], results, batch="qc-chunks", reports=False, kb=batch["kb"], genes=GENES, chunk_size=7)
    path = results / "calls.parquet"
    assert pq.ParquetFile(path).num_row_groups >= 4
    calls = read_table(path)
    pops = qc_summary.normalise_populations(populations)  # SIM0001 is not listed: "(no population)"
    monkeypatch.setattr(qc_summary, "STREAM_ROWS", 5)
    assert len(list(qc_summary._stream(path, ["gene"]))) == -(-len(calls) // 5)
    summary = qc_summary.summarise_calls(path, pops)

    assert (summary.rows, summary.samples) == (len(calls), calls["sample_id"].nunique()) == (N * len(GENES), N)
    genes = summary.genes
    assert genes == ["CYP2C9", "CYP2C19", "TPMT"]  # natural order
    assert summary.status == {
        s: int((calls["call_status"] == s).sum()) for s in ("called", "ambiguous", "no_call", "outside_call")
    }
    assert summary.with_reason == int((calls["reason_codes"].map(len) > 0).sum()) > 0
    pd.testing.assert_frame_equal(summary.rates, qc_summary.gene_rates(calls).set_index("gene").loc[genes].reset_index())
    # the rates from counts are pgx.validate.call_rates' means
    reference = call_rates(calls).set_index("gene").loc[genes].reset_index()
    pd.testing.assert_frame_equal(summary.rates[reference.columns], reference)
    pd.testing.assert_frame_equal(summary.phenotypes, qc_summary.phenotype_counts(calls))
    whole_missing = qc_summary.missing_by_sample(calls)
    assert summary.samples_with_missing == len(whole_missing) == len(MISSING_SAMPLES)
    pd.testing.assert_frame_equal(summary.missing, whole_missing.head(qc_summary.TOP_TABLE))
    whole_novel = qc_summary.novel_variant_table(calls)
    assert summary.novel["variant"].tolist() == whole_novel["variant"].tolist() == [batch["novel"]]
    assert summary.novel["samples"].tolist() == whole_novel["samples"].tolist()
    assert summary.novel["sample_ids"].tolist() == [ids[: qc_summary.CARRIERS_SHOWN] for ids in whole_novel["sample_ids"]]
    pd.testing.assert_frame_equal(summary.reasons, qc_summary.reason_table(calls))
    assert summary.null_warnings == qc_summary.null_warnings(calls)
    pd.testing.assert_frame_equal(summary.population_rates, qc_summary.population_rates(calls, pops))
    pop_of = dict(zip(pops["sample_id"], pops["population"]))
    with_pop = calls.assign(population=[pop_of.get(s, qc_summary.NO_POPULATION) for s in calls["sample_id"]])
    pd.testing.assert_frame_equal(summary.population_phenotypes, qc_summary.phenotype_counts(with_pop, by=("gene", "population")))
    assert summary.population_sizes == {"AFR": 15, "EUR": 14, qc_summary.NO_POPULATION: 1}


def test_novel_carriers_and_reason_samples_add_up_across_reads(tmp_path, monkeypatch):
    """Counts that need the distinct samples (carriers of a novel variant, samples per reason
    code) stay exact when one sample's calls and one variant's carriers span several reads,
    with more carriers than the page names."""
    rows = [
        {"sample_id": f"S{i:02d}", "gene": gene, "call_status": "called", "phenotype": "Normal Metabolizer",
         "novel_variants": ["chr1:10:G>T"] if gene == "G1" and i % 2 else [], "missing_positions": [1] * (i % 4),
         "reason_codes": ["tie", "tie"] if gene == "G2" else ["assumed_reference"], "warnings": [], "kb_version": "k"}
        for i in range(20) for gene in ("G1", "G2", "G3")
    ]  # fmt: skip
    path = tmp_path / "calls.parquet"
    schema = pa.schema([CALLS.field(c) for c in qc_summary.CALL_COLUMNS])  # the columns the QC reads
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=7)
    monkeypatch.setattr(qc_summary, "STREAM_ROWS", 4)
    summary = qc_summary.summarise_calls(path)
    assert summary.novel.loc[0, "samples"] == 10
    assert summary.novel.loc[0, "sample_ids"] == ["S01", "S03", "S05", "S07", "S09", "S11"]
    reasons = summary.reasons.set_index("code")
    assert reasons.loc["assumed_reference", ["calls", "samples"]].tolist() == [40, 20]
    assert reasons.loc["tie", ["calls", "samples"]].tolist() == [40, 20]  # two entries on each G2 call
    assert reasons.loc["assumed_reference", "genes"] == "G1, G3"
    assert summary.samples_with_missing == 15
    assert summary.missing["missing_positions"].tolist()[:5] == [9, 9, 9, 9, 9]
    assert summary.missing["sample_id"].tolist()[:2] == ["S03", "S07"]
    pd.testing.assert_frame_equal(summary.reasons, qc_summary.reason_table(read_table(path)))
