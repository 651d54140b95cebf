"""DPO on a tiny causal language model through the fused path, and its memory against the naive one.

    python -m losskit.examples.dpo              # needs transformers (offline: nothing is downloaded)
    python -m losskit.examples.dpo --steps 40

A randomly initialised GPT-2 with a large vocabulary and a tiny body (one layer, 32 dimensions)
learns a synthetic preference: after a prompt, the *chosen* answer counts up from the prompt's
last token and the *rejected* answer is random tokens. A frozen copy is the reference model.

Each step takes the policy's and the reference's per-sequence log-probabilities of both answers
with :func:`losskit.linear_log_probs` from the last hidden states and the output embedding,
chunked over tokens, so the ``(tokens, vocabulary)`` logits are never held, and feeds them to
:func:`losskit.dpo`. Before training, the same loss is computed the naive way (the model's full
logits, ``log_softmax``, ``gather``): both give the same loss and the same gradient, and the
script prints the peak memory of each (the head, the loss and the backward pass, from the hidden
states on) measured with PyTorch's profiler.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

import losskit

IGNORE = -100


@dataclass
class Batch:
    """Prompt + answer sequences of the chosen and the rejected answers; labels are the next
    tokens with the prompt and the padding set to IGNORE."""

    chosen: Tensor
    rejected: Tensor
    chosen_labels: Tensor
    rejected_labels: Tensor


def make_pairs(pairs: int, vocab: int, prompt: int, answer: int, seed: int = 0) -> Batch:
    """Synthetic preference pairs: chosen answers count up from the prompt's last token."""
    gen = torch.Generator().manual_seed(seed)
    prompts = torch.randint(0, vocab, (pairs, prompt), generator=gen)
    steps = torch.arange(1, answer + 1)
    chosen = torch.cat([prompts, (prompts[:, -1:] + steps) % vocab], dim=1)
    rejected = torch.cat([prompts, torch.randint(0, vocab, (pairs, answer), generator=gen)], dim=1)

    def labels(seq: Tensor) -> Tensor:
        out = seq.roll(-1, dims=1)  # position t predicts token t + 1
        out[:, : prompt - 1] = IGNORE  # the prompt is given, not learned
        out[:, -1] = IGNORE  # nothing follows the last token
        return out

    return Batch(chosen, rejected, labels(chosen), labels(rejected))


def tiny_gpt2(vocab: int, seed: int = 0) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        n_layer=1,
        n_head=2,
        n_embd=32,
        vocab_size=vocab,
        n_positions=64,
        tie_word_embeddings=True,
        resid_pdrop=0.0,  # no dropout: the policy and the reference start as the same function
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,  # GPT-2's defaults (50256) lie outside a small vocabulary
        eos_token_id=0,
    )
    torch.manual_seed(seed)  # GPT-2's initialisation reads the global generator
    return GPT2LMHeadModel(config)


def hidden_states(model: Any, ids: Tensor) -> Tensor:
    """The last hidden states ``(B, T, D)`` (the input of the language-model head)."""
    out: Tensor = model.transformer(input_ids=ids).last_hidden_state
    return out


def fused_logps(model: Any, hidden: Tensor, labels: Tensor) -> Tensor:
    """Per-sequence summed log-probabilities of the labels, chunked: no ``(B*T, V)`` logits."""
    weight = model.lm_head.weight
    per_token = losskit.linear_log_probs(
        hidden.reshape(-1, hidden.shape[-1]), weight, labels.reshape(-1), ignore_index=IGNORE
    )
    return per_token.view(labels.shape).sum(dim=1)  # ignored positions are 0


def naive_logps(model: Any, hidden: Tensor, labels: Tensor) -> Tensor:
    """The same from the full logits: ``log_softmax`` over the vocabulary and ``gather``."""
    logits = model.lm_head(hidden)  # (B, T, V): the tensor the fused path never holds
    logp = torch.log_softmax(logits.float(), dim=-1)
    keep = labels != IGNORE
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * keep).sum(dim=1)


LogProbs = Callable[[Any, Tensor, Tensor], Tensor]


