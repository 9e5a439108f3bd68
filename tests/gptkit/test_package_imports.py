"""The layout rule: the package's parts never import a command at the root, and model.py imports only the package
(besides the standard library and torch), so a part can be reused without dragging a command along."""

import ast

from conftest import ROOT

ROOT_MODULES = {path.stem for path in ROOT.glob("*.py")}
PACKAGE_FILES = sorted((ROOT / "gptkit").glob("*.py"))


def imported_modules(path):
    """The top-level names of every module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_rule_sees_the_commands_and_the_parts():
    assert {"model", "train", "sample", "hellaswag", "bench", "prepare_text"} <= ROOT_MODULES
    assert len(PACKAGE_FILES) >= 14 and "gptkit" not in ROOT_MODULES
    assert {"gptkit", "torch"} <= imported_modules(ROOT / "model.py")
    assert "model" in imported_modules(ROOT / "train.py")  # a root import is seen where there is one


def test_no_part_of_the_package_imports_a_root_file():
    offenders = {path.name: sorted(imported_modules(path) & ROOT_MODULES) for path in PACKAGE_FILES}
    assert {name: modules for name, modules in offenders.items() if modules} == {}


def test_model_imports_only_the_package_from_this_repository():
    assert imported_modules(ROOT / "model.py") & ROOT_MODULES == set()
