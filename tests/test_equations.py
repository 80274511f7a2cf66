"""Each equation of Section III against a direct, naive computation on random inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mgmrn.models.rfm import RegionFeatureMining, region_assignments
from mgmrn.models.scab import AttentionMasks, SpatialChannelAttention
from mgmrn.models.scoring import fused_scores, stage_scores
from mgmrn.models.vsd import VisualSemanticDecoder
from mgmrn.training.losses import (
    Criterion,
    LossConfig,
    attribute_regression,
    self_calibration,
    semantic_cross_entropy,
)

torch.manual_seed(0)


def naive_assignments(f, r, sigma):
    B, C, H, W = f.shape
    M = r.shape[0]
    a = torch.zeros(B, M, H, W, dtype=torch.float64)
    for b in range(B):
        for i in range(H):
            for j in range(W):
                e = [math.exp(-(((f[b, :, i, j] - r[m]) / sigma[m]) ** 2).sum().item() / 2) for m in range(M)]
                for m in range(M):
                    a[b, m, i, j] = e[m] / sum(e)
    return a


def test_eq1_assignments():
    f = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    r = torch.randn(4, 5, dtype=torch.float64)
    sigma = torch.rand(4, dtype=torch.float64) + 1.0
    a = region_assignments(f, r, sigma)
    torch.testing.assert_close(a, naive_assignments(f, r, sigma))
    torch.testing.assert_close(a.sum(1), torch.ones(2, 3, 4, dtype=torch.float64))


def test_eq1_assignments_stay_float32_under_bf16_autocast():
    """Eq. 1's distances cancel (||f||^2 - 2 f.r + ||r||^2): they are computed in float32 even
    inside a bf16 autocast region."""
    torch.manual_seed(0)
    rfm = RegionFeatureMining(256, 5, pooling="region")
    f = torch.relu(torch.randn(2, 256, 6, 6)) * 3
    exact = rfm.assignments(f)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = rfm.assignments(f)
    torch.testing.assert_close(cast, exact, atol=1e-5, rtol=0)


def test_eq2_paper_pooling_is_f_over_m_and_prototypes_get_no_gradient():
    rfm = RegionFeatureMining(6, 5, pooling="paper").double()
    f = torch.randn(2, 6, 4, 4, dtype=torch.float64, requires_grad=True)
    g = rfm(f)
    torch.testing.assert_close(g, f / 5)
    # naive literal Eq. (2): (1/M) sum_m a_m * f, and the module's written-order computation
    a = naive_assignments(f.detach(), rfm.prototypes.detach(), rfm.sigma.detach())
    naive = sum(a[:, m : m + 1] * f.detach() for m in range(5)) / 5
    torch.testing.assert_close(g.detach(), naive)
    # the written order gives the same output and input gradient, and no prototype gradient
    rfm.requires_grad_(True)
    literal = rfm.literal_forward(f)
    torch.testing.assert_close(literal, g)
    weight = torch.randn_like(g)
    (grad_closed,) = torch.autograd.grad((g * weight).sum(), f)
    grad_f, grad_r, grad_s = torch.autograd.grad((literal * weight).sum(), (f, rfm.prototypes, rfm.log_sigma))
    torch.testing.assert_close(grad_f, grad_closed)
    assert grad_r.abs().max() < 1e-12 and grad_s.abs().max() < 1e-12
    # hence the closed form freezes them
    assert not RegionFeatureMining(6, 5, pooling="paper").prototypes.requires_grad


def test_eq2_region_pooling_naive_and_all_parameters_get_gradient():
    rfm = RegionFeatureMining(6, 3, pooling="region").double()
    f = torch.randn(2, 6, 4, 5, dtype=torch.float64)
    g = rfm(f)
    a = naive_assignments(f, rfm.prototypes.detach(), rfm.sigma.detach())
    expected = torch.zeros_like(f)
    for b in range(2):
        for m in range(3):
            z_m = (a[b, m] * f[b]).sum((1, 2)) / a[b, m].sum()
            expected[b] += a[b, m][None] * z_m[:, None, None]
    torch.testing.assert_close(g.detach(), expected)
    (g * torch.randn_like(g)).sum().backward()
    assert (rfm.prototypes.grad.abs().sum(1) > 0).all()
    assert (rfm.log_sigma.grad.abs() > 0).all()


@pytest.mark.parametrize("spatial_mask", ["single", "channel"])
def test_eq3_to_7_scab(spatial_mask):
    C, H, W = 8, 4, 4
    block = SpatialChannelAttention(C, 2, masks=AttentionMasks(spatial_mask, 3, 2)).double()
    g = torch.randn(2, C, H, W, dtype=torch.float64)
    coarse = [torch.randn(2, C, H, W, dtype=torch.float64) for _ in range(2)]
    tokens = block(g, coarse)
    assert tokens.shape == (2, 2 * H * W, C)
    # Eq. (3): a fully connected layer on the concatenated coarser features, per position.
    cat = torch.cat(coarse, 1)
    Wg, bg = block.fuse.weight, block.fuse.bias
    s = torch.einsum("oc,bchw->bohw", Wg, cat) + bg[None, :, None, None]
    # Eq. (4): convolution with kernel v, then sigmoid (explicit sum over kernel offsets).
    v, bv = block.spatial.weight, block.spatial.bias
    pad = F.pad(s, (1, 1, 1, 1))
    conv = torch.zeros(2, v.shape[0], H, W, dtype=torch.float64)
    for i in range(H):
        for j in range(W):
            patch = pad[:, :, i : i + 3, j : j + 3]
            conv[:, :, i, j] = torch.einsum("bckl,ockl->bo", patch, v) + bv
    a_s = torch.sigmoid(conv)
    # Eq. (5): sigmoid(W2 relu(W1 GAP(s))).
    W1, b1 = block.channel[0].weight, block.channel[0].bias
    W2, b2 = block.channel[2].weight, block.channel[2].bias
    gap = s.mean((2, 3))
    a_c = torch.sigmoid(torch.relu(gap @ W1.T + b1) @ W2.T + b2)
    # Eq. (6) and (7).
    u_hat = s * a_s * a_c[:, :, None, None]
    expected = torch.cat([g.flatten(2).transpose(1, 2), u_hat.flatten(2).transpose(1, 2)], 1)
    torch.testing.assert_close(tokens, expected)
    ma_s, ma_c = block.masks(s)
    torch.testing.assert_close(ma_s, a_s)
    assert ma_s.shape[1] == (1 if spatial_mask == "single" else C)


def test_scab_tokens_added_to_the_stage_tokens():
    """``tokens="add"``: the HW tokens g + u_hat instead of Eq. 7's 2HW [g; u_hat]."""
    torch.manual_seed(0)
    concat = SpatialChannelAttention(6, 2, masks=AttentionMasks(kernel=3, reduction=2)).double()
    add = SpatialChannelAttention(6, 2, masks=AttentionMasks(kernel=3, reduction=2), tokens="add").double()
    add.load_state_dict(concat.state_dict())
    g = torch.randn(2, 6, 3, 3, dtype=torch.float64)
    coarse = [torch.randn(2, 6, 3, 3, dtype=torch.float64) for _ in range(2)]
    both = concat(g, coarse)
    torch.testing.assert_close(add(g, coarse), both[:, :9] + both[:, 9:])


