"""MkDocs hook: the gradient atlas as formula and code side by side, and its one-page sheet.

Each atlas page has a table with one row per op (``functional | primitive | forward | VJP
returned by backward | second order``) and a ``::: scratchgan.ops.<module>.<Name>`` entry per
op, rendered by mkdocstrings with its source folded away in a ``<details>`` bar. This hook:

* on every atlas page, rewrites each entry into two columns: on the left the op's forward,
  VJP and second-order note (the cells of its table row, already typeset by the page) above
  its docstring; on the right its source, open, with the file and line numbers as caption.
  ``docs/stylesheets/extra.css`` lays the two out side by side on wide windows. A
  primitive's entry drops the signature it inherits from ``Function`` (``Name(**params)``):
  it is called as ``Name.apply(...)``, with the arguments of the ``forward`` shown beside;
* on ``atlas/sheet.md``, replaces the marker ``<!-- atlas-sheet -->`` with one table per
  atlas page listing every primitive (``Function`` subclass) rendered there, with its
  forward and VJP from the page's table, each linked to its entry.

The tables are the one source of the formulas: the sheet reads them from the Markdown, the
entries from the page's own rendered HTML (so their links and math are the page's).
"""

import html
import importlib
import inspect
import re

from mkdocs.exceptions import PluginError

SHEET = "atlas/sheet.md"
SHEET_MARKER = "<!-- atlas-sheet -->"
FORMULA_COLUMNS = {"forward": "forward", "vjp": "VJP", "second": "second order"}
DIRECTIVE = re.compile(r"^::: (\S+)\s*$", re.M)
NAME_IN_CODE = re.compile(r"`([A-Za-z_]\w*)`")

# the atlas pages in nav order: (src_uri, title, Markdown source); filled by on_nav
_atlas_pages = []


def is_atlas_entry_page(src_uri):
    return src_uri.startswith("atlas/") and src_uri not in ("atlas/index.md", SHEET)


def column_of(header):
    """Which column a table header names: 'functional', 'primitive', 'forward', 'vjp', 'second'."""
    header = header.lower()
    for key in ("functional", "primitive", "forward", "vjp", "second"):
        if header.startswith(key) or (key == "vjp" and "vjp" in header):
            return key
    return None


# -- the tables, from the Markdown source (for the sheet) -------------------------------------
def markdown_cells(row):
    """The cells of a Markdown table row; a | inside `code` does not split."""
    cells, current, in_code = [], "", False
    for char in row.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    return cells + [current.strip()]


def markdown_rows(source):
    """Every row of the page's op tables, as a dict column -> Markdown cell."""
    rows, columns = [], None
    for line in source.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = markdown_cells(line)
        if columns is None:
            columns = [column_of(cell) for cell in cells]
            if "primitive" not in columns or "vjp" not in columns:
                columns = []  # not an op table: skip its rows
        elif columns and not set(line) <= set("|-: "):
            rows.append({key: cell for key, cell in zip(columns, cells) if key})
    return rows


def row_for(name, rows, code_names):
    """The row whose primitive cell names ``name``, else the one whose functional cell does."""
    for column in ("primitive", "functional"):
        for row in rows:
            if name in code_names(row.get(column, "")):
                return row
    return None


def is_primitive(path):
    """Whether ``path`` (module.Name) is a ``Function`` subclass: an autodiff primitive."""
    from scratchgan.autograd.function import Function

    module_name, _, name = path.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise PluginError(f"atlas: cannot import {path} named by a '::: {path}' entry: {error}") from error
    return inspect.isclass(value) and issubclass(value, Function)


def on_nav(nav, config, files):
    _atlas_pages.clear()
    for page in nav.pages:
        if is_atlas_entry_page(page.file.src_uri):
            with open(page.file.abs_src_path, encoding="utf-8") as source:
                _atlas_pages.append((page.file.src_uri, page.title, source.read()))
    return nav


