"""The four places of a loss, enforced: its decorated function (exported from ``losskit``), its
Module (exported from ``losskit.nn``, options matching the function's keyword-only
parameters), its ``tests/infos`` entry and its bench case. And the layering: imports point down,
no package module imports a sibling's private names."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch
from bench.cases import CASES

import losskit
import losskit.nn
import tests.infos  # noqa: F401  (fills INFOS)
from losskit.nn import module_for
from tests.lossinfo import INFOS

SPECS = losskit.list_specs()
NAMES = [s.name for s in SPECS]
SRC = Path(losskit.__file__).parent


@pytest.mark.parametrize("name", NAMES)
def test_the_four_places_of_a_loss(name: str) -> None:
    spec = losskit.get_spec(name)
    fn = spec.function
    assert getattr(losskit, fn.__name__, None) is fn and fn.__name__ in losskit.__all__
    module = module_for(name)
    assert getattr(losskit.nn, module.__name__, None) is module, "export the Module"
    assert module.function is fn, "the Module names its function object"
    assert name in INFOS, "add an entry to tests/infos/<family>.py"
    assert name in CASES, "add a case to bench/cases.py"


def _keyword_options(f: object) -> dict[str, object]:
    params = inspect.signature(f).parameters.values()  # type: ignore[arg-type]
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


@pytest.mark.parametrize("name", NAMES)
def test_module_options_are_the_function_keyword_options(name: str) -> None:
    fn = losskit.get_spec(name).function
    module = module_for(name)
    assert _keyword_options(module.__init__) == _keyword_options(fn)


@pytest.mark.parametrize("name", NAMES)
def test_the_example_factory_makes_a_valid_call(name: str) -> None:
    spec = losskit.get_spec(name)
    assert spec.example is not None, "name an example factory in @register(example=...)"
    ex = spec.example(1000, torch.Generator().manual_seed(0))
    out = spec.function(*ex.args, **ex.kwargs)
    assert out.dim() == 0 and torch.isfinite(out)


def test_the_registry_holds_every_public_loss_once() -> None:
    assert len(NAMES) == len(set(NAMES))
    exported = {n for n in losskit.__all__ if callable(getattr(losskit, n))}
    functions = {s.function.__name__ for s in SPECS}
    assert functions <= exported


# ----------------------------------------------------------------------------- layering
LAYERS = {
    # a package module may import only from modules of these layers (and its own)
    "_checks": set(),
    "_validate": {"_checks"},
    "_threads": {"_checks"},
    "_spec": {"_checks", "losses"},
    "losses": {"_checks", "_validate", "_spec", "losses", "distributed"},
    "distributed": {"_checks"},
    "metrics": {"_checks"},
    "nn": {"_checks", "_spec", "losses", "nn"},
    "audit": {"_checks", "_spec", "_threads", "metrics", "losses", "audit"},
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("losskit"):
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("losskit")]
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize(
    "path",
    sorted(
        p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0].removesuffix(".py") in LAYERS
    ),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_imports_point_down(path: Path) -> None:
    layer = path.relative_to(SRC).parts[0].removesuffix(".py")
    for module in _imports(path):
        target = _layer(module)
        if target:
            assert target == layer or target in LAYERS[layer], f"{layer} imports {module}"


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_a_siblings_private_names(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module):
            continue
        if not node.module.startswith("losskit") or node.module.split(".")[-1] in {
            "_checks",
            "_validate",
        }:
            continue  # the shared validation layer is the common module
        package = (SRC.parent / node.module.replace(".", "/")).is_dir()
        private = [
            a.name
            for a in node.names
            if a.name.startswith("_") and a.name != "*" and not package  # a submodule is fine
        ]
        assert not private, f"{path.name} imports {private} from {node.module}"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _runtime_imports(path: Path) -> set[str]:
    """The losskit modules ``path`` imports, lazily inside functions too, except under
    ``if TYPE_CHECKING:`` (annotations only)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("losskit"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(
                    sub
                    if (SRC.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                    else node.module
                )
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("losskit")}
    return out


def test_import_losskit_has_no_circle_and_no_upward_import() -> None:
    graph = {_module_name(p): _runtime_imports(p) for p in SRC.rglob("*.py")}
    # a module never imports a package that contains it (the package imports it), except the
    # entry points, which `import losskit` never imports: the CLI and the examples
    entry = {"losskit.cli", "losskit.__main__", "losskit.examples.ddp", "losskit.examples.dpo"}
    upward = sorted(
        (m, t)
        for m, ts in graph.items()
        for t in ts
        if m != t and m.startswith(t + ".") and m not in entry
    )
    assert not upward, upward
    # and no circle: a depth-first search over the graph without the packages' own __init__
    # star imports of their members (a package importing its members is the downward edge)
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if t == m:
                continue
            if state.get(t) == 1:
                raise AssertionError(" -> ".join([*path, m, t]))
            if t not in state:
                visit(t, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
