"""Glue for the frameworks people train with. Each submodule imports its framework, so
``import losskit`` never does: ``from losskit.integrations.lightning import ChecksAfterFirstBatch``.
fastai, torch.compile, torch.func and the Hugging Face Trainer need no glue; docs/integrations/
shows each of them with a losskit loss.
"""
