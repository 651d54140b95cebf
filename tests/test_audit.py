"""The audit: every registered loss is audited and must be usable; metrics and step functions are
not; the numbers it reports agree with the maths worked out here by hand; the PNG and HTML
files it writes parse."""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import losskit
from losskit.audit import CAVEATS, NOT_USABLE, USABLE, AuditReport, audit
from losskit.cli import audit_command, plot_command

NAMES = [s.name for s in losskit.list_specs()]


@functools.cache
def cached(name: str, task: str | None = None) -> AuditReport:
    """The audit is seeded and deterministic: tests that read the same report share it."""
    return audit(name, task=task)


FIXTURES = "tests.audit_fixtures"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (signature, then the IHDR chunk)."""
    assert data[:8] == PNG_MAGIC, "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def read_png(path: Path) -> tuple[int, int]:
    from matplotlib.image import imread

    data = path.read_bytes()
    size = png_size(data)
    pixels = imread(io.BytesIO(data), format="png")  # decodes every row
    assert pixels.shape[:2] == (size[1], size[0])
    assert float(pixels[..., :3].std()) > 0.01, "a blank image"
    return size


# ----------------------------------------------------------------------------- the registry
@pytest.mark.parametrize("name", NAMES)
def test_every_registered_loss_is_usable(name: str) -> None:
    report = cached(name)
    assert report.verdict in (USABLE, CAVEATS), str(report)
    assert report.zero_grad_fraction < 0.9, str(report)
    assert report.check("better predictions, lower loss").status == "ok", str(report)


# ----------------------------------------------------------------------------- metrics
@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("accuracy", "binary"),
        ("accuracy", "multiclass"),
        ("error_rate", "binary"),
        ("error_rate", "multiclass"),
        ("accuracy_as_loss", "binary"),
    ],
)
def test_metrics_are_not_usable(name: str, task: str) -> None:
    report = cached(name, task)
    assert report.verdict == NOT_USABLE
    # a threshold or argmax is constant between decision boundaries: no sampled point escapes
    assert report.zero_grad_fraction == 1.0
    assert report.check("zero gradient").status == "fail"
    assert any("SGD cannot step" in r for r in report.reasons)


def test_metric_without_graph_reports_absent_gradient() -> None:
    # losskit.accuracy detaches: the audit must say so, not crash
    detail = cached("accuracy").check("zero gradient").detail
    assert detail.startswith("absent") and "not connected" in detail
    # accuracy_as_loss keeps a graph whose gradient is exactly zero
    assert cached("accuracy_as_loss").check("zero gradient").detail.startswith("exactly zero")


@pytest.mark.parametrize("name", ["mnist_loss", "bce_with_logits", "mse"])
def test_the_first_losses_are_usable(name: str) -> None:
    assert cached(name).verdict == USABLE


# ----------------------------------------------------------------------------- module:function
@pytest.mark.parametrize(
    ("function", "verdict", "failing"),
    [
        ("step_loss", NOT_USABLE, "zero gradient"),
        ("rounded_loss", NOT_USABLE, "zero gradient"),
        ("python_number", NOT_USABLE, "zero gradient"),
        ("wrong_way", NOT_USABLE, "minimum at the target"),
        ("smooth_loss", USABLE, None),
        ("logistic", USABLE, None),
        ("hinge", USABLE, None),
        ("biased_mse", CAVEATS, "minimum at the target"),
        ("naive_logistic", CAVEATS, "extreme inputs"),
    ],
)
def test_hand_written_functions(function: str, verdict: str, failing: str | None) -> None:
    report = audit(f"{FIXTURES}:{function}")
    assert report.verdict == verdict, str(report)
    bad = {c.name for c in report.checks if c.status in ("fail", "caveat")}
    assert bad == ({failing} if failing else set()) or failing in bad, str(report)


def test_task_is_read_from_argument_names() -> None:
    assert audit(f"{FIXTURES}:logistic").task == "binary"  # (logits, targets)
    assert audit(f"{FIXTURES}:smooth_loss").task == "regression"  # (preds, targets)
    assert audit(f"{FIXTURES}:smooth_loss", task="regression").verdict == USABLE


def test_callable_is_accepted_directly() -> None:
    from tests import audit_fixtures

    assert audit(audit_fixtures.step_loss, task="regression").verdict == NOT_USABLE
    # a registered function is recognised and audited as its spec says
    assert audit(losskit.mnist_loss).task == "binary"


# ----------------------------------------------------------------------------- the numbers
def test_gradient_growth_matches_the_maths() -> None:
    # mse: d/dr r^2 = 2r, so from residual 10 to 100 the gradient grows x10
    assert cached("mse").check("outliers").value == pytest.approx(10.0, rel=1e-9, abs=0)
    # mae: |r|' = sign(r), the same size everywhere
    assert cached("mae").check("outliers").value == pytest.approx(1.0, rel=1e-9, abs=0)
    # mnist_loss: |d/dx sigmoid(x)| = e^-|x| / (1 + e^-|x|)^2, so from margin -10 to -100 the
    # gradient shrinks at least e^-100 / (e^-10 / (1 + e^-10)^2) ~ 8.2e-40 (in float64 the
    # items whose slope s(1 - s) rounds to 0 make it smaller still)
    bound = math.exp(-100.0) * (1 + math.exp(-10.0)) ** 2 / math.exp(-10.0)
    got = cached("mnist_loss").check("confident mistakes").value
    assert got is not None and 0.0 <= got <= bound * (1 + 1e-9)
    # bce_with_logits: |d/dx softplus(-x)| = sigmoid(-x) -> 1 on confident mistakes
    want = (1 / (1 + math.exp(-100.0))) / (1 / (1 + math.exp(-10.0)))
    got = cached("bce_with_logits").check("confident mistakes").value
    assert got == pytest.approx(want, rel=1e-9, abs=0)


def test_scoring_rules() -> None:
    # log loss and the Brier score are strictly proper; mnist_loss is |p - y|, minimised by
    # p in {0, 1}; the 0-1 error is proper but not strictly (any p on the right side of 0.5)
    assert cached("bce_with_logits").check("proper scoring rule").value == 1.0
    assert cached("cross_entropy").check("proper scoring rule").value == 1.0
    assert cached("mnist_loss").check("proper scoring rule").value == 0.0
    assert cached("accuracy").check("proper scoring rule").value == 0.5
    assert cached("mse").check("proper scoring rule").status == "n/a"


def test_convexity_and_boundedness() -> None:
    mse, mnist = cached("mse"), cached("mnist_loss")
    assert mse.check("convex along lines").value == 1.0
    assert mnist.check("convex along lines").value == 0.0  # sigmoid bends
    assert mse.check("bounded").value == 0.0
    assert mnist.check("bounded").value == 1.0  # in [0, 1]


def test_hinge_is_zero_beyond_its_margin_only() -> None:
    # logits ~ N(0, 3^2) with random 0/1 targets: the margin y x > 1 holds with probability
    # P(Z > 1/3) = 0.3694; there the gradient is zero, and the loss is at its lowest (0)
    report = audit(f"{FIXTURES}:hinge")
    assert report.zero_grad_fraction == pytest.approx(0.3694, abs=0.07)
    assert report.check("zero gradient").status == "ok"


def test_seeded_and_stable() -> None:
    assert audit("mnist_loss", seed=3).to_dict() == audit("mnist_loss", seed=3).to_dict()
    for seed in (1, 2):
        assert audit("mse", seed=seed).verdict == USABLE
        assert audit("accuracy", seed=seed).verdict == NOT_USABLE


def test_options_reach_the_loss() -> None:
    name = "sigmoid_focal"
    if name not in NAMES:
        pytest.skip(f"{name} is not registered")
    report = audit(name, options={"gamma": 0.0, "alpha": None})
    assert report.verdict == USABLE  # focal with gamma 0 and no alpha is BCE
    assert report.check("proper scoring rule").value == 1.0


def test_report_as_text_and_data() -> None:
    report = cached("accuracy")
    text = str(report)
    assert "verdict: NOT USABLE" in text and "zero gradient" in text
    assert "1 - accuracy" in text  # says how a score was turned into a loss
    data = json.loads(json.dumps(report.to_dict()))
    assert data["verdict"] == NOT_USABLE and len(data["checks"]) == len(report.checks)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("msee", {}, "no loss named 'msee'; did you mean mse"),
        (f"{FIXTURES}:no_such_function", {}, "has no function 'no_such_function'"),
        ("no_such_module_xyz:f", {}, "cannot import 'no_such_module_xyz'"),
        ("missing_file.py:f", {}, "no Python file"),
        ("mse", {"task": "binary"}, "mse is a regression loss"),
        ("accuracy", {"task": "regression"}, "accuracy is audited for tasks"),
    ],
)
def test_bad_names_raise_clearly(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(losskit.LossInputError, match=match):
        audit(name, **kwargs)


def test_function_that_refuses_every_input() -> None:
    def needs_strings(preds, targets):  # type: ignore[no-untyped-def]
        raise TypeError("give me strings")

    with pytest.raises(losskit.LossInputError, match="could not call needs_strings"):
        audit(needs_strings, task="regression")


# ----------------------------------------------------------------------------- files
def test_audit_command_prints_opposite_verdicts_and_writes_pngs(tmp_path: Path) -> None:
    outputs = {}
    for name in ("accuracy", "mnist_loss"):
        stream = io.StringIO()
        assert audit_command(name, tmp_path, stream=stream) == 0
        outputs[name] = stream.getvalue()
        # binary: loss and gradient (rows) over logits and over probabilities (columns)
        assert read_png(tmp_path / f"audit_{name}.png") == (1040, 840)
    assert "verdict: NOT USABLE" in outputs["accuracy"]
    assert "verdict: USABLE AS A LOSS" in outputs["mnist_loss"]


def test_audit_command_for_a_user_function(tmp_path: Path) -> None:
    stream = io.StringIO()
    assert audit_command(f"{FIXTURES}:step_loss", tmp_path, plots=False, stream=stream) == 0
    assert "verdict: NOT USABLE" in stream.getvalue()
    assert not list(tmp_path.iterdir())  # plots=False writes nothing


def test_audit_command_bad_name_raises(tmp_path: Path) -> None:
    with pytest.raises(losskit.LossInputError, match="no loss named"):
        audit_command("not_a_loss", tmp_path, stream=io.StringIO())
    assert not list(tmp_path.iterdir())


def test_plot_command_draws_several_losses(tmp_path: Path) -> None:
    wanted = ["mse", "mae", "huber", "log_cosh", "bce_with_logits", "sigmoid_focal", "hinge"]
    names = [n for n in wanted if n in NAMES] + ["accuracy"]
    # and one loss without a 1-D picture (embeddings, boxes): drawn along a line
    names += [s.name for s in losskit.list_specs() if s.family in ("embedding", "boxes")][:1]
    rows = 3 if names[-1] not in [*wanted, "accuracy"] else 2
    out = tmp_path / "curves" / "losses.png"
    stream = io.StringIO()
    assert plot_command(names, out, stream=stream) == 0
    assert str(out) in stream.getvalue()
    # rows: regression, classification (and other), 4 inches each at 100 dpi
    assert read_png(out) == (1100, 60 + 400 * rows)


def test_plot_command_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(losskit.LossInputError, match="name at least one loss"):
        plot_command([], tmp_path / "x.png", stream=io.StringIO())


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "img", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_is_self_contained(tmp_path: Path) -> None:
    from losskit.compare import compare
    from losskit.html_report import write_html_report

    comparison = compare(losses=["accuracy", "mnist_loss"], epochs=2, progress=False)
    path = write_html_report(comparison, tmp_path)
    assert path == tmp_path / "report.html"
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.stack == [], f"unclosed tags: {page.stack}"
    tags = [t for t, _ in page.tags]
    assert tags[0] == "html" and "title" in tags and "table" in tags
    rows = [a for t, a in page.tags if t == "tr"]
    # comparison table (header + 2 losses) and one table of 9 checks (+ header) per loss
    assert len(rows) == 3 + 2 * 10
    images = [a["src"] for t, a in page.tags if t == "img"]
    # the seven steps' figure, the learning curves, and one audit picture per loss
    assert len(images) == 4
    for src in images:
        assert src and src.startswith("data:image/png;base64,")
        png_size(base64.b64decode(src.split(",", 1)[1]))
    links = [v for _, a in page.tags for k, v in a.items() if k in ("src", "href") and v]
    assert not [v for v in links if not v.startswith(("data:", "#"))], "opens offline"
    text = " ".join(page.text)
    assert "not usable" in text and "usable as a loss" in text


def test_audit_pictures_have_curves(tmp_path: Path) -> None:
    # an independent look at the drawn data: mnist_loss over logits for target 1 is
    # 1 - sigmoid(x), its gradient -s(1 - s); accuracy's gradient is zero everywhere
    from losskit.audit import problem_for
    from losskit.audit.plots import slice_curve

    _, problem = problem_for("mnist_loss")
    first = problem.slices()[0]
    assert (first.axis, first.label) == ("logit", "target 1")
    losses, grads = slice_curve(problem, first)
    x = first.values.numpy()
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(losses.numpy(), 1 - s, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads.numpy(), -s * (1 - s), rtol=1e-12, atol=1e-15)
    _, problem = problem_for("accuracy")
    _, grads = slice_curve(problem, problem.slices()[0])
    assert not grads.any()


def test_html_report_shows_a_diverged_run() -> None:
    import dataclasses

    from losskit.compare import Comparison
    from losskit.html_report import render_html
    from losskit.train import TrainResult

    fields = {f.name for f in dataclasses.fields(TrainResult)}
    if "diverged" not in fields:
        pytest.skip("TrainResult has no diverged flag")
    run = TrainResult("mse", 0, [], [], 0.5, 0.01, weights_moved=True, diverged=True)
    comparison = Comparison("toy", 10, 5, "linear", 3, 100.0, 4, 0, results=[run])
    page = _Page()
    page.feed(render_html(comparison, {}))
    page.close()
    assert page.stack == []
    text = " ".join(page.text)
    assert "diverged" in text and "not audited" in text


# ----------------------------------------------------------------------------- the package
AUDIT_DIR = Path(losskit.__file__).parent / "audit"
# what the audit may import from losskit: the layers below it, and its own modules
BELOW = {"_checks", "_spec", "_threads", "metrics", "losses"}


def _audit_imports(path: Path) -> list[str]:
    """Every losskit module ``path`` imports, at the top or inside a function."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return [m for m in found if m == "losskit" or m.startswith("losskit.") or m == "doctest"]


