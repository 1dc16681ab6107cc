"""Tables and field lists on the terminal, wrapped to its width instead of cut or padded without end.

A terminal gets a rich table whose long cells fold onto more lines; a pipe or a log gets plain aligned text
wrapped to $COLUMNS (default 120), so no row is padded to the longest path and no path or URL is cut.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
import textwrap

import click

GAP = "  "
MIN_COLUMN = 12  # a column never wraps narrower than this (or its header)
SHORT = 24  # a column no wider than this never wraps (a status, a version, a name): the long ones give way


def width() -> int:
    """The terminal's width; $COLUMNS or 120 when stdout is a pipe or a file."""
    return max(40, shutil.get_terminal_size((120, 24)).columns)


def cell(v) -> str:
    """A table cell: floats with 4 decimals (1 above 1000), NaN and None empty."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)


class _Wrapper(textwrap.TextWrapper):
    """Breaks at spaces, and after the slashes of a path or URL, before it breaks inside a word."""

    wordsep_simple_re = re.compile(r"(\s+|(?<=/)(?=[^/\s]))")


def wrap(text: str, size: int) -> list[str]:
    """`text` in lines of at most `size` characters: at spaces or after a path's slashes where it can, inside
    a long word where it must; nothing is dropped."""
    wrapper = _Wrapper(size, break_long_words=True, break_on_hyphens=False)
    out: list[str] = []
    for para in text.split("\n"):
        out += wrapper.wrap(para) or [""]
    return out


def fit(widths: list[int], headers: list[str], room: int) -> list[int]:
    """Column widths that fit `room` (gaps included): short columns (up to SHORT) keep their width, the long
    ones share what is left, none narrower than its header or MIN_COLUMN. A table that cannot fit keeps those
    minimums (the terminal wraps it)."""
    floor = [w if w <= SHORT else max(len(h), MIN_COLUMN) for w, h in zip(widths, headers, strict=True)]
    room -= len(GAP) * (len(widths) - 1)
    if sum(widths) <= room:
        return list(widths)
    lo, hi = 0, max(widths)  # the largest cap c with sum(max(floor, min(w, c))) <= room
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(max(f, min(w, mid)) for w, f in zip(widths, floor, strict=True)) <= room:
            lo = mid
        else:
            hi = mid - 1
    return [max(f, min(w, lo)) for w, f in zip(widths, floor, strict=True)]


def table_lines(rows: list[dict], columns: list[str], room: int | None = None) -> list[str]:
    """Plain aligned text: a header and one or more lines per row, no trailing spaces."""
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    natural = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    sizes = fit(natural, columns, room or width())
    lines = [GAP.join(c.ljust(w) for c, w in zip(columns, sizes, strict=True)).rstrip()]
    for row in cells:
        wrapped = [wrap(v, w) for v, w in zip(row, sizes, strict=True)]
        for k in range(max(len(x) for x in wrapped)):
            lines.append(GAP.join((x[k] if k < len(x) else "").ljust(w)
                                  for x, w in zip(wrapped, sizes, strict=True)).rstrip())
    return lines


def print_table(rows: list[dict], columns: list[str], title: str | None = None) -> None:
    """A table on stdout: rich when stdout is a terminal (long cells fold), plain wrapped text otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for c in columns:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*[cell(r.get(c)) for c in columns])
        Console().print(table)
        return
    if title:
        click.echo(title)
    for line in table_lines(rows, columns):
        click.echo(line)


def print_fields(fields: list[tuple[str, str]], room: int | None = None) -> None:
    """`name: value` lines with the values aligned and wrapped under themselves; a value with newlines keeps
    them (one file per line)."""
    room = room or width()
    pad = max((len(k) for k, _ in fields), default=0) + 2
    for key, value in fields:
        lines = wrap(str(value), max(20, room - pad))
        click.echo(f"{key + ':':<{pad}}{lines[0]}".rstrip())
        for line in lines[1:]:
            click.echo((" " * pad + line).rstrip())
