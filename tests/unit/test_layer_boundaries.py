"""Provider knowledge stays in `providers/`: the rest of the layer asks for capabilities, never names."""

import ast
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "smsgw" / "smsgw"
NAMES = ("cmessages", "230sms", "sms230")


def string_constants(path: Path) -> list[str]:
    """Every string literal in the module except docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


OUTSIDE = sorted(p for p in LAYER.rglob("*.py") if "providers" not in p.relative_to(LAYER).parts)


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(LAYER)))
def test_no_provider_name_outside_providers(path: Path) -> None:
    found = [s for s in string_constants(path) if any(name in s.lower() for name in NAMES)]
    assert found == []


def test_the_check_sees_provider_names_where_they_are() -> None:
    assert any("230sms" in s for s in string_constants(LAYER / "providers" / "sms230.py"))
    assert len(OUTSIDE) > 10


# -- the house: a package per capability, imports only run down ------------------------------------

# Each package's floor: a module imports only from lower floors, or from its own package.
FLOORS = {
    "platform": 1,
    "domain": 2,
    "providers": 3,
    "storage": 3,
    "guards": 3,
    "delivery": 4,
    "webhooks": 4,
    "verification": 4,
    "sending": 5,
    "campaigns": 6,
    "http": 6,
}
MODULES = sorted(p for p in LAYER.rglob("*.py") if p.parent != LAYER)


def layer_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported smsgw package, inside a function?) for each import of the layer in `path`."""
    tree = ast.parse(path.read_text())
    inner = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
    }
    found = []
    for node in ast.walk(tree):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found += [(n.split(".")[1], id(node) in inner) for n in names if n.startswith("smsgw.")]
    return found


def test_every_module_lives_in_a_package_with_a_floor() -> None:
    assert sorted(p.name for p in LAYER.glob("*.py")) == ["__init__.py"]
    assert {p.relative_to(LAYER).parts[0] for p in MODULES} == set(FLOORS)
    assert not any("legacy" in p.name for p in MODULES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LAYER)))
def test_imports_run_down_never_up_or_sideways(path: Path) -> None:
    package = path.relative_to(LAYER).parts[0]
    for imported, _ in layer_imports(path):
        assert imported == package or FLOORS[imported] < FLOORS[package], f"{package} -> {imported}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LAYER)))
def test_modules_stay_small_and_packages_hand_nothing_on(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 400
    if path.name == "__init__.py":
        assert text == ""  # a re-export would load the whole package at every cold start


def test_the_only_layer_import_inside_a_function_is_the_deliberate_cold_start_one() -> None:
    inside = {
        str(p.relative_to(LAYER)): [name for name, nested in layer_imports(p) if nested] for p in MODULES
    }
    assert {path: names for path, names in inside.items() if names} == {
        "providers/registry.py": ["providers"]
    }


def test_the_floor_check_sees_an_import_that_runs_up(tmp_path: Path) -> None:
    up = tmp_path / "up.py"
    up.write_text("def late():\n    from smsgw.http.answers import json_response\n")
    assert layer_imports(up) == [("http", True)]