def test_the_audit_package_imports_only_down_and_has_no_circle() -> None:
    files = sorted(AUDIT_DIR.glob("*.py"))
    assert {p.stem for p in files} >= {"__init__", "problems", "measures", "plots", "report"}
    graph: dict[str, set[str]] = {}
    for path in files:
        edges = graph.setdefault(path.stem, set())
        for module in _audit_imports(path):
            assert module != "doctest", f"{path.name}: the audit never runs docstring examples"
            parts = module.split(".")
            assert len(parts) > 1, f"{path.name} imports the losskit package (upward)"
            if parts[1] != "audit":
                assert parts[1] in BELOW, f"{path.name} imports {module} (upward)"
                continue
            assert len(parts) == 3, f"{path.name} imports the audit package itself ({module})"
            assert path.stem != "__init__" or parts[2] != "__init__"
            edges.add(parts[2])
    assert not graph["__init__"] & {"__init__"}
    assert all("__init__" not in edges for name, edges in graph.items() if name != "__init__")
    # no circle: every module can be ordered after the modules it imports
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {m for m, edges in graph.items() if m not in done and edges <= done}
        assert ready, f"an import circle among {sorted(set(graph) - done)}"
        done |= ready


def test_the_cli_glue_lives_in_cli() -> None:
    import importlib

    # losskit.audit, the attribute, is the function; the package is in sys.modules
    package = importlib.import_module("losskit.audit")
    assert not {"audit_command", "plot_command"} & set(package.__all__)
    assert not any("argparse" in _audit_imports(p) for p in AUDIT_DIR.glob("*.py"))
    text = " ".join(p.read_text() for p in AUDIT_DIR.glob("*.py"))
    assert "argparse" not in text and "sys.stdout" not in text


