"""User-facing errors.

A ``PgxError`` is a problem with the user's input or setup, not a bug: its message
names the file, line or sample and says what to do. The CLI prints the message and
exits non-zero without a traceback.
"""


class PgxError(Exception):
    """Base class for errors the user can fix."""

    exit_code = 2


class InputError(PgxError):
    """An input file is unreadable, malformed or inconsistent."""


class VcfError(InputError):
    """A VCF cannot be used (not a VCF, truncated, no GT, wrong build, bad samples)."""


class GenomeBuildError(VcfError):
    """The VCF's REF bases disagree with the knowledge base: probably another genome build."""


class SampleError(InputError):
    """A sample ID is duplicated, unsafe as a file name, or absent."""


class KnowledgeBaseError(PgxError):
    """The knowledge base is missing, inconsistent, or cannot be built from its sources."""


class ConfigError(PgxError):
    """A configuration file or command-line option is invalid."""


class OutsideCallError(InputError):
    """A row of an outside-call file cannot be used (bad gene, diplotype or phenotype)."""


class OutputError(PgxError):
    """An output cannot be written (disk full, read-only or not permitted folder)."""


class IncompleteRunError(InputError):
    """A results folder does not hold one complete run (killed or failed, or mixed)."""
