"""The project's own YAML script form (see :mod:`coordinator.scripts`): every problem named by
its line, from the YAML node tree rather than the loaded values."""

from __future__ import annotations

import yaml

from coordinator.config import LANGUAGE_RE
from coordinator.scripts.caps import refuse_yaml_aliases
from coordinator.scripts.model import BLANK, Script, ScriptError
from coordinator.scripts.problems import Problems
from coordinator.scripts.rows import Row, build_script


def parse_yaml(text: str, source: str) -> Script:
    """A script in the project's YAML form (see the module docstring)."""
    text = text.removeprefix("\ufeff")
    refuse_yaml_aliases(text, source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ScriptError([_yaml_problem(exc, source)]) from None
    if not isinstance(root, yaml.MappingNode):
        raise ScriptError(
            [f"{source}:1: expected a mapping with 'cues' (and optionally 'languages')"]
        )
    problems = Problems(source)
    top = _yaml_mapping(root, problems)
    for key, (line, _) in top.items():
        if key not in ("cues", "languages"):
            problems.add(line, f"unknown field {key!r} (expected cues, languages)")
    languages = _yaml_languages(top["languages"][1], problems) if "languages" in top else None
    cues_line, cues = top.get("cues", (1, None))
    if not isinstance(cues, yaml.SequenceNode):
        problems.fail(cues_line, "'cues' must be a list of cues")
    rows = [_yaml_row(item, problems) for item in cues.value]

    if languages is None:
        languages = list(dict.fromkeys(lang for row in rows for lang in row.texts))
        if rows and not languages:
            problems.add(rows[0].line, "the cues have no text in any language")
    for row in rows:
        for lang in row.texts:
            if lang not in languages:
                problems.add(
                    row.lines[lang],
                    f"language {lang!r} is not in languages [{', '.join(languages)}]",
                )
    return build_script(rows, languages, problems)


def _yaml_row(item: yaml.Node, problems: Problems) -> Row:
    row = Row(line=_line(item))
    if not isinstance(item, yaml.MappingNode):
        problems.add(row.line, "a cue must be a mapping such as {en: ..., fr: ...}")
        row.broken = True
        return row
    for key, (line, node) in _yaml_mapping(item, problems).items():
        if key == "n":
            if _is_scalar(node, "str", "int"):
                row.label = str(node.value).strip()
            else:
                problems.add(line, "'n' must be a cue number or label")
        elif key == "notes":
            if _is_scalar(node, "str"):
                row.notes = str(node.value).strip()
            elif not _is_scalar(node, "null"):
                problems.add(line, "'notes' must be text; put it in quotes")
        elif LANGUAGE_RE.fullmatch(key):
            row.lines[key] = line
            if _is_scalar(node, "str"):
                row.texts[key] = str(node.value)
            elif _is_scalar(node, "null"):
                row.texts[key] = None
            else:
                problems.add(line, f"{key!r} must be text; put it in quotes")
                row.texts[key] = BLANK  # reported already, not as an empty cue as well
        else:
            problems.add(
                line,
                f"unknown field {key!r} in a cue (expected n, notes or a language code "
                "such as en or fr)",
            )
    return row


def _yaml_problem(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or "invalid YAML"
    hint = ""
    if "sequence entries are not allowed" in str(problem):
        hint = ' (a blank cue is written "-", in quotes)'
    return f"{source}{line}: not valid YAML: {problem}{hint}"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _is_scalar(node: yaml.Node, *kinds: str) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag in {
        f"tag:yaml.org,2002:{kind}" for kind in kinds
    }


def _yaml_mapping(node: yaml.MappingNode, problems: Problems) -> dict[str, tuple[int, yaml.Node]]:
    """Keys to (line, value node); duplicate and non-text keys are reported."""
    fields: dict[str, tuple[int, yaml.Node]] = {}
    for key_node, value_node in node.value:
        line = _line(key_node)
        if not isinstance(key_node, yaml.ScalarNode):
            problems.add(line, "a field name must be text")
        elif str(key_node.value) in fields:
            problems.add(line, f"field {key_node.value!r} appears twice")
        else:
            fields[str(key_node.value)] = (line, value_node)
    return fields


def _yaml_languages(node: yaml.Node, problems: Problems) -> list[str] | None:
    items = node.value if isinstance(node, yaml.SequenceNode) else None
    if (
        not items
        or not all(_is_scalar(item, "str") for item in items)
        or not all(LANGUAGE_RE.fullmatch(str(item.value)) for item in items)
        or len({item.value for item in items}) != len(items)
    ):
        problems.add(
            _line(node), "languages must be a list of distinct language codes, e.g. [en, fr]"
        )
        return None
    return [str(item.value) for item in items]
