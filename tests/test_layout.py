"""The core stays platform-neutral; adapters stay free of LangGraph."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_core_never_imports_a_platform_library() -> None:
    for path, names in imported_modules("bot").items():
        assert not names & {"slack_bolt", "slack_sdk", "discord"}, path


def test_adapters_never_import_langgraph() -> None:
    for path, names in imported_modules("adapters").items():
        assert not names & {"langgraph", "langchain_core", "langchain_openai"}, path


def test_no_module_in_the_product_is_over_300_lines() -> None:
    for folder in ("bot", "adapters"):
        for path in (ROOT / folder).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            assert lines <= 300, f"{path.relative_to(ROOT)} has {lines} lines; split it by job"


def test_adapters_reach_memories_only_through_the_command_core() -> None:
    # What /memories and /forget do is decided once, in bot.commands; an adapter renders it.
    for path in (ROOT / "adapters").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            assert name not in {"memories", "memory"}, f"{path.relative_to(ROOT)} uses memories.{node.attr}"


def test_each_platform_is_a_package() -> None:
    for platform in ("slack", "discord"):
        package = ROOT / "adapters" / platform
        assert (package / "__init__.py").is_file(), platform
        assert not (ROOT / "adapters" / f"{platform}_adapter.py").exists(), platform


def test_only_the_resolver_turns_an_identity_into_a_facts_namespace() -> None:
    # A linked person's identities share one namespace, and a shared thread must not reach
    # private facts: both hold only if every read and write goes through People.resolve.
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "memories_namespace":
                assert path.name == "people.py", f"{path.relative_to(ROOT)} builds a facts namespace itself"
            if isinstance(node, ast.Constant) and node.value == "memories" and path.name != "facts.py":
                assert path.name in {"cli.py", "core.py"}, f"{path.relative_to(ROOT)} spells the namespace"


def test_every_data_file_the_bot_reads_is_in_git() -> None:
    # A fresh clone (CI, a deployment) has only what git tracks: an ignore rule once hid a table.
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    shipped = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "bot" / "data").glob("*.tsv.gz"))
    tracked = subprocess.run(
        ["git", "ls-files", "bot/data"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert shipped and set(shipped) <= set(tracked), set(shipped) - set(tracked)
