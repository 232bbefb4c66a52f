"""MkDocs hook: names in table cells break between their words, never inside one.

Material lets inline code break anywhere, so a narrow column of a wide table split
`leaky_relu` into `leaky_rel` and `u`. ``docs/stylesheets/extra.css`` forbids those breaks
in the name columns (the first two), and this hook puts a ``<wbr>`` (a break opportunity,
no character) after each ``_`` and ``.`` and between the words of a CamelCase name in the
code of Markdown tables, so that `binary_cross_entropy_with_logits` or `BCEWithLogits` can
still wrap, at a joint.
"""

import re

MARKDOWN_TABLE = re.compile(r"<table>.*?</table>", re.S)  # tables with a class are not Markdown's
PLAIN_CODE = re.compile(r"<code>([^<]+)</code>")
# after _ or ., and between the words of a CamelCase name (BCE|With|Logits)
JOINT = re.compile(r"(?<=[_.])(?=[^_.])|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def break_at_joints(table):
    return PLAIN_CODE.sub(lambda code: f"<code>{JOINT.sub('<wbr>', code.group(1))}</code>", table)


def on_page_content(html, page, config, files):
    return MARKDOWN_TABLE.sub(lambda table: break_at_joints(table.group(0)), html)
