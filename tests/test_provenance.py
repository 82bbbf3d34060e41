"""Code hashes: the import closure of a module, found without importing it."""

import shutil
from pathlib import Path

import pytest

import qaclims
from qaclims.runtime.provenance import code_hash, module_closure, module_file

FILES = {
    "pkg/__init__.py": '"""A fake package."""\n',
    "pkg/a.py": "import os\nfrom pkg import b\n",
    "pkg/b.py": "x = 1\n",
    "pkg/sub/__init__.py": "",
    "pkg/sub/c.py": "from ..b import x\n",
    "pkg/sub/d.py": "import json\nfrom . import c\n",
    "pkg/unrelated.py": "import pkg.b\ny = 2\n",
}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "src"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def closure(modules, root):
    return sorted(path.relative_to(root).as_posix() for path in module_closure(modules, root))


def test_module_file_finds_modules_and_packages(tree):
    assert module_file("pkg.a", tree) == tree / "pkg" / "a.py"
    assert module_file("pkg.sub", tree) == tree / "pkg" / "sub" / "__init__.py"
    assert module_file("pkg.b.x", tree) is None
    assert module_file("os", tree) is None


def test_closure_follows_absolute_imports_and_parent_packages(tree):
    assert closure(["pkg.a"], tree) == ["pkg/__init__.py", "pkg/a.py", "pkg/b.py"]


def test_closure_follows_relative_imports(tree):
    assert closure(["pkg.sub.c"], tree) == ["pkg/__init__.py", "pkg/b.py", "pkg/sub/__init__.py", "pkg/sub/c.py"]
    assert closure(["pkg.sub.d"], tree) == [
        "pkg/__init__.py", "pkg/b.py", "pkg/sub/__init__.py", "pkg/sub/c.py", "pkg/sub/d.py"]


def test_closure_of_several_modules_is_their_union(tree):
    assert closure(["pkg.a", "pkg.sub.c"], tree) == [
        "pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/sub/__init__.py", "pkg/sub/c.py"]
    assert closure(["pkg.b"], tree) == ["pkg/__init__.py", "pkg/b.py"]


def test_code_hash_changes_with_an_imported_file_only(tree):
    before = code_hash(["pkg.a"], tree)
    assert len(before) == 16 and all(c in "0123456789abcdef" for c in before)
    assert code_hash(["pkg.a"], str(tree)) == before

    (tree / "pkg" / "unrelated.py").write_text("y = 3\n")
    (tree / "pkg" / "sub" / "c.py").write_text("from ..b import x\nz = x\n")
    assert code_hash(["pkg.a"], tree) == before

    (tree / "pkg" / "b.py").write_text("x = 2\n")
    changed = code_hash(["pkg.a"], tree)
    assert changed != before
    (tree / "pkg" / "b.py").write_text(FILES["pkg/b.py"])
    assert code_hash(["pkg.a"], tree) == before


def test_code_hash_changes_with_a_parent_package(tree):
    before = code_hash(["pkg.sub.c"], tree)
    (tree / "pkg" / "sub" / "__init__.py").write_text("# edited\n")
    assert code_hash(["pkg.sub.c"], tree) != before


def test_code_hash_through_a_relative_import(tree):
    before = code_hash(["pkg.sub.d"], tree)
    (tree / "pkg" / "b.py").write_text("x = 5\n")
    assert code_hash(["pkg.sub.d"], tree) != before


def test_code_hash_does_not_depend_on_where_the_tree_lives(tree, tmp_path):
    copy = tmp_path / "elsewhere" / "src"
    shutil.copytree(tree, copy)
    for modules in (["pkg.a"], ["pkg.sub.d"]):
        assert code_hash(modules, copy) == code_hash(modules, tree)
    assert code_hash(["pkg.a"], tree) != code_hash(["pkg.sub.c"], tree)


def test_code_hash_covers_file_names_not_only_contents(tree):
    # Two trees with the same bytes under different names hash differently.
    other = tree.parent / "other"
    shutil.copytree(tree, other)
    (other / "pkg" / "b.py").rename(other / "pkg" / "b2.py")
    (other / "pkg" / "a.py").write_text("import os\nfrom pkg import b2\n")
    assert closure(["pkg.a"], other) == ["pkg/__init__.py", "pkg/a.py", "pkg/b2.py"]
    assert code_hash(["pkg.a"], other) != code_hash(["pkg.a"], tree)


def test_dataset_report_closure_in_the_real_package():
    source_root = Path(qaclims.__file__).resolve().parent.parent
    files = closure(["qaclims.stages.dataset_report"], source_root)
    for expected in ("qaclims/__init__.py", "qaclims/stages/__init__.py", "qaclims/stages/dataset_report.py",
                     "qaclims/evaluation/pictures.py", "qaclims/data/index.py", "qaclims/data/labels.py", "qaclims/runtime/atomic.py",
                     "qaclims/stages/shared/arguments.py", "qaclims/config.py", "qaclims/errors.py",
                     "qaclims/data/records.py"):
        assert expected in files, expected
    for unexpected in ("qaclims/evaluation/metrics.py", "qaclims/demo/dataset.py", "qaclims/data/coco.py", "qaclims/cli.py",
                       "qaclims/runtime/provenance.py", "qaclims/stages/index.py"):
        assert unexpected not in files, unexpected
