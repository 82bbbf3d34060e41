"""Region contrastive losses and area loss against a direct, per-pair implementation of the formulas.

The reference values come from ``direct_loss`` below: a plain loop over pairs and background texts
that evaluates the formulas of design/method.md §4 item 7 with exponentials, in float64 NumPy.
"""

import math

import numpy as np
import pytest
import torch

from qaclims.cam.ritc_losses import (
    area_loss,
    background_region_contrastive_loss,
    foreground_region_contrastive_loss,
)

LOSSES = {
    "fg": foreground_region_contrastive_loss,
    "bg": background_region_contrastive_loss,
}
TAU = 0.7
DIM = 8


def direct_loss(kind, image_feats, fg_text, bg_text, bg_valid, temperature):
    """The formula written out pair by pair: only the image feature is normalised."""
    image_feats, fg_text, bg_text = (np.asarray(t.detach(), dtype=np.float64)
                                     for t in (image_feats, fg_text, bg_text))
    bg_valid = np.asarray(bg_valid)
    total = 0.0
    for p in range(image_feats.shape[0]):
        valid_rows = [j for j in range(bg_text.shape[1]) if bg_valid[p, j]]
        if not valid_rows:
            continue  # the reference skips pairs without background text
        v = image_feats[p] / np.linalg.norm(image_feats[p])
        e_fg = math.exp(float(v @ fg_text[p]) / temperature)
        e_bg = [math.exp(float(v @ bg_text[p, j]) / temperature) for j in valid_rows]
        if kind == "fg":
            total += -math.log(e_fg / (e_fg + sum(e_bg)))
        else:
            mean_bg = sum(e_bg) / len(e_bg)
            total += -math.log(mean_bg / (mean_bg + e_fg))
    return total


def random_batch(num_pairs, num_bg, seed, dtype=torch.float64):
    """Random features; rows 0 and 1 (when present) have no and partial valid background."""
    gen = torch.Generator().manual_seed(seed)
    image_feats = torch.randn(num_pairs, DIM, generator=gen, dtype=dtype) * 3
    # Text norms near but not equal to 1: the FG text is not renormalised by the losses.
    fg_text = torch.randn(num_pairs, DIM, generator=gen, dtype=dtype) / math.sqrt(DIM)
    bg_text = torch.randn(num_pairs, num_bg, DIM, generator=gen, dtype=dtype)
    bg_text = bg_text / bg_text.norm(dim=-1, keepdim=True)
    bg_valid = torch.rand(num_pairs, num_bg, generator=gen) < 0.6
    if num_pairs >= 1:
        bg_valid[0] = False
    if num_pairs >= 2 and num_bg >= 2:
        bg_valid[1] = False
        bg_valid[1, 1] = True
    return image_feats, fg_text, bg_text, bg_valid


CASES = [(1, 1, 0), (2, 3, 1), (5, 4, 2), (7, 6, 3), (12, 9, 4), (4, 1, 5)]


@pytest.mark.parametrize("kind", ["fg", "bg"])
@pytest.mark.parametrize("num_pairs,num_bg,seed", CASES)
def test_loss_equals_direct_formula(kind, num_pairs, num_bg, seed):
    batch = random_batch(num_pairs, num_bg, seed)
    got = LOSSES[kind](*batch, TAU)
    assert got.dim() == 0
    expected = direct_loss(kind, *batch, TAU)
    assert got.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_random_cases_mix_empty_partial_and_full_background_rows():
    # Guards the test above: its masks really contain all three kinds of pair.
    kinds = set()
    for num_pairs, num_bg, seed in CASES:
        for row in random_batch(num_pairs, num_bg, seed)[3]:
            kinds.add("empty" if not row.any() else "full" if row.all() else "partial")
    assert kinds == {"empty", "partial", "full"}


