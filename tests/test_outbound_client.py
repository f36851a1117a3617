"""Every provider call goes through aihelper/llm: no other module of the app talks HTTP itself."""

from __future__ import annotations

import ast
from pathlib import Path

APP_PACKAGE = Path(__file__).resolve().parent.parent / "aihelper"
HTTP_LIBRARIES = {"requests", "urllib3", "httpx", "aiohttp", "http.client", "urllib.request"}


def imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_llm_package_imports_an_http_client():
    offenders = {}
    for source in APP_PACKAGE.rglob("*.py"):
        if APP_PACKAGE / "llm" in source.parents:
            continue
        used = {
            name
            for name in imported_modules(source)
            if any(name == lib or name.startswith(lib + ".") for lib in HTTP_LIBRARIES)
        }
        if used:
            offenders[str(source.relative_to(APP_PACKAGE))] = used
    assert offenders == {}


def test_the_llm_package_does_import_urllib3():
    # Guards the test above against passing because it looked at nothing.
    assert any("urllib3" in imported_modules(p) for p in (APP_PACKAGE / "llm").rglob("*.py"))
