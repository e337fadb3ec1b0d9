"""Export and import: an organisation, or part of it, as a JSON Lines file (`format`), written page by page
(`export`) and read back in batches (`importer`), with the shapes the client and server share (`options`).

`memtrace.engine.Engine.export_memories` / `import_memories` are the entry points; docs/lifecycle.md describes
the file field by field.
"""

from .export import ExportPlan, iter_records
from .format import FORMAT_VERSION, MEDIA_TYPE, Counts, ExportReader, LineError, ReadLimits, iter_lines
from .importer import Importer, ImportFailed, Progress, ensure_agent, ensure_session
from .options import ExportOptions, ExportSummary, ImportReport

__all__ = [
    "FORMAT_VERSION",
    "MEDIA_TYPE",
    "Counts",
    "ExportOptions",
    "ExportPlan",
    "ExportReader",
    "ExportSummary",
    "ImportFailed",
    "ImportReport",
    "Importer",
    "LineError",
    "Progress",
    "ReadLimits",
    "ensure_agent",
    "ensure_session",
    "iter_lines",
    "iter_records",
]
