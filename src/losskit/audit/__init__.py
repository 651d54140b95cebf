"""The audit: can a function serve as a loss? Measured, not assumed.

A metric such as accuracy is what people care about, but SGD cannot minimise it: a small change
of the weights almost never flips a decision, so its gradient is zero almost everywhere.
:func:`audit` makes that a question any function can be asked. On predictions and targets
sampled with a seed (in float64) it measures:

* the share of sampled points where the gradient is exactly zero (or absent: the output is not
  connected to the predictions), and where it is not finite;
* whether small steps toward the target lower the loss ("slightly better predictions give a
  slightly better loss");
* whether the minimum is at the target (for logits: whether the loss falls as the true class
  becomes more confident);
* whether it is a proper scoring rule (binary and multiclass: the expected loss under a Bernoulli
  or categorical target is lowest at the true probability);
* convexity along random lines, boundedness, how the gradient grows with the error (outliers,
  confident mistakes), and finiteness at extreme inputs (logits and residuals of 1e4).

The verdict follows fixed rules. A point "can still improve" when it is wrong (off the target,
on the wrong side of the threshold, argmax not the label) and its own loss is above the lowest
value seen: a hinge beyond its margin is right to have a zero gradient there. **Not usable**: no
gradient, or a zero gradient at 90% or more of the points that can still improve, or a
non-finite gradient at half of the points or more, or small steps toward the target lower the
loss in fewer than half of the trials, or the loss is no lower at (or toward) the target than
at the sampled predictions. **Usable with caveats**: a zero gradient at 5% or more of the points
that can still improve, any non-finite gradient at sampled points, a non-finite loss or
gradient at extreme inputs, steps toward the target that lower the loss in fewer than 90% of
trials, or a minimum away from the target. Anything else is **usable as a
loss**. Convexity, boundedness, properness and the gradient's growth are reported as notes:
they are trade-offs, not defects.

The package, bottom up: :mod:`~losskit.audit.problems` (how inputs are sampled: one problem per
task, or a registered loss's example factory), :mod:`~losskit.audit.measures` (the checks),
:mod:`~losskit.audit.report` (the report and the verdict's rules), :mod:`~losskit.audit.subjects`
(what a name or callable means), :mod:`~losskit.audit.run` (:func:`audit`) and
:mod:`~losskit.audit.plots` (the pictures; matplotlib is imported only to draw). No module
imports the package above it, and the command line (``losskit audit``, ``losskit plot``) lives
in :mod:`losskit.cli`.

Example:
    >>> from losskit.audit import audit
    >>> audit("mse").verdict
    'usable as a loss'
    >>> report = audit("accuracy")
    >>> report.verdict, report.zero_grad_fraction
    ('not usable', 1.0)
"""

from losskit.audit.measures import Check
from losskit.audit.plots import plot_audit, plot_losses
from losskit.audit.problems import Problem
from losskit.audit.report import CAVEATS, NOT_USABLE, USABLE, AuditReport
from losskit.audit.run import audit, problem_for
from losskit.audit.subjects import Subject, resolve

__all__ = [
    "CAVEATS",
    "NOT_USABLE",
    "USABLE",
    "AuditReport",
    "Check",
    "Problem",
    "Subject",
    "audit",
    "plot_audit",
    "plot_losses",
    "problem_for",
    "resolve",
]