def test_plain_fusion_without_scab_and_detach():
    block = SpatialChannelAttention(4, 1, attention=False, detach_sources=True).double()
    g = torch.randn(1, 4, 2, 2, dtype=torch.float64)
    coarse = torch.randn(1, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    tokens = block(g, [coarse])
    s = block.fuse(coarse.detach())
    torch.testing.assert_close(tokens[:, 4:], s.flatten(2).transpose(1, 2))
    tokens.sum().backward()
    assert coarse.grad is None  # coarse features detached

    own = g.clone().requires_grad_()  # the coarsest stage refining itself keeps its gradient
    block(own, [own])[:, 4:].sum().backward()
    assert own.grad is not None and own.grad.abs().sum() > 0


@pytest.mark.parametrize("embedding,scaled", [("paper", True), ("free", False)])
def test_eq8_to_10_decoder(embedding, scaled):
    C, dw, d, A, T = 6, 5, 7, 4, 9
    dec = VisualSemanticDecoder(C, dw, d, n_attributes=A, embedding=embedding, scaled=scaled).double()
    tokens = torch.randn(2, T, C, dtype=torch.float64) * 3 + 1
    w_att = torch.randn(A, dw, dtype=torch.float64)
    z, attn = dec(tokens, w_att, return_attention=True)
    # Naive: per image, per attribute.
    expected = torch.zeros(2, A, dtype=torch.float64)
    for b in range(2):
        for s in range(A):
            q = dec.q.weight @ w_att[s]
            logits = torch.stack([(q * (dec.k.weight @ tokens[b, t])).sum() for t in range(T)])
            logits = logits / (math.sqrt(d) if scaled else 1.0)
            alpha = torch.softmax(logits, 0)
            torch.testing.assert_close(attn[b, s], alpha)
            ctx = sum(alpha[t] * (dec.v.weight @ tokens[b, t]) for t in range(T))
            p = dec.o.weight @ ctx  # Eq. (9)
            V = dec.w.weight @ w_att[s] if embedding == "paper" else dec.free[s]  # Eq. (10)
            expected[b, s] = (p * V).sum()
    torch.testing.assert_close(z, expected)
    torch.testing.assert_close(dec.reference_forward(tokens, w_att), expected)


def test_eq11_to_14_scores_and_losses():
    B, L, A, K = 3, 2, 5, 4
    z = torch.randn(B, L, A, dtype=torch.float64)
    att = torch.randn(K, A, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1])
    scale = 20.0
    logits = stage_scores(z, att, scale)
    cos = torch.zeros(B, L, K, dtype=torch.float64)
    for b in range(B):
        for l in range(L):
            for c in range(K):
                cos[b, l, c] = (z[b, l] @ att[c]) / (z[b, l].norm() * att[c].norm())
    torch.testing.assert_close(logits, scale * cos.float())
    # Eq. (11): -log softmax of the true class, mean over the batch, per stage.
    sce = torch.stack([
        sum(-torch.log(torch.exp(scale * cos[b, l, labels[b]]) / torch.exp(scale * cos[b, l]).sum()) for b in range(B)) / B
        for l in range(L)
    ])
    torch.testing.assert_close(semantic_cross_entropy(logits, labels), sce.float())
    # Eq. (12): 1/N sum_i ||z - z_hat||^2.
    ar = torch.stack([sum(((z[b, l] - att[labels[b]]) ** 2).sum() for b in range(B)) / B for l in range(L)])
    torch.testing.assert_close(attribute_regression(z, att[labels]), ar.float())
    zn, an = F.normalize(z, dim=-1), F.normalize(att[labels], dim=-1)
    arn = ((zn - an[:, None]) ** 2).sum(-1).mean(0)
    torch.testing.assert_close(attribute_regression(z, att[labels], normalize=True), arn.float())
    # Eq. (13): summed over stages (one step, train.stage_updates=joint) or one stage per step
    # (per-stage); AR weight applies to Eq. (12).
    criterion = Criterion(LossConfig(ar_weight=0.5), scale, att, range(K), [None])
    torch.testing.assert_close(criterion.stage_losses(z, labels), (sce + 0.5 * ar).float())
    torch.testing.assert_close(criterion(z, labels), (sce + 0.5 * ar).sum().float())
    torch.testing.assert_close(criterion(z, labels, 1), (sce + 0.5 * ar)[1].float())
    # Eq. (14): argmax over the sum of per-stage scores.
    torch.testing.assert_close(fused_scores(z, att, scale), scale * cos.sum(1).float())