def dpo_loss(
    policy: Any, reference: Any, batch: Batch, logps: LogProbs, beta: float, hidden: Any = None
) -> Tensor:
    """``losskit.dpo`` of the policy against the frozen reference; ``hidden`` may hold the
    policy's precomputed hidden states (chosen, rejected)."""
    h_chosen, h_rejected = hidden or (
        hidden_states(policy, batch.chosen),
        hidden_states(policy, batch.rejected),
    )
    with torch.no_grad():
        ref_chosen = fused_logps(
            reference, hidden_states(reference, batch.chosen), batch.chosen_labels
        )
        ref_rejected = fused_logps(
            reference, hidden_states(reference, batch.rejected), batch.rejected_labels
        )
    return losskit.dpo(
        logps(policy, h_chosen, batch.chosen_labels),
        logps(policy, h_rejected, batch.rejected_labels),
        ref_chosen,
        ref_rejected,
        beta=beta,
    )


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes held by PyTorch's CPU allocator above the start while ``fn()`` runs (the
    profiler's memory events), or CUDA's peak on a GPU."""
    from torch.profiler import ProfilerActivity, profile

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return max(0, torch.cuda.max_memory_allocated() - start)
    sys.stderr.flush()
    saved = os.dup(2)  # the profiler's C++ side prints its start and stop on descriptor 2
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    now = peak = 0
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    for event in sorted(events, key=lambda e: e.start_ns()):
        now += event.nbytes()
        peak = max(peak, now)
    return peak


@dataclass
class Report:
    fused_loss: float
    naive_loss: float
    grad_difference: float
    fused_peak: int
    naive_peak: int
    losses: list[float]
    margins: list[float]


def compare_paths(policy: Any, reference: Any, batch: Batch, beta: float) -> dict[str, Any]:
    """The loss and the policy's gradient by both paths, and each path's peak memory from the
    hidden states on (the head, the loss, the backward)."""
    out: dict[str, Any] = {}
    for name, logps in (("fused", fused_logps), ("naive", naive_logps)):
        policy.zero_grad()
        with torch.no_grad():
            h = (hidden_states(policy, batch.chosen), hidden_states(policy, batch.rejected))
        leaves = tuple(x.detach().requires_grad_(True) for x in h)

        def step(leaves: Sequence[Tensor] = leaves, logps: LogProbs = logps) -> Tensor:
            loss = dpo_loss(policy, reference, batch, logps, beta, hidden=tuple(leaves))
            loss.backward()  # type: ignore[no-untyped-call]
            return loss.detach()

        out[f"{name}_peak"] = peak_bytes(step)
        for x in leaves:
            x.grad = None
        policy.zero_grad()
        loss = step()
        out[f"{name}_loss"] = float(loss)
        grads = [x.grad for x in leaves]
        assert all(g is not None for g in grads)
        out[f"{name}_grads"] = torch.cat([g.reshape(-1) for g in grads if g is not None])
        out[f"{name}_weight_grad"] = policy.lm_head.weight.grad.detach().clone()
    return out


def run(
    *, steps: int = 30, vocab: int = 16384, pairs: int = 8, beta: float = 0.1, lr: float = 3e-3
) -> Report:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    batch = make_pairs(pairs, vocab, prompt=6, answer=10)
    policy = tiny_gpt2(vocab)
    reference = copy.deepcopy(policy).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    paths = compare_paths(policy, reference, batch, beta)
    grad_difference = max(
        float((paths["fused_grads"] - paths["naive_grads"]).abs().max()),
        float((paths["fused_weight_grad"] - paths["naive_weight_grad"]).abs().max()),
    )
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    losses, margins = [], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = dpo_loss(policy, reference, batch, fused_logps, beta)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
        with torch.no_grad():
            chosen = fused_logps(policy, hidden_states(policy, batch.chosen), batch.chosen_labels)
            rejected = fused_logps(
                policy, hidden_states(policy, batch.rejected), batch.rejected_labels
            )
            margins.append(float((chosen - rejected).mean()))
    return Report(
        fused_loss=paths["fused_loss"],
        naive_loss=paths["naive_loss"],
        grad_difference=grad_difference,
        fused_peak=paths["fused_peak"],
        naive_peak=paths["naive_peak"],
        losses=losses,
        margins=margins,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m losskit.examples.dpo", description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--vocab", type=int, default=16384)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--beta", type=float, default=0.1)
    args = parser.parse_args(argv)
    try:
        report = run(steps=args.steps, vocab=args.vocab, pairs=args.pairs, beta=args.beta)
    except ModuleNotFoundError as exc:
        print(f"this example needs {exc.name}: pip install transformers", file=sys.stderr)
        return 1
    mib = 2**20
    print(
        f"DPO (sigmoid, beta {args.beta}) on a 1-layer GPT-2 with a {args.vocab}-token "
        f"vocabulary, {args.pairs} preference pairs"
    )
    print(
        f"loss before training: fused {report.fused_loss:.6f}, naive {report.naive_loss:.6f}; "
        f"largest gradient difference {report.grad_difference:.2e}"
    )
    print(
        f"peak memory of head + loss + backward: fused {report.fused_peak / mib:.1f} MiB, "
        f"naive {report.naive_peak / mib:.1f} MiB ({report.naive_peak / report.fused_peak:.1f}x)"
    )
    for i in sorted({0, len(report.losses) // 2, len(report.losses) - 1}):
        print(
            f"step {i + 1:3d}: loss {report.losses[i]:.4f}, mean log-prob margin "
            f"chosen - rejected {report.margins[i]:+.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
