"""losskit's benchmark suite: every registered loss against the fastest peer installed, the
cost of the check modes, ``linear_cross_entropy`` against the plain formula and PyTorch's own,
and the training loop against a hand-written one. Run ``python -m bench`` (``--help``)."""
