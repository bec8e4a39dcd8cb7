"""reStructuredText's structure written as Markdown's, before a text file's lines lose their
indentation: its underlined headings become `#` headings and its literal blocks fenced code.

    >>> print(as_markdown("Usage\\n=====\\n\\nRun it::\\n\\n    $ tqdm --help\\n\\nDone."))
    # Usage
    <BLANKLINE>
    Run it:
    <BLANKLINE>
    ```
    $ tqdm --help
    ```
    <BLANKLINE>
    Done.

Many Python packages describe themselves in reST (the long description in a wheel's METADATA,
a README.rst). Whitespace cleaning strips every line, after which a code block reads as prose
("for i in trange(4):") and a comment in it as a Markdown heading ("# Register ..."), and a
heading is a short line of text over "~~~~", which also reads as a code fence. Setext Markdown
headings ("Title" over "-----") are the same shape and become `#` headings too.
"""

from __future__ import annotations

import re

from ingest.core.text import CODE_FENCES, display_columns

# One mark repeated: under a line of text at least as wide as it, that line is a heading.
_ADORNMENT = re.compile(r"^([=\-~^*+#\"'.:_])\1{2,}\s*$")
# The directives whose body is code; any other (".. note::", ".. image::") holds prose.
_CODE_DIRECTIVE = re.compile(r"^\s*\.\. (?:code|code-block|sourcecode)::\s*(\S*)\s*$")


def as_markdown(text: str) -> str:
    """`text` with reST headings as `#` headings (levels in order of first appearance, as reST
    assigns them) and literal blocks ("Example::", ".. code:: python") as fenced code."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    levels: list[str] = []
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(CODE_FENCES):
            fenced = not fenced
        if fenced:
            out.append(line)
            i += 1
            continue
        if _is_underlined(line, lines[i + 1] if i + 1 < len(lines) else ""):
            mark = lines[i + 1].strip()[0]
            if out and out[-1].strip() and _ADORNMENT.match(out[-1]) \
                    and out[-1].strip()[0] == mark:
                out.pop()  # its overline
            if mark not in levels:
                levels.append(mark)
            out.append("#" * min(levels.index(mark) + 1, 6) + " " + line.strip())
            i += 2
            continue
        block = _literal_block(lines, i)
        if block is None:
            out.append(line)
            i += 1
            continue
        lead, language, end = block
        if lead:
            out += [lead, ""]
        out += ["```" + language, *_dedented(lines[i + 1:end]), "```"]
        i = end
    return "\n".join(out)


def _is_underlined(line: str, below: str) -> bool:
    text = line.strip()
    return bool(text) and not line[:1].isspace() and not _ADORNMENT.match(line) \
        and not text.startswith(CODE_FENCES) and bool(_ADORNMENT.match(below)) \
        and len(below.strip()) >= display_columns(text)


def _literal_block(lines: list[str], at: int) -> tuple[str, str, int] | None:
    """For a line that opens a literal block: what stays of the line ("Run it:", or nothing
    for "::" and a code directive), the block's language, and the index after its last line;
    None when the line opens none (no indented line follows it)."""
    line = lines[at]
    directive = _CODE_DIRECTIVE.match(line)
    if directive is None and (not line.rstrip().endswith("::")
                              or line.lstrip().startswith(".. ")):
        return None  # no block, or another directive's (".. note::" holds prose)
    indent = len(line) - len(line.lstrip())
    end, seen = at + 1, False
    while end < len(lines):
        following = lines[end]
        if following.strip():
            if len(following) - len(following.lstrip()) <= indent:
                break
            seen = True
        end += 1
    if not seen:
        return None
    while not lines[end - 1].strip():
        end -= 1
    if directive is not None:
        return "", directive.group(1), end
    lead = line.rstrip()[:-1]  # "Run it::" reads "Run it:"; a lone "::" leaves nothing
    return ("" if lead.strip() == ":" else lead), "", end


def _dedented(block: list[str]) -> list[str]:
    """The block's lines less its common indentation; a directive's options (":linenos:")
    and the blank line after them left out."""
    while block and (not block[0].strip() or block[0].strip().startswith(":")):
        block = block[1:]
    width = min((len(x) - len(x.lstrip()) for x in block if x.strip()), default=0)
    return [x[width:] for x in block]
