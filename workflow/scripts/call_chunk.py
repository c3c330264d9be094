"""Rule `call_chunk`: call one sample chunk of a prepared batch; write its table parts.

Thin shim over `pgx.scatter.call_chunk_job`.
"""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging
from pathlib import Path

try:
    import pgx  # noqa: F401
except ImportError:  # --use-conda: the env has pgx's dependencies; pgx is this checkout
    sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from pgx.kb import load_kb
from pgx.scatter import call_chunk_job

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

params = snakemake.params
call_chunk_job(
    Path(snakemake.input.work),
    int(snakemake.wildcards.chunk),
    Path(snakemake.output.part),
    kb=load_kb(params.kb) if params.kb else load_kb(),
)