def test_fg_sums_negatives_and_bg_averages_positives():
    # One pair, two identical background texts. Summing doubles the FG negative mass; averaging
    # leaves the BG positive unchanged: compare against one background text.
    image_feats, fg_text, bg_text, _ = random_batch(1, 1, seed=11)
    one = (image_feats, fg_text, bg_text, torch.ones(1, 1, dtype=torch.bool))
    two = (image_feats, fg_text, bg_text.repeat(1, 2, 1), torch.ones(1, 2, dtype=torch.bool))
    s_fg = float(torch.nn.functional.normalize(image_feats, dim=-1)[0] @ fg_text[0]) / TAU
    s_bg = float(torch.nn.functional.normalize(image_feats, dim=-1)[0] @ bg_text[0, 0]) / TAU
    expected_fg_two = -math.log(math.exp(s_fg) / (math.exp(s_fg) + 2 * math.exp(s_bg)))
    assert foreground_region_contrastive_loss(*two, TAU).item() == pytest.approx(expected_fg_two)
    assert (background_region_contrastive_loss(*two, TAU).item()
            == pytest.approx(background_region_contrastive_loss(*one, TAU).item(), rel=1e-12))


@pytest.mark.parametrize("kind", ["fg", "bg"])
def test_summed_over_pairs_concatenation(kind):
    # Batch A has 3 background slots, batch B has 5; A is padded with invalid garbage rows.
    a = random_batch(4, 3, seed=21)
    b = random_batch(6, 5, seed=22)
    pad = torch.randn(4, 2, DIM, dtype=torch.float64) * 50
    a_padded_bg = torch.cat([a[2], pad], dim=1)
    a_padded_valid = torch.cat([a[3], torch.zeros(4, 2, dtype=torch.bool)], dim=1)
    joined = (torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]]),
              torch.cat([a_padded_bg, b[2]]), torch.cat([a_padded_valid, b[3]]))
    loss = LOSSES[kind]
    assert loss(*joined, TAU).item() == pytest.approx(
        loss(*a, TAU).item() + loss(*b, TAU).item(), rel=1e-12)
    # The loss is a sum, not a mean: more than either part alone.
    assert loss(*joined, TAU).item() > max(loss(*a, TAU).item(), loss(*b, TAU).item())


@pytest.mark.parametrize("kind", ["fg", "bg"])
def test_pair_without_background_contributes_nothing(kind):
    image_feats, fg_text, bg_text, bg_valid = random_batch(5, 4, seed=31)
    bg_valid[2:] = True
    before = LOSSES[kind](image_feats, fg_text, bg_text, bg_valid, TAU).item()
    extra_image = (torch.randn(1, DIM, dtype=torch.float64) * 1e3).requires_grad_()
    grown = (torch.cat([image_feats, extra_image]),
             torch.cat([fg_text, torch.randn(1, DIM, dtype=torch.float64) * 7]),
             torch.cat([bg_text, torch.randn(1, 4, DIM, dtype=torch.float64) * 7]),
             torch.cat([bg_valid, torch.zeros(1, 4, dtype=torch.bool)]))
    after = LOSSES[kind](*grown, TAU)
    assert after.item() == pytest.approx(before, rel=1e-12)
    after.backward()
    assert torch.equal(extra_image.grad, torch.zeros_like(extra_image))


@pytest.mark.parametrize("kind", ["fg", "bg"])
@pytest.mark.parametrize("num_pairs,num_bg", [(0, 3), (0, 0), (3, 4), (3, 0)])
def test_empty_or_all_invalid_gives_connected_zero(kind, num_pairs, num_bg):
    image_feats, fg_text, bg_text, _ = random_batch(num_pairs, num_bg, seed=41)
    image_feats.requires_grad_()
    bg_valid = torch.zeros(num_pairs, num_bg, dtype=torch.bool)
    loss = LOSSES[kind](image_feats, fg_text, bg_text, bg_valid, TAU)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.item() == 0.0
    assert loss.requires_grad  # still part of the graph, so DDP sees the parameters
    loss.backward()
    assert image_feats.grad is not None
    assert torch.equal(image_feats.grad, torch.zeros_like(image_feats))


