"""Runnable examples: ``python -m losskit.examples.<name>`` (see each module's docstring).

``ddp``: train with DistributedDataParallel on the CPU and print the same losses as one
process (``torchrun --nproc-per-node 2 -m losskit.examples.ddp``).
"""
