"""The scaffold's user-facing settings: styles, sources, the fact-check tolerance, the report's file name.

Kept apart so the CLI (loaded at every `geobench` start) can name them without importing the writer.
"""

from __future__ import annotations

STYLES = ("short", "tiles", "full")
SOURCES = ("template", "teacher")
DEFAULT_TOLERANCE_KM = 25.0  # a stated point farther than this from the truth contradicts it (acc@25km)
REPORT_FILE = "scaffold_report.json"
