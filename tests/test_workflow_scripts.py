"""The workflow scripts (workflow/scripts/*.py): their shared start, and their names.

Snakemake appends the scripts' folder to ``sys.path`` of every script it runs, so a
script named like a package pgx imports (``fhir.py`` vs fhir.resources' ``fhir``) is
imported in its place whenever that package is missing, and the error names the wrong
thing. The tests here pin what the scripts must do, by reading them, and what the helper
they share does, by running it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))
#: top-level import names -> the installed distributions that provide them
TOP_LEVEL_NAMES = importlib.metadata.packages_distributions()


def test_there_are_workflow_scripts():
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_name_shadows_no_module(script):
    """No script is named like a standard-library module or a top-level package of any
    installed distribution (pgx's dependencies among them), nor like anything importable."""
    name = script.stem
    assert name not in sys.stdlib_module_names
    assert name not in TOP_LEVEL_NAMES, f"{script.name} shadows the package of {TOP_LEVEL_NAMES[name]}"
    assert importlib.util.find_spec(name) is None


def _calls_and_imports(script: Path) -> list[tuple[int, str]]:
    """(line, what) of the script's top-level pgx imports and calls of log_to_rule_log."""
    events = []
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pgx":
            events.append((node.lineno, f"import {node.module}"))
        elif isinstance(node, ast.Try):  # the --use-conda fallback around the helper's import
            events.extend((n.lineno, f"import {n.module}") for n in ast.walk(node) if isinstance(n, ast.ImportFrom) and n.module)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id == "log_to_rule_log":
                events.append((node.lineno, "log_to_rule_log"))
    return sorted(events)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_logs_to_the_rule_log_before_importing_a_stage(script):
    """The shared start runs before any stage of pgx is imported, so that an import error
    (a missing dependency) is written to the rule's log, where the user is pointed."""
    events = _calls_and_imports(script)
    whats = [what for _, what in events]
    assert "log_to_rule_log" in whats, f"{script.name} does not call pgx.workflow_script.log_to_rule_log"
    before = whats[: whats.index("log_to_rule_log")]
    assert before and set(before) == {"import pgx.workflow_script"}, before
    assert "sys.stderr" not in script.read_text(), "the helper redirects stderr; the script must not"


def test_log_to_rule_log_sends_errors_warnings_and_logging_to_the_log(tmp_path):
    """Run in a child process like a workflow script: its stderr stays empty, and the log
    holds the logging record, the warning and the traceback of the error that ends it."""
    log = tmp_path / "logs" / "rule.log"
    log.parent.mkdir()
    code = textwrap.dedent(
        f"""
        import logging, types, warnings
        from pgx.workflow_script import log_to_rule_log

        snakemake = types.SimpleNamespace(log=[{str(log)!r}])
        log_to_rule_log(snakemake)
        logging.getLogger("pgx.test").info("one record from sample chunk 3")
        warnings.warn("a warning about the input")
        raise SystemExit("pgx: error: the input is bad")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == ""
    text = log.read_text(encoding="utf-8")
    assert "INFO pgx.test: one record from sample chunk 3" in text
    assert "a warning about the input" in text
    assert text.rstrip().endswith("pgx: error: the input is bad")
