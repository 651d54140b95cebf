"""Runnable examples: ``python -m losskit.examples.<name>`` (see each module's docstring).

``ddp``: train with DistributedDataParallel on the CPU and print the same losses as one
process (``torchrun --nproc-per-node 2 -m losskit.examples.ddp``).

``dpo``: DPO on a tiny randomly initialised GPT-2 through the fused per-token log-probabilities,
with its loss, gradient and peak memory against the naive full-logits path
(``python -m losskit.examples.dpo``; needs transformers).

``multitask``: uncertainty weighting, dynamic weight average and GradNorm on one synthetic
two-task problem, printing each method's final weights and drawing them over training
(``python -m losskit.examples.multitask --plot weights.png``; the plot needs matplotlib).
"""
