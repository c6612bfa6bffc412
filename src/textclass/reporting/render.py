"""The report as blocks, and the blocks as Markdown or as one self-contained HTML page.

A block is ("h1"|"h2"|"h3"|"p", text), ("list", items), ("table", headers, rows) or
("fig", name); text may use two Markdown inline forms, **bold** and `code`.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from textclass.reporting import sections
from textclass.reporting.format import Block


def report_blocks(report: dict[str, Any]) -> list[Block]:
    """The common sections, then the task's results and test errors, then the closing ones."""
    task = sections.of_task(report["task"])
    b: list[Block] = []
    for section in sections.common(sections.BEFORE):
        b += section.blocks(report)
    b.append(("h2", "Results"))
    for section in task:
        b += section.blocks(report)
    b.append(("h2", "Error analysis (test)"))
    for section in task:
        b += section.error_blocks(report)
    for section in sections.common(sections.AFTER):
        b += section.blocks(report)
    return b


def render_markdown(blocks: list[Block], figure_dir: str, captions: dict[str, str]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "list":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table" and block[2]:
            lines += _markdown_table(block[1], block[2])
        elif kind == "fig" and block[1] in captions:
            lines += [f"![{captions[block[1]]}]({figure_dir}/{block[1]}.png)", ""]
    return "\n".join(lines)


def _markdown_table(headers: list[Any], rows: list[list[Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return [*lines, ""]


def _inline(text: str) -> str:
    """Escape, then the two Markdown inline forms the blocks use: **bold** and `code`."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _html_block(block: Block, figures: dict[str, tuple[bytes, str]]) -> str | None:
    kind = block[0]
    if kind in ("h1", "h2", "h3"):
        return f"<{kind}>{_inline(block[1])}</{kind}>"
    if kind == "p":
        return f"<p>{_inline(block[1])}</p>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>"
    if kind == "table" and block[2]:
        head = "".join(f"<th>{_inline(str(h))}</th>" for h in block[1])
        body = "".join(
            "<tr>" + "".join(f"<td>{_inline(str(v))}</td>" for v in row) + "</tr>"
            for row in block[2]
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if kind == "fig" and block[1] in figures:
        png, caption = figures[block[1]]
        data = base64.b64encode(png).decode("ascii")
        alt = html.escape(caption)
        img = f'<img alt="{alt}" src="data:image/png;base64,{data}">'
        return f"<figure>{img}<figcaption>{alt}</figcaption></figure>"
    return None


STYLE = """
body { font: 14px/1.5 system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } code { background: #f3f3f3; padding: 0 3px; }
img { max-width: 100%; } figcaption { color: #666; font-size: 12px; }
h2 { border-bottom: 1px solid #ddd; margin-top: 1.6em; }
"""


def render_html(blocks: list[Block], figures: dict[str, tuple[bytes, str]]) -> str:
    parts = [p for p in (_html_block(b, figures) for b in blocks) if p is not None]
    title = html.escape(blocks[0][1]) if blocks else "report"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{STYLE}</style></head><body>
{chr(10).join(parts)}
</body></html>
"""


def write_rendered(
    directory: Path, blocks: list[Block], drawn: dict[str, tuple[bytes, str]], names: dict[str, str]
) -> dict[str, Path]:
    """Blocks and figures written into `directory`: the PNGs into report_files/, Markdown
    (linking them) and one self-contained HTML page under `names["md"]` and `names["html"]`."""
    from textclass.workflows.rundir import FIGURES

    fig_dir = directory / FIGURES
    fig_dir.mkdir(exist_ok=True)
    for name, (png, _) in drawn.items():
        (fig_dir / f"{name}.png").write_bytes(png)
    captions = {name: caption for name, (_, caption) in drawn.items()}
    paths = {kind: directory / names[kind] for kind in ("md", "html")}
    paths["md"].write_text(render_markdown(blocks, FIGURES, captions), encoding="utf-8")
    paths["html"].write_text(render_html(blocks, drawn), encoding="utf-8")
    return paths
