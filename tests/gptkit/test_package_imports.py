"""The layout rule: no file of the package, in any of its folders, imports a command at the root, and model.py
imports only the package (besides the standard library and torch), so a part can be reused without dragging a
command along. The modelling code in gptkit/interop/hf_custom/ is copied into exported folders, where gptkit is not
installed: it imports neither gptkit nor a root file, and its relative imports name only the files shipped with
it."""

import ast
from pathlib import Path

from conftest import ROOT
from gptkit.interop.hf_format import CUSTOM_CODE, CUSTOM_FILES

ROOT_MODULES = {path.stem for path in ROOT.glob("*.py")}
PACKAGE_FILES = sorted((ROOT / "gptkit").rglob("*.py"))
SHIPPED_FILES = sorted(CUSTOM_CODE.glob("*.py"))


def imported_modules(path):
    """The top-level names of every module a file imports, at the top or inside a function (relative imports
    left out)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def relative_imports(path):
    """(level, module) of each relative import of a file: `from .x import y` is (1, "x")."""
    tree = ast.parse(path.read_text(), str(path))
    return {(node.level, node.module) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}


def test_the_rule_sees_the_commands_and_the_parts():
    assert {"model", "train", "sample", "hellaswag", "bench", "prepare_text"} <= ROOT_MODULES
    assert len(PACKAGE_FILES) >= 14 and "gptkit" not in ROOT_MODULES
    assert set(SHIPPED_FILES) <= set(PACKAGE_FILES)  # the sub-folder is searched too
    assert {"gptkit", "torch"} <= imported_modules(ROOT / "model.py")
    assert "model" in imported_modules(ROOT / "train.py")  # a root import is seen where there is one
    assert relative_imports(CUSTOM_CODE / "modeling_gptkit.py") == {(1, "configuration_gptkit")}


def test_no_part_of_the_package_imports_a_root_file():
    offenders = {path.name: sorted(imported_modules(path) & ROOT_MODULES) for path in PACKAGE_FILES}
    assert {name: modules for name, modules in offenders.items() if modules} == {}


def test_the_shipped_modelling_code_stands_alone():
    assert sorted(path.name for path in SHIPPED_FILES) == sorted(CUSTOM_FILES)  # every file of it is copied
    shipped_stems = {Path(name).stem for name in CUSTOM_FILES}
    for path in SHIPPED_FILES:
        assert imported_modules(path) & (ROOT_MODULES | {"gptkit"}) == set(), path.name
        assert all(level == 1 and module in shipped_stems for level, module in relative_imports(path)), path.name
    # the rest of the package imports gptkit by name, which the rule above sees
    assert [path.name for path in PACKAGE_FILES if path not in SHIPPED_FILES and relative_imports(path)] == []


def test_model_imports_only_the_package_from_this_repository():
    assert imported_modules(ROOT / "model.py") & ROOT_MODULES == set()
