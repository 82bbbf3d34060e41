"""Self-contained HTML pages: the style is inline and pictures are data URIs.

The report shows each page in an iframe from a data URI, so a page can load nothing else.
"""

import base64
import io
from collections.abc import Mapping
from html import escape

import pandas as pd
from PIL import Image

STYLE = """
body { font-family: system-ui, sans-serif; margin: 16px; color: #1e293b; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 24px; } h3 { font-size: 15px; margin: 12px 0 4px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
th, td { border-bottom: 1px solid #cbd5e1; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f1f5f9; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #475569; font-size: 13px; max-width: 60em; }
img.thumbnail { float: left; margin: 0 16px 8px 0; border: 1px solid #cbd5e1; }
section { clear: both; padding-top: 4px; }
"""


def page(title: str, body: str) -> str:
    """A whole HTML document; ``body`` is HTML already, ``title`` is text."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body><h1>{escape(title)}</h1>\n{body}\n</body></html>\n")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(frame: pd.DataFrame, formats: Mapping[str, str] | None = None) -> str:
    """An HTML table of ``frame``; ``formats`` maps a column to a format string, and numbers align right.

    Missing values show as a dash.
    """
    formats = formats or {}
    head = "".join(f"<th>{escape(str(column))}</th>" for column in frame.columns)
    rows = []
    for values in frame.astype(object).itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, values):
            if pd.isna(value):
                cells.append('<td class="number">–</td>')
            else:
                text = escape(formats.get(column, "{}").format(value))
                cells.append(f'<td class="number">{text}</td>' if _is_number(value) else f"<td>{text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def thumbnail_uri(image: Image.Image, size: int) -> str:
    """A JPEG data URI of ``image`` shrunk to fit a ``size`` x ``size`` box."""
    small = image.convert("RGB")
    small.thumbnail((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
