"""The demo batch (``resources/demo``) is the first thing a new user runs: it must stay in
step with the knowledge base, call every gene the KB knows, and show the cases that
matter (a DPYD carrier, an unphased CYP2D6 tie, a no-call with its reason, outside calls
for CYP2D6 copy number and HLA)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from pgx.cli import main
from pgx.kb import load_kb
from pgx.pipeline import run_batch

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
DEMO_FILES = ("simulated.vcf.gz", "simulated.vcf.gz.tbi", "truth.tsv", "outside_calls.tsv")


def readme_simulate_command() -> list[str]:
    """The README's `pgx simulate ... --out resources/demo ...` line, as arguments."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(m.group(0) for m in re.finditer(r"^pgx simulate .*--out resources/demo.*$", text, re.M))
    return shlex.split(line)[1:]


def test_the_demo_is_what_the_readme_command_makes_from_this_kb(tmp_path):
    """Any change to the knowledge base that changes the demo fails here: regenerate it
    with the README's command."""
    args = readme_simulate_command()
    args[args.index("--out") + 1] = str(tmp_path / "demo")
    assert main(args) == 0
    for name in DEMO_FILES:
        assert (tmp_path / "demo" / name).read_bytes() == (DEMO / name).read_bytes(), (
            f"resources/demo/{name} is out of step with the knowledge base or pgx simulate; regenerate it with "
            f"the README's command: pgx {shlex.join(readme_simulate_command())}"
        )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    run_batch([DEMO / "simulated.vcf.gz"], out, batch="demo", reports=False, outside_calls=DEMO / "outside_calls.tsv")
    return pd.read_parquet(out / "calls.parquet"), pd.read_parquet(out / "recommendations.parquet")


def test_every_gene_of_the_kb_is_called_in_some_demo_patient(demo_run):
    calls, _ = demo_run
    kb_genes = set(load_kb().tables["genes"]["gene"])
    resulted = calls[calls["call_status"].isin(["called", "ambiguous", "outside_call"])]
    assert kb_genes - set(resulted["gene"]) == set()
    rate = calls["call_status"].isin(["called", "ambiguous"]).sum() / (calls["call_status"] != "outside_call").sum()
    assert rate > 0.95


def test_the_demo_shows_the_cases_a_new_user_should_see(demo_run):
    calls, recs = demo_run
    by = calls.set_index(["sample_id", "gene"])
    dpyd = by.loc[("DEMO-DPYD-carrier", "DPYD")]
    assert dpyd["call_status"] == "called" and dpyd["phenotype"] == "Intermediate Metabolizer"
    assert "c.1905+1G>A (*2A)" in dpyd["diplotype"]
    tie = by.loc[("DEMO-CYP2D6-unphased-tie", "CYP2D6")]
    assert tie["call_status"] == "ambiguous" and len(tie["alternatives"]) >= 2 and not tie["phased"]
    no_call = by.loc[("DEMO-NAT2-no-call", "NAT2")]
    assert no_call["call_status"] == "no_call" and "missing_required_position" in list(no_call["reason_codes"])
    assert any("required position" in w for w in no_call["warnings"])
    cn = by.loc[("DEMO-CYP2D6-copy-number", "CYP2D6")]
    assert cn["call_status"] == "outside_call" and cn["phenotype"] == "Ultrarapid Metabolizer"
    hla = by.loc[("Patient 12 (O'Brien)", "HLA-B")]
    assert hla["call_status"] == "outside_call"
    abacavir = recs[(recs["sample_id"] == "Patient 12 (O'Brien)") & (recs["drug"] == "abacavir")]
    assert set(abacavir["lookup_key"]) == {"HLA-B=*57:01 positive"} and set(abacavir["action"]) == {"avoid"}
