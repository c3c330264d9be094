"""Structured fuzzing of the VCF reader and the outside-call parser (hypothesis), bounded
for CI: every generated input ends in a result or a ``PgxError`` (``pgx: error:``), never
in a traceback. ``tests/fuzz/run_fuzz.py`` runs the same properties for longer and
reports the numbers; every failing input it found is pinned below as a regression."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.strategies import check_outside_calls, check_vcf, outside_call_files, vcf_files, write_fuzz_vcf

#: examples per property in CI (a few seconds each); run_fuzz.py runs many more
CI_EXAMPLES = 120

CI = settings(
    max_examples=CI_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same inputs on every CI run: a failure is reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@CI
@given(case=vcf_files())
def test_any_vcf_ends_in_a_result_or_a_pgx_error(case):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_fuzz_vcf(case, Path(tmp) / "in")
        assert check_vcf(path, Path(tmp)) in ("result", "pgx_error")


@CI
@given(data=outside_call_files())
def test_any_outside_call_file_ends_in_a_result_or_a_pgx_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outside.tsv"
        path.write_bytes(data)
        assert check_outside_calls(path, Path(tmp)) in ("result", "pgx_error")


# --- inputs the long fuzzing runs found (each raised a traceback before its fix) ------------


def _one_record_vcf(tmp_path: Path, record: str) -> Path:
    path = tmp_path / "found.vcf"
    path.write_text(
        "##fileformat=VCFv4.2\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n" + record + "\n"
    )
    return path


@pytest.mark.parametrize(
    "record",
    [
        "chr6\t18130700\t.\tN\t<DEL>\t.\tLowQual\tEND=18150000\tGT\t0/1",  # an SV off the KB positions, filtered
        "chr6\t18130700\t.\tN\t<NON_REF>\t.\tLowQual\tEND=18150000\tGT\t0/0",  # a filtered gVCF block
    ],
    ids=["filtered_sv", "filtered_reference_block"],
)
def test_a_filtered_record_that_starts_off_the_kb_positions_is_read(tmp_path, record):
    """KeyError naming the position: the FILTER warning looked the start up among KB positions."""
    assert check_vcf(_one_record_vcf(tmp_path, record), tmp_path) == "result"


def test_an_empty_ref_is_a_malformed_record(tmp_path):
    """IndexError in pgx.normalize: an empty REF (two tabs) at a KB indel's span."""
    from pgx.errors import VcfError
    from pgx.vcf import read_genotypes
    from tests.fuzz.strategies import GENES, kb

    path = _one_record_vcf(tmp_path, "chr13\t48037798\t.\t\tA\t.\tPASS\t.\tGT\t0/1")
    with pytest.raises(VcfError, match=r"found\.vcf, line 4: malformed VCF record \(REF is empty\)"):
        read_genotypes([path], kb().loci(list(GENES)))
