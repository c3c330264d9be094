"""Real genomes: all 3,202 1000 Genomes samples through the pipeline, and GeT-RM truth.

The 1000 Genomes files list only sites that vary in the cohort, so these runs use
``assume_reference`` (a KB position absent from the file is reference for everyone),
and every call must say so.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from pgx import validate
from pgx.kb import load_kb
from pgx.pipeline import run_batch

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.fixture(scope="module")
def genes(kb, shared_data):
    found = [g for g in kb.genes if (shared_data / "1kgp" / "GRCh38" / f"{g}.vcf.gz").exists()]
    assert {"CYP2C19", "CYP2C9", "TPMT"} <= set(found)
    return found


@pytest.fixture(scope="module")
def run(kb, genes, shared_data, tmp_path_factory):
    vcfs = [shared_data / "1kgp" / "GRCh38" / f"{g}.vcf.gz" for g in genes]
    out = tmp_path_factory.mktemp("1kgp")
    paths = run_batch(vcfs, out, batch="1kgp", assume_reference=True, reports=False, kb=kb, genes=genes)
    return {name: pq.read_table(p).to_pandas() for name, p in paths.items()}


def test_all_samples_called_for_every_gene(run, genes):
    calls = run["calls"]
    assert calls["sample_id"].nunique() == 3202
    assert len(calls) == 3202 * len(genes)
    rates = validate.call_rates(calls).set_index("gene")
    for gene in ("CYP2C19", "CYP2C9", "TPMT"):
        assert rates.loc[gene, "call_rate"] >= 0.99, rates.loc[gene]


def test_assumed_reference_is_recorded_on_every_call(run):
    calls = run["calls"]
    assumed = calls["assumed_reference_positions"].map(len).gt(0)
    # the files list only variable sites, so most calls rest on some assumed position...
    for gene in ("CYP2C19", "CYP2C9", "TPMT"):
        assert assumed[calls["gene"] == gene].all(), gene
    # ...and every call that does says so in its warnings
    warned = calls["warnings"].map(lambda w: any("assumed reference" in x for x in w))
    assert (warned == assumed).all()
    assert calls["warnings"].map(lambda w: all(isinstance(x, str) for x in w)).all()
    prov = dict(run["provenance"].values)
    assert prov["option:assume_reference"] == "true"


def test_getrm_concordance_on_resolvable_rows(run, kb, shared_data):
    truth = validate.read_truth(shared_data / "truth" / "getrm_dev.tsv")
    truth = truth[truth["gene"].isin(["CYP2C19", "CYP2C9", "TPMT"])]
    cmp = validate.compare(run["calls"], truth, kb)
    summary = validate.summarize(cmp).set_index("gene")
    assert summary["resolvable"].sum() >= 140
    # function-level agreement: the phenotype a clinician acts on
    for gene in ("CYP2C19", "CYP2C9", "TPMT"):
        assert summary.loc[gene, "function_rate"] >= 0.95, summary.loc[gene]
    # every disagreement carries an explanation
    assert (cmp.loc[~cmp["exact"], "reason"] != "").all()