def test_a_registered_loss_is_sampled_from_its_example_factory() -> None:
    import dataclasses

    from losskit.losses import _examples as ex

    spec = losskit.get_spec("triplet_margin")
    calls: list[int] = []

    def five_triplets(n: int, gen: object) -> ex.Example:
        calls.append(n)
        return ex.triplets(5 * 64, gen)  # type: ignore[arg-type]

    five_triplets.__name__ = "five_triplets"
    report = audit(dataclasses.replace(spec, example=five_triplets))
    assert calls, "the audit did not ask the factory"
    assert "shape (5, 64)" in report.sampled and "five_triplets" in report.sampled
    assert report.verdict in (USABLE, CAVEATS), str(report)


def test_required_options_come_from_the_example_factory() -> None:
    import dataclasses

    from losskit.losses import _examples as ex

    spec = losskit.get_spec("barron")
    report = audit(dataclasses.replace(spec, example=ex.with_options(ex.values, alpha=2.0)))
    assert "alpha = 2.0" in report.sampled
    assert report.verdict == USABLE  # alpha = 2 is half the squared error


def test_editing_a_docstring_example_does_not_change_the_audit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the audit used to replay the first call in the docstring example (its shapes, its
    # required options); now the example is prose to the audit
    first_calls = {
        "triplet_margin": ">>> losskit.triplet_margin(torch.zeros(9, 3), torch.ones(9, 3), "
        "torch.zeros(9, 3))",
        "barron": ">>> losskit.barron(torch.zeros(7), torch.ones(7), alpha=-3.0)",
    }
    for name, call in first_calls.items():
        fn = losskit.get_spec(name).function
        before = audit(name).to_dict()
        doc = fn.__doc__ or ""
        assert "Example:" in doc
        monkeypatch.setattr(fn, "__doc__", doc.replace("Example:", f"Example:\n        {call}", 1))
        assert audit(name).to_dict() == before