@pytest.mark.parametrize("kind", ["fg", "bg"])
def test_extreme_inputs_are_finite_and_match_float64_formula(kind):
    # float32, image norms ~1e6, τ = 0.01, text norms up to ~1.5: logits reach ~150, where
    # exp() overflows float32 (max ~3.4e38) but not the float64 direct formula.
    image_feats, fg_text, bg_text, bg_valid = random_batch(9, 5, seed=51)
    image_feats = image_feats / image_feats.norm(dim=-1, keepdim=True) * 1e6
    fg_text = fg_text / fg_text.norm(dim=-1, keepdim=True) * 1.5
    batch32 = [t.float() for t in (image_feats, fg_text, bg_text)]
    for t in batch32:
        t.requires_grad_()
    loss = LOSSES[kind](*batch32, bg_valid, 0.01)
    assert torch.isfinite(loss)
    expected = direct_loss(kind, image_feats, fg_text, bg_text, bg_valid, 0.01)
    assert expected > 10  # really in the overflow regime
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    loss.backward()
    for t in batch32:
        assert torch.isfinite(t.grad).all()
    # Pair 0 has no background text: no gradient, in particular no NaN from the masked row.
    assert torch.equal(batch32[0].grad[0], torch.zeros(DIM))


@pytest.mark.parametrize("kind", ["fg", "bg"])
def test_gradients_match_finite_differences(kind):
    image_feats, fg_text, bg_text, bg_valid = random_batch(5, 4, seed=61)
    inputs = [t.clone().requires_grad_() for t in (image_feats, fg_text, bg_text)]
    assert torch.autograd.gradcheck(
        lambda v, t, b: LOSSES[kind](v, t, b, bg_valid, TAU), inputs)


@pytest.mark.parametrize("kind", ["fg", "bg"])
def test_image_feature_normalised_text_not(kind):
    image_feats, fg_text, bg_text, bg_valid = random_batch(6, 4, seed=71)
    loss = LOSSES[kind]
    base = loss(image_feats, fg_text, bg_text, bg_valid, TAU).item()
    scaled_image = loss(image_feats * 37.5, fg_text, bg_text, bg_valid, TAU).item()
    assert scaled_image == pytest.approx(base, rel=1e-12)
    doubled_text = loss(image_feats, fg_text * 2, bg_text, bg_valid, TAU).item()
    assert abs(doubled_text - base) > 1e-3
    assert doubled_text == pytest.approx(
        direct_loss(kind, image_feats, fg_text * 2, bg_text, bg_valid, TAU), rel=1e-12)


@pytest.mark.parametrize("kind", ["fg", "bg"])
def test_temperature(kind):
    batch = random_batch(6, 5, seed=81)
    warm = LOSSES[kind](*batch, 0.7).item()
    cold = LOSSES[kind](*batch, 0.07).item()
    assert abs(warm - cold) > 1e-3
    assert warm == pytest.approx(direct_loss(kind, *batch, 0.7), rel=1e-12)
    assert cold == pytest.approx(direct_loss(kind, *batch, 0.07), rel=1e-12)


def test_shape_mismatch_raises():
    image_feats, fg_text, bg_text, bg_valid = random_batch(3, 4, seed=91)
    with pytest.raises(ValueError):
        foreground_region_contrastive_loss(image_feats, fg_text[:2], bg_text, bg_valid, TAU)
    with pytest.raises(ValueError):
        background_region_contrastive_loss(image_feats, fg_text, bg_text, bg_valid[:, :3], TAU)


def test_area_loss_is_mean_with_uniform_gradient():
    gen = torch.Generator().manual_seed(101)
    cams = torch.sigmoid(torch.randn(2, 20, 4, 5, generator=gen, dtype=torch.float64))
    cams.requires_grad_()
    loss = area_loss(cams)
    values = cams.detach().numpy()
    assert loss.item() == pytest.approx(float(np.sum(values)) / values.size, rel=1e-12)
    loss.backward()
    torch.testing.assert_close(cams.grad, torch.full_like(cams, 1.0 / (2 * 20 * 4 * 5)))
