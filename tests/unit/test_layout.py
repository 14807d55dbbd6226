"""The shape docs/architecture.md promises: short functions, modules of one concept, and a
core that imports nothing from the edge."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.harness import ROOT

PACKAGE = ROOT / "coordinator"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600
MAX_CREATE_APP_LINES = 100
# The core's modules (docs/architecture.md): plain functions and dataclasses, no I/O.
CORE = {
    "config", "schedule", "rules", "protocol", "scripts", "cue_state", "channels", "cue_log",
    "plans", "views", "pages", "ical_feed", "drift", "limits", "settings", "caching",
    "connections", "report",
}  # fmt: skip
EDGE = {"state", "realtime", "routes", "service", "app", "cli", "context", "auth", "outbox"}
SERVER_LIBRARIES = {"starlette", "uvicorn", "websockets", "redis", "sqlite3", "asyncio", "socket"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "web" not in p.parts)


def top_name(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "coordinator":
                names |= {f"coordinator.{alias.name}" for alias in node.names}
    return names


def test_no_function_is_long() -> None:
    long = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                limit = MAX_CREATE_APP_LINES if node.name == "create_app" else MAX_FUNCTION_LINES
                if lines > limit:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert not long, long


def test_no_module_is_long() -> None:
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in modules()}
    long = [f"{p.relative_to(ROOT)} ({n})" for p, n in sizes.items() if n > MAX_MODULE_LINES]
    assert not long, long


def test_the_core_imports_nothing_from_the_edge() -> None:
    wrong = []
    for path in modules():
        if top_name(path) not in CORE:
            continue
        for name in imported(ast.parse(path.read_text(encoding="utf-8"))):
            parts = name.split(".")
            if parts[0] in SERVER_LIBRARIES or (
                parts[0] == "coordinator" and len(parts) > 1 and parts[1] in EDGE
            ):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, wrong
