"""Structured fuzzing of the VCF reader and the outside-call parser (hypothesis), bounded
for CI: every generated input ends in a result or a ``PgxError`` (``pgx: error:``), never
in a traceback. ``tests/fuzz/run_fuzz.py`` runs the same properties for longer and
reports the numbers; every failing input it found is pinned below as a regression."""

from __future__ import annotations

import tempfile
from pathlib import Path

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
