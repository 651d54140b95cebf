"""The mixture-of-experts auxiliary losses: against Hugging Face transformers' own
load_balancing_loss_func (Mixtral's), and the values the docstring states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losskit

transformers_mixtral = pytest.importorskip("transformers.models.mixtral.modeling_mixtral")


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_load_balancing_equals_transformers_over_layers_and_padding(top_k: int) -> None:
    gen = torch.Generator().manual_seed(top_k)
    batch, seq, experts, layers = 3, 5, 6, 2
    per_layer = [torch.randn(batch * seq, experts, generator=gen) * 2 for _ in range(layers)]
    attention = torch.ones(batch, seq, dtype=torch.long)
    attention[0, 3:] = 0
    attention[2, 1:] = 0
    want = transformers_mixtral.load_balancing_loss_func(
        tuple(per_layer), experts, top_k, attention_mask=attention
    )
    # transformers concatenates the layers along the token dim; the mask repeats per layer
    logits = torch.cat(per_layer)
    mask = attention.bool().reshape(-1).repeat(layers)
    got = losskit.load_balancing_loss(logits, mask, top_k=top_k)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    unmasked = transformers_mixtral.load_balancing_loss_func(tuple(per_layer), experts, top_k)
    torch.testing.assert_close(losskit.load_balancing_loss(logits, top_k=top_k), unmasked)


def test_balanced_routing_gives_k_and_collapsed_routing_gives_e() -> None:
    experts, k = 4, 2
    # every token's probabilities uniform: P_e = 1/E; top-k ties broken so each expert is
    # chosen by the same number of tokens: f_e = k/E; E * sum_e (k/E)(1/E) = k
    logits = torch.zeros(4, experts)
    logits[torch.arange(4), torch.arange(4)] = 1e-6  # the tie-break, negligible in P
    logits[torch.arange(4), (torch.arange(4) + 1) % 4] = 1e-6
    assert float(losskit.load_balancing_loss(logits, top_k=k)) == pytest.approx(k, rel=1e-5)
    # every token sends all its probability to experts 0 and 1: f = (1, 1, 0, 0),
    # P = (p, 1 - p, 0, 0) -> E * (p + 1 - p) = E
    collapsed = torch.tensor([[30.0, 29.0, -30.0, -30.0]]).repeat(8, 1)
    assert float(losskit.load_balancing_loss(collapsed, top_k=k)) == pytest.approx(experts, 1e-6)


def test_gradient_moves_probability_off_the_busiest_expert() -> None:
    # float64 by hand: dL/dz_te = E/T * (f_e p_te - p_te sum_j f_j p_tj) with f from the counts
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    losskit.load_balancing_loss(z, top_k=2).backward()
    zn = z.detach().numpy()
    p = np.exp(zn - zn.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    f = np.zeros(5)
    for row in np.argsort(-zn, axis=1)[:, :2]:
        f[row] += 1 / 7
    grad = 5 / 7 * (f * p - p * (p @ f)[:, None])
    np.testing.assert_allclose(z.grad.numpy(), grad, rtol=1e-12, atol=1e-14)
    busiest = int(np.argmax(f))
    assert (z.grad[:, busiest] > 0).all()  # SGD lowers the busiest expert's logits


def test_router_z_loss_is_z_loss() -> None:
    assert losskit.get_spec("router_z_loss").name == "z_loss"
    z = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    # ST-MoE: mean over tokens of (log sum_j exp z_ij)^2
    want = np.mean(np.log(np.exp(z.numpy()).sum(1)) ** 2)
    assert float(losskit.z_loss(z)) == pytest.approx(want, rel=1e-12)
