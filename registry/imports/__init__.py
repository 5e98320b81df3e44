"""Batch import of listings from CSV and Excel (docs/INTERFACES.md).

parse → validate → apply: :mod:`.parse` reads the file, :mod:`.validate` checks every row
before anything is written, :mod:`.apply` writes the good rows through the services. The
caller (the CLI, the back-office upload) commits once.
"""

from registry.imports.apply import ImportApplyError, ImportResult, apply_plan, import_actor
from registry.imports.parse import (
    ImportFileError,
    ParsedFile,
    open_path,
    read_bytes,
    read_path,
)
from registry.imports.validate import ImportProblem, Plan, validate

__all__ = [
    "ImportApplyError",
    "ImportFileError",
    "ImportProblem",
    "ImportResult",
    "ParsedFile",
    "Plan",
    "apply_plan",
    "import_actor",
    "open_path",
    "read_bytes",
    "read_path",
    "validate",
]
