"""The proxy model: exact counts against the real module, the size ladder, init, causality, groups."""
import math

import pytest
import torch

from calibration.proxy.model import ProxyLM, is_decayed, param_groups
from calibration.proxy.shape import RUNGS, ProxyShape, count_params, flops_per_token, shape_for_params, shape_from_config
from calibration.record.trial import TrialConfig
from flop_count import counted_flops, counted_flops_per_token

SHAPES = [
    ProxyShape(1, 16, 1, 32, 256, 16),
    ProxyShape(2, 48, 3, 128, 256, 64),
    ProxyShape(3, 32, 2, 80, 100, 32),
    ProxyShape(4, 24, 4, 64, 512, 8),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _non_embedding(model: ProxyLM) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(("tok_emb", "head")))


@pytest.mark.parametrize("shape", SHAPES)
def test_param_counts_match_module(shape):
    model = ProxyLM(shape)
    n_params, n_total = count_params(shape)
    assert n_total == sum(p.numel() for p in model.parameters())
    assert n_params == _non_embedding(model)
    assert n_total - n_params == 2 * shape.vocab_size * shape.d_model  # untied embedding + head


@pytest.mark.parametrize("name", list(RUNGS))
def test_rung_counts_match_module(name):
    shape = RUNGS[name]
    with torch.device("meta"):  # shapes only: the largest rungs are 100M parameters
        model = ProxyLM(shape)
    assert count_params(shape) == (_non_embedding(model), sum(p.numel() for p in model.parameters()))


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_flops_per_token_matches_a_count_of_a_training_step(shape):
    """Against torch's FlopCounterMode over a real forward + backward, causal attention included."""
    assert flops_per_token(shape, include_head=True) == pytest.approx(counted_flops_per_token(shape), rel=1e-12)
    head = counted_flops(shape)["head"] / shape.seq_len
    # Kaplan's C = 6ND leaves the output head out; include_head adds it
    assert flops_per_token(shape) == pytest.approx(flops_per_token(shape, include_head=True) - head, rel=1e-12)


def test_shape_for_params_follows_the_rule():
    targets = [1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8]
    counts = []
    for target in targets:
        shape = shape_for_params(target)
        n_params, _ = count_params(shape)
        counts.append(n_params)
        assert target / 1.6 < n_params < target * 1.6, (target, shape)
        assert shape.d_model % shape.n_head == 0 and shape.head_dim in (16, 32, 64)
        assert shape.d_ff % 16 == 0 and abs(shape.d_ff - 8 * shape.d_model / 3) <= 8
        if shape.n_layer > 2:  # the aspect rule: d_model near 48 per layer
            assert 24 <= shape.d_model / shape.n_layer <= 96, shape
    assert counts == sorted(counts)
    assert shape_for_params(1e6, vocab_size=1000, seq_len=256).vocab_size == 1000


def test_rungs_span_the_ladder():
    sizes = [count_params(s)[0] for s in RUNGS.values()]
    assert sizes == sorted(sizes)
    assert sizes[0] < 2e4 and sizes[-1] > 8e7
    assert RUNGS["l"] == shape_for_params(1e6)


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf")])
def test_shape_for_params_rejects_bad_targets(bad):
    with pytest.raises(ValueError, match="target parameter count"):
        shape_for_params(bad)


def test_shape_validation():
    with pytest.raises(ValueError, match="divisible"):
        ProxyShape(2, 48, 5, 128)
    with pytest.raises(ValueError, match="n_layer"):
        ProxyShape(0, 48, 3, 128)
    with pytest.raises(ValueError, match="even"):
        ProxyShape(1, 27, 9, 64)  # head dim 3
    with pytest.raises(ValueError, match="not implemented"):
        ProxyLM(SHAPES[0], parameterization="mup")


def test_shape_from_config():
    cfg = TrialConfig(n_layer=2, d_model=48, n_head=3, d_ff=128, seq_len=64, vocab_size=300)
    assert shape_from_config(cfg) == ProxyShape(2, 48, 3, 128, 300, 64)


def test_init_scales_and_initial_loss():
    shape = ProxyShape(8, 256, 8, 688, 256, 32)
    model = ProxyLM(shape, init_std=0.02, generator=torch.Generator().manual_seed(0))
    block = model.blocks[0]
    assert block.attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.02)
    residual = 0.02 / math.sqrt(2 * shape.n_layer)
    assert block.attn.proj.weight.std().item() == pytest.approx(residual, rel=0.03)
    assert block.mlp.down.weight.std().item() == pytest.approx(residual, rel=0.03)
    assert torch.all(block.attn_norm.weight == 1)
    tokens = torch.randint(0, 256, (4, 33), generator=torch.Generator().manual_seed(1))
    _, loss = model(tokens[:, :-1], tokens[:, 1:])
    assert loss.item() == pytest.approx(math.log(256), abs=0.1)  # near-uniform: logit sd 0.02·sqrt(d)


def test_same_generator_seed_same_weights():
    a = ProxyLM(SHAPES[1], generator=torch.Generator().manual_seed(3))
    b = ProxyLM(SHAPES[1], generator=torch.Generator().manual_seed(3))
    c = ProxyLM(SHAPES[1], generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.head.weight, c.head.weight)


def test_attention_is_causal():
    model = ProxyLM(SHAPES[1], generator=torch.Generator().manual_seed(0))
    tokens = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 25:] = (changed[:, 25:] + 1) % 256
    logits_a, _ = model(tokens)
    logits_b, _ = model(changed)
    assert torch.allclose(logits_a[:, :25], logits_b[:, :25], atol=1e-6)
    assert not torch.allclose(logits_a[:, 25:], logits_b[:, 25:])
    with pytest.raises(ValueError, match="exceeds"):
        model(torch.zeros(1, SHAPES[1].seq_len + 1, dtype=torch.long))


def test_param_groups_decay_matrices_only():
    model = ProxyLM(SHAPES[2])
    decayed = {n for n, p in model.named_parameters() if is_decayed(n, p)}
    assert "tok_emb.weight" not in decayed and "head.weight" in decayed
    assert "blocks.0.attn.qkv.weight" in decayed and "blocks.0.mlp.down.weight" in decayed
    assert not any("norm" in n for n in decayed)
    groups = param_groups(model, 0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert sum(p.numel() for g in groups for p in g["params"]) == count_params(SHAPES[2])[1]