def sheet_markdown():
    """One table per atlas page: every primitive, its forward and VJP, linked to its entry."""
    parts = []
    for src_uri, title, source in _atlas_pages:
        page_file = src_uri.removeprefix("atlas/")
        rows = markdown_rows(source)
        lines = []
        for path in DIRECTIVE.findall(source):
            if not is_primitive(path):
                continue
            name = path.rpartition(".")[2]
            row = row_for(name, rows, NAME_IN_CODE.findall)
            if row is None:
                raise PluginError(f"atlas: {src_uri} renders the primitive {name} but no row of its table "
                                  f"names `{name}` in the primitive or functional column")
            lines.append(f"| [`{name}`]({page_file}#{path}) | {row.get('forward', '')} | {row.get('vjp', '')} |")
        if lines:
            parts += [f"## [{title}]({page_file})", "", "| primitive | forward | VJP returned by `backward` |",
                      "| --- | --- | --- |", *lines, ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != SHEET:
        return markdown
    if SHEET_MARKER not in markdown:
        raise PluginError(f"atlas: {SHEET} has no {SHEET_MARKER} marker where the sheet goes")
    return markdown.replace(SHEET_MARKER, sheet_markdown())


# -- the entries, in the rendered HTML of an atlas page -------------------------------------------
HTML_TABLE = re.compile(r"<table>(.*?)</table>", re.S)
HTML_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
HTML_CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
HTML_CODE_NAME = re.compile(r"<code>([A-Za-z_]\w*)</code>")
TAGS = re.compile(r"<[^>]+>")
DOC_HEADING = re.compile(r'<h(\d) id="([^"]+)" class="doc doc-heading">')
CONTENTS = re.compile(r'(<div class="doc doc-contents first">)(.*?)<details class="mkdocstrings-source">\s*'
                      r"<summary>(.*?)</summary>\s*(.*?)\s*</details>", re.S)
LINE_NUMBER = re.compile(r'<span class="normal">(\d+)</span>')
CODE_CELL = re.compile(r'<td class="code"><div>(<pre>.*?</pre>)</div></td>', re.S)
PRE_BODY = re.compile(r"(<pre><span></span><code>)(.*)(</code></pre>)", re.S)
SIGNATURE = re.compile(r'<div class="doc-signature highlight">.*?</div>', re.S)


def html_rows(page_html):
    """Every row of the page's rendered op tables, as a dict column -> cell HTML."""
    rows = []
    for table in HTML_TABLE.findall(page_html):
        table_rows = HTML_ROW.findall(table)
        if not table_rows:
            continue
        columns = [column_of(TAGS.sub("", cell).strip()) for cell in HTML_CELL.findall(table_rows[0])]
        if "primitive" in columns and "vjp" in columns:
            rows += [{key: cell for key, cell in zip(columns, HTML_CELL.findall(row)) if key}
                     for row in table_rows[1:]]
    return rows


def formulas_html(row):
    items = "".join(f'<dt>{label}</dt><dd>{row[key]}</dd>' for key, label in FORMULA_COLUMNS.items()
                    if row.get(key, "").strip())
    return f'<dl class="atlas-formulas">{items}</dl>'


def hanging_lines(pre):
    """Each line of a highlighted listing in its own block, whose wrapped part is indented
    under the line's own indentation plus four, as a reader of Python expects. Pygments
    closes its spans at each line's end, so a line is balanced HTML."""
    parts = PRE_BODY.match(pre)
    if parts is None:  # not Pygments' layout: left as it is (its lines wrap at the margin)
        return pre
    opening, body, closing = parts.groups()
    lines = []
    for line in body.split("\n"):
        text = html.unescape(TAGS.sub("", line))
        indent = len(text) - len(text.lstrip(" ")) + 4
        lines.append(f'<span class="atlas-line" style="--hang: {indent}ch">{line or " "}\n</span>')
    if lines and body.endswith("\n"):
        lines.pop()  # the newline that ends the last line
    return opening + "".join(lines) + closing


def source_html(summary, highlighted):
    """The source listing, open: its lines wrap, so the line numbers go into the caption."""
    numbers = LINE_NUMBER.findall(highlighted)
    code = CODE_CELL.search(highlighted)
    where = TAGS.sub("", summary).removeprefix("Source code in").strip()
    if numbers and code:
        caption = f"<code>{html.escape(where)}</code>, lines {numbers[0]}&ndash;{numbers[-1]}"
        highlighted = f'<div class="highlight">{hanging_lines(code.group(1))}</div>'
    else:  # a listing without a line-number table: shown as mkdocstrings rendered it
        caption = f"<code>{html.escape(where)}</code>"
    return f'<div class="atlas-entry__source"><p class="atlas-entry__caption">{caption}</p>{highlighted}</div>'


def side_by_side(entry_html, row):
    """One mkdocstrings entry with formulas and docstring on the left, its source on the right."""
    def rewrite(match):
        opening, docstring, summary, highlighted = match.groups()
        formulas = formulas_html(row) if row else ""
        return (f'{opening}<div class="atlas-entry"><div class="atlas-entry__text">{formulas}{docstring}</div>'
                f"{source_html(summary, highlighted)}</div>")

    return CONTENTS.sub(rewrite, entry_html, count=1)


def on_page_content(page_html, page, config, files):
    if not is_atlas_entry_page(page.file.src_uri):
        return page_html
    rows = html_rows(page_html)
    headings = list(DOC_HEADING.finditer(page_html))
    if not headings:
        return page_html
    pieces = [page_html[:headings[0].start()]]
    for heading, following in zip(headings, headings[1:] + [None]):
        entry = page_html[heading.start():following.start() if following else len(page_html)]
        path = heading.group(2)
        if is_primitive(path):  # not Function's `Name(**params)`: a primitive is called as Name.apply(...)
            entry = SIGNATURE.sub("", entry, count=1)
        name = path.rpartition(".")[2]
        pieces.append(side_by_side(entry, row_for(name, rows, HTML_CODE_NAME.findall)))
    return "".join(pieces)
