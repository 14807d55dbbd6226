"""What a script may hold at most, checked as it is read (``cues check``, uploads, the config):
refusals name FILE:LINE like every other problem.

- YAML anchors and aliases are refused outright: a 214 KB file of nested aliases expanded to
  1.6 GB and froze the server for seconds, again on each restart. A surtitle script has no
  use for them.
- A cue's text is at most :data:`MAX_CUE_CHARS` characters in each language, and its markup
  (``<i>``, ``<b>``, ``<u>``, counted as the pages count it) nests at most
  :data:`MAX_MARKUP_DEPTH` deep: 20,000 nested ``<b>`` crashed the renderer of every screen
  showing the cue.
"""

from __future__ import annotations

import re

import yaml

from coordinator.scripts.model import ScriptError
from coordinator.scripts.problems import Problems

MAX_CUE_CHARS = 16_000
MAX_MARKUP_DEPTH = 8
_TAG_RE = re.compile(r"<(/?)([ibu])>")


def refuse_yaml_aliases(text: str, source: str) -> None:
    """Raise :class:`ScriptError` naming the first anchor or alias, before anything is
    built from the text (scanning tokens expands nothing). Other YAML errors are left to the
    parser, which names them better."""
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
                kind = "an anchor (&)" if isinstance(token, yaml.AnchorToken) else "an alias (*)"
                line = token.start_mark.line + 1
                raise ScriptError(
                    [
                        f"{source}:{line}: {kind}: YAML anchors and aliases are not allowed in a "
                        "script; write each cue out"
                    ]
                )
    except yaml.YAMLError:
        return


def markup_depth(text: str) -> int:
    """How deep ``<i>``/``<b>``/``<u>`` nest, as the pages read them: an unmatched closing
    tag is text, an open tag closes at the end of the cue."""
    stack: list[str] = []
    deepest = 0
    for closing, name in _TAG_RE.findall(text):
        if not closing:
            stack.append(name)
            deepest = max(deepest, len(stack))
        elif name in stack:
            del stack[len(stack) - 1 - stack[::-1].index(name) :]
    return deepest


def check_cue_text(text: str, line: int, problems: Problems, what: str) -> None:
    """Add a problem for a cue text over the length or nesting cap."""
    if len(text) > MAX_CUE_CHARS:
        problems.add(line, f"{what}: {len(text)} characters; a cue holds at most {MAX_CUE_CHARS}")
    depth = markup_depth(text)
    if depth > MAX_MARKUP_DEPTH:
        problems.add(
            line, f"{what}: markup nested {depth} deep; at most {MAX_MARKUP_DEPTH} (<i>, <b>, <u>)"
        )
