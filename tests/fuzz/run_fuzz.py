"""Long structured fuzzing run of the VCF reader and the outside-call parser.

    .venv/bin/python tests/fuzz/run_fuzz.py --minutes 10            # both targets, 10 min each
    .venv/bin/python tests/fuzz/run_fuzz.py --minutes 2 --target vcf

The same grammars and properties as ``tests/test_fuzz.py`` (``tests/fuzz/strategies.py``),
with fresh random seeds, batch after batch until the time is up. Every input must end in a
result or a ``PgxError``; any other exception is a traceback a user would see. The run
prints, per target, the inputs tried, the time, how many ended in a result and in a
``pgx: error:``, and each distinct traceback (exception type and the pgx line it came
from) with the first input that raised it, saved under ``--keep`` to reproduce.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402

from tests.fuzz.strategies import (  # noqa: E402
    check_outside_calls,
    check_vcf,
    outside_call_files,
    vcf_files,
    write_fuzz_vcf,
)

BATCH = 200


def signature(exc: BaseException) -> str:
    """``ValueError at decode.py:123``: the type and the innermost pgx frame."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/pgx/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "outside pgx"
    return f"{type(exc).__name__} at {where}: {str(exc)[:120]}"


def run_target(name: str, minutes: float, keep: Path) -> dict:
    outcomes: Counter = Counter()
    failures: dict[str, str] = {}
    started = time.monotonic()

    def record(kind: str, payload: bytes, run) -> None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"current-{name}.{kind}").write_bytes(payload)  # what a crash (segfault) was running
        with tempfile.TemporaryDirectory() as tmp:
            try:
                outcomes[run(Path(tmp), payload)] += 1
            except Exception as exc:  # noqa: BLE001 - counting every traceback is the point
                sig = signature(exc)
                outcomes["traceback"] += 1
                if sig not in failures:
                    keep.mkdir(parents=True, exist_ok=True)
                    saved = keep / f"{name}-{len(failures) + 1}.{kind}"
                    saved.write_bytes(payload)
                    current_case = keep / "current-case.txt"
                    if kind == "vcf" and current_case.exists():  # compression and damage, to reproduce
                        saved.with_suffix(".case.txt").write_text(current_case.read_text())
                    failures[sig] = f"{saved}\n{''.join(traceback.format_exception(exc)[-4:])}"

    def run_vcf(tmp: Path, case) -> str:
        return check_vcf(write_fuzz_vcf(case, tmp / "in"), tmp)

    def run_outside(tmp: Path, data: bytes) -> str:
        path = tmp / "outside.tsv"
        path.write_bytes(data)
        return check_outside_calls(path, tmp)

    batch_seed = 0
    while time.monotonic() - started < minutes * 60:
        batch_seed += 1
        common = settings(
            max_examples=BATCH, deadline=None, database=None, phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        if name == "vcf":

            @hypothesis_seed(batch_seed)
            @common
            @given(vcf_files())
            def body(case):
                (keep / "current-case.txt").write_text(repr(case))
                record("vcf", case.text.encode("utf-8", "surrogatepass"), lambda tmp, _: run_vcf(tmp, case))

        else:

            @hypothesis_seed(batch_seed)
            @common
            @given(outside_call_files())
            def body(data):
                record("tsv", data, run_outside)

        body()
    return {"target": name, "seconds": time.monotonic() - started, "outcomes": outcomes, "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="time per target (default 5)")
    parser.add_argument("--target", choices=("vcf", "outside", "both"), default="both")
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "pgx-fuzz-failures",
                        help="where inputs that raised a traceback are saved")  # fmt: skip
    args = parser.parse_args(argv)
    targets = ["vcf", "outside"] if args.target == "both" else [args.target]
    args.keep.mkdir(parents=True, exist_ok=True)
    crash_log = open(args.keep / "crash.txt", "w")  # a segfault's Python stack goes here
    faulthandler.enable(crash_log)
    logging.disable(logging.CRITICAL)  # the readers' warnings, thousands of them
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # and htslib's, written straight to file descriptor 2
    bad = 0
    for name in targets:
        report = run_target(name, args.minutes, args.keep)
        o = report["outcomes"]
        total = sum(o.values())
        print(
            f"{name}: {total} inputs in {report['seconds']:.0f} s ({total / max(report['seconds'], 1e-9):.1f}/s): "
            f"{o['result']} results, {o['pgx_error']} pgx errors, {o['traceback']} tracebacks "
            f"({len(report['failures'])} distinct)"
        )
        for sig, detail in report["failures"].items():
            print(f"  TRACEBACK {sig}\n    {detail.replace(chr(10), chr(10) + '    ')}", flush=True)
        bad += len(report["failures"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
