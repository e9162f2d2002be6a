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
