"""A SLURM job that cannot be tracked is an error, never a wait without end.

Snakemake's SLURM executor plugin asks ``sacct`` (or ``squeue``) for the state of its jobs.
When that command fails (on a cluster without accounting ``sacct`` answers ``Slurm
accounting storage is disabled``), the plugin (2.x) drops the jobs from its watch list
without failing them; when the answer does not name a job (``squeue`` forgets a job
``MinJobAge`` seconds after it ended), the job stays "running" for ever. Either way the
workflow waits with no end.

:func:`guard_slurm_status` wraps the plugin's status check (the Snakefile calls it; it
does nothing where the plugin is not installed). Every status query's answer is kept; a
job that no successful answer has named for ``PGX_SLURM_UNTRACKED_SECONDS`` (default
:data:`UNTRACKED_SECONDS`) is cancelled with ``scancel`` and reported as failed, with what
the status command said and which profile to use. An answer that says accounting is
disabled fails every job at once. The outputs of a cancelled job are never left looking
complete (every table and PDF folder is written under a temporary name and moved into
place when whole), so the rerun redoes only that job.
"""

from __future__ import annotations

import os
import subprocess
import time

#: seconds a submitted job may go unnamed by every status answer before it is an error
UNTRACKED_SECONDS = 300

#: what ``sacct`` prints on a cluster without an accounting database
NO_ACCOUNTING = "accounting storage is disabled"

PROFILE_ADVICE = {
    "sacct": (
        "This profile asks `sacct`, which needs SLURM accounting (slurmdbd). On a cluster without "
        "accounting use `--profile config/profiles/slurm-noacct` (status from `squeue`)"
    ),
    "squeue": (
        "This profile asks `squeue`, which forgets a job MinJobAge seconds after it ends "
        "(`scontrol show config | grep MinJobAge`); on a cluster with accounting use "
        "`--profile config/profiles/slurm` (status from `sacct`)"
    ),
}


def untracked_limit() -> float:
    """Seconds a job may go unnamed by the status command (``PGX_SLURM_UNTRACKED_SECONDS``)."""
    value = os.environ.get("PGX_SLURM_UNTRACKED_SECONDS", "")
    try:
        return float(value) if value else float(UNTRACKED_SECONDS)
    except ValueError:
        raise ValueError(f"PGX_SLURM_UNTRACKED_SECONDS={value!r} is not a number of seconds") from None


class StatusLog:
    """What the status command answered last: the command, the job states it named (None
    when it failed), and its own words when it named no job."""

    def __init__(self):
        self.command = ""
        self.states: dict[str, str] | None = None
        self.said = ""

    def record(self, command: str, states: dict[str, str] | None, said: str) -> None:
        self.command, self.states, self.said = command, states, said.strip()

    @property
    def tool(self) -> str:
        return (self.command.split() or ["?"])[0]

    def no_accounting(self) -> bool:
        return NO_ACCOUNTING in self.said.lower()


def _said(command: str) -> str:
    """The status command's own words (stdout and stderr), run once more to show them."""
    import shlex

    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return " ".join(f"{done.stdout} {done.stderr}".split())[:500] or f"exit code {done.returncode}, no output"


def untracked_message(job_id: str, rule: str, seconds: float, log: StatusLog) -> str:
    """Why job ``job_id`` is failed: the status command has not named it for ``seconds``."""
    tool = log.tool
    said = f" It answered: {log.said!r}." if log.said else ""
    if log.no_accounting():
        what = f"`{tool}` cannot report any job on this cluster (no accounting)."
    else:
        what = f"`{tool}` has not reported it for {seconds:.0f} s, so its result cannot be told."
    return (
        f"pgx: SLURM job {job_id} (rule {rule}) cannot be tracked and was cancelled: {what}{said} "
        f"{PROFILE_ADVICE.get(tool, '')}. Rerun the same command: finished steps are kept. "
        "(The limit is PGX_SLURM_UNTRACKED_SECONDS, default "
        f"{UNTRACKED_SECONDS} s.) "
    )


def guard_slurm_status() -> bool:
    """Install the guard on the SLURM executor plugin; False when it is not installed."""
    try:
        import snakemake_executor_plugin_slurm as plugin
    except ImportError:
        return False
    executor = plugin.Executor
    if getattr(executor, "_pgx_guarded", False):
        return True
    query = plugin.query_job_status
    check = executor.check_active_jobs

    async def logged_query(command, logger):
        states, duration = await query(command, logger)
        said = ""
        if states is None or not states:
            said = _said(command)
        _log_of(command).record(command, states, said)
        return states, duration

    logs: dict[str, StatusLog] = {}

    def _log_of(command: str) -> StatusLog:
        # one log per workflow run: the run id is the job name the command asks for
        return logs.setdefault(command.split("--name")[-1].strip(), StatusLog())

    async def guarded_check(self, active_jobs):
        log = logs.setdefault(str(self.run_uuid), StatusLog())
        first_seen = self.__dict__.setdefault("_pgx_first_seen", {})
        last_named = self.__dict__.setdefault("_pgx_last_named", {})
        limit = untracked_limit()
        still = [job async for job in check(self, active_jobs)]
        if active_jobs and log.states is None:
            # the query failed: the plugin neither yields nor reports its jobs, it drops them
            still = list(active_jobs)
        for job in still:
            now = time.monotonic()
            job_id = str(job.external_jobid)
            first_seen.setdefault(job_id, now)
            named = log.states is not None and any(k.split("_")[0] == job_id.split("_")[0] for k in log.states)
            if named:
                last_named[job_id] = now
            since = last_named.get(job_id, first_seen[job_id])
            if (not named and log.no_accounting()) or now - since > limit:
                subprocess.run(["scancel", job_id.split("_")[0]], capture_output=True, timeout=60)
                self.report_job_error(job, msg=untracked_message(job_id, job.job.name, now - since, log))
                continue
            yield job

    plugin.query_job_status = logged_query
    executor.check_active_jobs = guarded_check
    executor._pgx_guarded = True
    return True
