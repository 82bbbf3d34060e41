"""A content hash of the package code that a stage runs, for rerun triggers.

The hash covers the stage module and every module of the same package that it imports,
directly or not (found by reading the import statements, without importing anything).
Editing a module therefore changes the hash of exactly the stages that use it.
"""

import ast
import hashlib
from collections.abc import Iterable
from pathlib import Path


def module_file(module: str, source_root: Path) -> Path | None:
    base = source_root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                parent = ".".join(anchor + ([node.module] if node.module else []))
            else:
                parent = node.module or ""
            found.add(parent)
            # `from package import name` may name a submodule.
            found.update(f"{parent}.{alias.name}" for alias in node.names)
    return found


def module_closure(modules: Iterable[str], source_root: Path) -> list[Path]:
    """Files of ``modules``, their parent packages, and everything they import from the package."""
    top = {module.split(".")[0] for module in modules}
    pending, seen, files = list(modules), set(), set()
    while pending:
        module = pending.pop()
        if module in seen or module.split(".")[0] not in top:
            continue
        seen.add(module)
        path = module_file(module, source_root)
        if path is None:
            continue
        files.add(path)
        parts = module.split(".")
        pending.extend(".".join(parts[:depth]) for depth in range(1, len(parts)))
        pending.extend(_imported_modules(path, module))
    return sorted(files)


def code_hash(modules: Iterable[str], source_root: str | Path) -> str:
    """Hash of the files of ``module_closure``, independent of where the source tree lives."""
    source_root = Path(source_root)
    digest = hashlib.sha256()
    for path in module_closure(modules, source_root):
        digest.update(path.relative_to(source_root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
