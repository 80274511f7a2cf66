"""Every variant and every L builds, runs forward and backward, with the right shapes."""

from __future__ import annotations

import ast
import inspect
import json

import pytest
import torch

import mgmrn.models.mgmrn as mgmrn_module
from mgmrn.config import load_config
from mgmrn.models.config import VARIANTS
from mgmrn.models.mgmrn import MgMRN
from mgmrn.models.scab import flatten_tokens
from mgmrn.models.stage import StageHead

A, DW = 7, 5


def build(variant: str, stages: int, **extra: str) -> MgMRN:
    overrides = [f"model.variant={variant}", f"model.stages={stages}", "model.backbone=tf_efficientnet_lite0",
                 "model.pretrained=none", "model.channels=32", "model.hidden=16", "model.prototypes=2"]
    overrides += [f"model.{k}={v}" for k, v in extra.items()]
    cfg = load_config(None, overrides)
    torch.manual_seed(0)
    return MgMRN(cfg.model, A, torch.randn(A, DW))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("stages", [1, 2, 3, 4, 5])
def test_variants_and_stage_counts(variant, stages):
    model = build(variant, stages)
    L = 1 if variant == "baseline" else stages
    assert model.num_stages == L
    assert all(type(s) is StageHead for s in model.stages)
    x = torch.randn(2, 3, 32, 32)
    z, attn = model(x, return_attention=True)
    assert z.shape == (2, L, A)
    hw = model.backbone(x)[-1].shape[-2:].numel()
    fused = variant in ("mrm-no-scab", "full")
    # finer stages get 2HW tokens (Eq. 7); the coarsest, with nothing coarser, its own HW
    assert [a.shape for a in attn] == [(2, A, (2 if fused and i < L - 1 else 1) * hw) for i in range(L)]
    z.pow(2).sum().backward()
    # every head parameter trains, except RFM's under Eq. (2) as written (paper pooling)
    frozen = {n for n, p in model.stages.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.stages.named_parameters() if ".rfm." in n}
    assert all(p.grad is not None for p in model.stages.parameters() if p.requires_grad)


def test_coarsest_stage_refining_itself():
    model = build("full", 3, coarsest_fusion="self")
    x = torch.randn(2, 3, 32, 32)
    hw = model.backbone(x)[-1].shape[-2:].numel()
    _, attn = model(x, return_attention=True)
    assert [a.shape[-1] for a in attn] == [2 * hw] * 3
    assert model.stages[-1].fusion.fuse.in_features == 32  # s_L = G_L(g_L)


def test_fusion_tokens_add_keeps_hw_tokens_and_still_fuses():
    x = torch.randn(2, 3, 32, 32)
    concat, add = build("full", 3).eval(), build("full", 3, fusion_tokens="add").eval()
    add.load_state_dict(concat.state_dict())  # the same parameters, only Eq. 7 differs
    hw = concat.backbone(x)[-1].shape[-2:].numel()
    with torch.no_grad():
        z_concat, a_concat = concat(x, return_attention=True)
        z_add, a_add = add(x, return_attention=True)
        assert [a.shape[-1] for a in a_concat] == [2 * hw, 2 * hw, hw]
        assert [a.shape[-1] for a in a_add] == [hw] * 3
        torch.testing.assert_close(z_add[:, -1], z_concat[:, -1])  # the coarsest stage has no fusion
        assert not torch.allclose(z_add[:, 0], z_concat[:, 0], atol=1e-3)
        add.stages[0].fusion.fuse.weight.zero_()  # the finest stage still depends on its SCAB input
        add.stages[0].fusion.fuse.bias.zero_()
        assert not torch.allclose(add(x)[:, 0], z_add[:, 0], atol=1e-4)


