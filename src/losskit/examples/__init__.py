"""Runnable examples: ``python -m losskit.examples.<name>`` (see each module's docstring).

``ddp``: train with DistributedDataParallel on the CPU and print the same losses as one
process (``torchrun --nproc-per-node 2 -m losskit.examples.ddp``).

``dpo``: DPO on a tiny randomly initialised GPT-2 through the fused per-token log-probabilities,
with its loss, gradient and peak memory against the naive full-logits path
(``python -m losskit.examples.dpo``; needs transformers).
"""
