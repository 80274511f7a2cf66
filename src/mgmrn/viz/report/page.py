"""The report's HTML: one self-contained page (figures inline as data: URIs, no script)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Sequence

from matplotlib.figure import Figure

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { text-align: center; }
td:first-child, td.text { text-align: left; }
.note { color: #555; font-size: 0.9em; } .warning { color: #a00; }
"""


@dataclass
class Section:
    """One part of the report: a figure (written as ``name``.png and .svg; shown in the page
    unless ``inline`` is false, e.g. when ``html`` holds the same table) with its title and
    caption, HTML shown under it (tables), and extra files written beside (name -> bytes)."""

    name: str
    title: str
    caption: str
    figure: Figure
    html: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    inline: bool = True


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; floats with one decimal, text cells left-aligned."""
    def cell(value: object, tag: str) -> str:
        text = f"{value:.1f}" if isinstance(value, float) else str(value)
        kind = ' class="text"' if isinstance(value, str) and tag == "td" else ""
        return f"<{tag}{kind}>{html.escape(text)}</{tag}>"

    head = "".join(cell(h, "th") for h in header)
    body = "".join("<tr>" + "".join(cell(v, "td") for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(section: Section, png: bytes) -> str:
    parts = [f'<h2 id="{section.name}">{html.escape(section.title)}</h2>',
             f"<p>{html.escape(section.caption)}</p>"]
    if section.inline:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(section.title)}">')
    parts.append(section.html)
    parts.append(f'<p class="note">Files: <a href="{section.name}.png">{section.name}.png</a>, '
                 f'<a href="{section.name}.svg">{section.name}.svg</a></p>')
    return "\n".join(parts)


def page(title: str, intro: str, sections: Sequence[tuple[Section, bytes]]) -> str:
    """The whole page: ``sections`` with their figure's PNG, a table of contents first."""
    contents = "".join(f'<li><a href="#{s.name}">{html.escape(s.title)}</a></li>' for s, _ in sections)
    body = "\n".join(_section(s, png) for s, png in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
            f"<h1>{html.escape(title)}</h1>\n{intro}\n<ul>{contents}</ul>\n{body}\n</body></html>\n")