def test_fusion_drop_zeroes_whole_samples_fusion_in_training_only():
    """``model.fusion_drop``: per sample, u_hat is dropped (the tokens are the stage's own g)
    or kept and scaled by 1 / (1 - p); evaluation always fuses, unscaled."""
    torch.manual_seed(1)
    scab = build("full", 2, fusion_tokens="add", fusion_drop="0.5").stages[0].fusion
    g, source = torch.randn(64, 32, 3, 3), torch.randn(64, 32, 3, 3)
    scab.eval()
    fused = scab(g, [source])
    u_hat = fused - flatten_tokens(g)
    scab.train()
    out = scab(g, [source])
    own = torch.isclose(out, fused - u_hat, atol=1e-5).flatten(1).all(1)
    scaled = torch.isclose(out, fused - u_hat + 2 * u_hat, atol=1e-5).flatten(1).all(1)
    assert bool((own ^ scaled).all())  # every sample one or the other, never a mix
    assert 16 < int(own.sum()) < 48  # about half dropped
    scab.eval()
    torch.testing.assert_close(scab(g, [source]), fused)


def test_the_one_channel_spatial_mask_acts():
    """The token LayerNorm sits on the stage maps, before SCAB, so Eq. 4's one-channel mask
    changes z (docs/method.md, "Token normalisation")."""
    model, x = build("full", 2).eval(), torch.randn(2, 3, 32, 32)
    spatial = model.stages[0].fusion.spatial
    with torch.no_grad():
        before = model(x)
        spatial.weight.normal_(0, 0.5)
        spatial.bias.normal_(0, 1)
        assert (model(x) - before).abs().max().item() > 1e-2


def test_common_stage_sets_the_token_grid():
    model = build("mgm-no-rfm", 3, common_stage=2)
    x = torch.randn(2, 3, 64, 64)
    maps = model.backbone(x)
    _, attn = model(x, return_attention=True)
    assert [a.shape[-1] for a in attn] == [maps[-2].shape[-2:].numel()] * 3  # finer pooled, coarser upsampled


def test_region_pooling_trains_prototypes_paper_pooling_does_not():
    x = torch.randn(2, 3, 64, 64)
    for pooling, expect in (("region", True), ("paper", False)):
        model = build("full", 3, region_pooling=pooling).double()
        model(x.double()).sum().backward()
        for stage in model.stages:
            grad = stage.rfm.prototypes.grad
            assert (grad is not None and grad.abs().max() > 1e-8) == expect, pooling


def test_reference_head_design_choices():
    model = build("full", 3, head_design="reference")
    stage = model.stages[0]
    assert stage.to_common.mode == "conv-gn-relu"
    assert stage.fusion.spatial.out_channels == 32  # C-channel spatial mask
    assert stage.fusion.channel[0].out_features == 32  # no channel reduction
    assert stage.fusion.detach_sources
    one = build("full", 3, head_design="reference", spatial_mask="single")
    assert one.stages[0].fusion.spatial.out_channels == 1  # each choice on its own
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3, A)


def test_learnable_queries_without_attribute_vectors():
    cfg = load_config(None, ["model.backbone=tf_efficientnet_lite0", "model.pretrained=none",
                             "model.channels=16", "model.hidden=8", "model.query_dim=12"])
    model = MgMRN(cfg.model, A, None)
    assert isinstance(model.w_att, torch.nn.Parameter) and model.w_att.shape == (A, 12)
    model(torch.randn(1, 3, 64, 64)).sum().backward()
    assert model.w_att.grad is not None


def test_no_per_stage_copy_paste():
    """The stage block is defined once and instantiated in a loop, never per stage."""
    source = inspect.getsource(mgmrn_module)
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)
             and getattr(n.func, "id", "") == "StageHead"]
    assert len(calls) == 1


def test_profile_json_contract_and_paper_cost_target(capsys):
    """`mgmrn profile --json` keys; heads at most 25% of the backbone at the paper CUB preset."""
    from mgmrn.cli.main import main

    capsys.readouterr()
    assert main(["profile", "cub", "--json", "--iters", "0"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("params", "backbone_gflops", "head_gflops"):
        assert key in report
    assert 50 < report["backbone_gflops"] < 80  # ResNet-101 at 448x448: about 31 GMAC
    assert report["head_gflops"] <= 0.25 * report["backbone_gflops"]
