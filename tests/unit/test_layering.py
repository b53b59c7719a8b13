"""The layers stay apart: drivers import no runtime, simulators import no driver.

A simulator that shared a driver's codec would let a bug shared by both pass every
test; a driver that reached into the controller could not be reused or tested alone.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "drivers": {"controller", "kiosk", "simulators"},
    "simulators": {"drivers", "controller", "kiosk"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_or_beside_it(layer):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[layer])
        for path in (ROOT / layer).rglob("*.py")
        if imported_packages(path) & FORBIDDEN[layer]
    }
    assert offenders == {}