def test_self_calibration_against_a_naive_computation():
    """loss.sc_weight: -mean over the unseen classes of log p_u, p the softmax over all classes."""
    B, L, A, Ks, Ku, scale = 3, 2, 6, 4, 3, 20.0
    z, seen, unseen = torch.randn(B, L, A), torch.randn(Ks, A), torch.randn(Ku, A)
    every = torch.cat([seen, unseen])
    naive = torch.zeros(L)
    for l in range(L):
        for b in range(B):
            s = torch.stack([scale * F.cosine_similarity(z[b, l], every[c], dim=0) for c in range(Ks + Ku)])
            p = torch.exp(s) / torch.exp(s).sum()
            naive[l] += -torch.log(p[Ks:]).mean() / B
    torch.testing.assert_close(self_calibration(stage_scores(z, every, scale), Ks), naive)


def test_criterion_maps_global_labels_to_the_phase_and_adds_self_calibration():
    """The criterion of a phase whose seen classes interleave with the others (global ids
    3, 0, 5 of 7): Eq. (11)'s softmax runs over those three classes, in that order, and
    L_SC over the four without training images; weight 0 leaves Eq. (13) unchanged."""
    B, L, A, scale = 4, 2, 6, 20.0
    z, att = torch.randn(B, L, A), torch.randn(7, A)
    seen, others = [3, 0, 5], [1, 2, 4, 6]
    labels = torch.tensor([0, 5, 3, 0])  # global ids
    local = torch.tensor([1, 2, 0, 1])
    naive_sce, naive_sc = torch.zeros(L), torch.zeros(L)
    for l in range(L):
        for b in range(B):
            s = torch.stack([scale * F.cosine_similarity(z[b, l], att[c], dim=0) for c in seen])
            naive_sce[l] += -torch.log_softmax(s, 0)[local[b]] / B
            s_all = torch.stack([scale * F.cosine_similarity(z[b, l], att[c], dim=0) for c in seen + others])
            naive_sc[l] += -torch.log_softmax(s_all, 0)[len(seen):].mean() / B
    naive_ar = attribute_regression(z, att[labels])
    plain = Criterion(LossConfig(ar_weight=0.1), scale, att, seen, [None])
    torch.testing.assert_close(plain.unseen_attributes, att[others])
    torch.testing.assert_close(plain.stage_losses(z, labels), naive_sce + 0.1 * naive_ar)
    calibrated = Criterion(LossConfig(ar_weight=0.1, sc_weight=0.3), scale, att, seen, [None])
    torch.testing.assert_close(calibrated.stage_losses(z, labels), naive_sce + 0.1 * naive_ar + 0.3 * naive_sc)
    everything = Criterion(LossConfig(sc_weight=1.0), scale, att, range(7), [None])  # no class without images
    torch.testing.assert_close(everything.stage_losses(z, labels),
                               Criterion(LossConfig(), scale, att, range(7), [None]).stage_losses(z, labels))


def test_decoder_reuses_folded_weights_only_while_parameters_are_unchanged():
    dec = VisualSemanticDecoder(8, 5, 6, n_attributes=3)
    w_att, tokens = torch.randn(3, 5), torch.randn(2, 4, 8)
    with torch.no_grad():
        dec(tokens, w_att)
        first = dec._folded_value
        dec(tokens, w_att)
        assert dec._folded_value is first  # reused
        dec.k.weight.mul_(2.0)  # an optimiser step or load_state_dict changes a version
        z = dec(tokens, w_att)
        assert dec._folded_value is not first
        torch.testing.assert_close(z, dec.reference_forward(tokens, w_att))
    dec(tokens, w_att)  # with autograd: always recomputed, nothing cached
    assert dec._folded_key is None
