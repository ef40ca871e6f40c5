"""Video Swin internals, hand-checked: window partition, shift masks, relative position index, sizes."""

from __future__ import annotations

import pytest
import torch

from aivf.model.sizes import VIDEO_SWIN_SIZES
from aivf.model.video_swin.configuration import VideoSwinConfig
from aivf.model.video_swin.modeling import (
    MASK_VALUE,
    VideoSwinModel,
    clip_window,
    relative_position_index,
    shift_attention_mask,
    window_partition,
    window_reverse,
)


def micro_config(**kwargs) -> VideoSwinConfig:
    args = dict(VIDEO_SWIN_SIZES["micro"], num_channels=1, drop_path_rate=0.0)
    args.update(kwargs)
    return VideoSwinConfig(**args)


def test_window_partition_groups_neighbours_and_reverses():
    # x[b, t, h, w, 0] = 100 t + 10 h + w on a 2x4x4 grid, windows 1x2x2.
    t, h, w = torch.meshgrid(torch.arange(2), torch.arange(4), torch.arange(4), indexing="ij")
    x = (100 * t + 10 * h + w).float()[None, ..., None]
    windows = window_partition(x, [1, 2, 2])
    assert windows.shape == (8, 4, 1)
    assert windows[0, :, 0].tolist() == [0, 1, 10, 11]  # first window: top-left 2x2 of frame 0
    assert windows[1, :, 0].tolist() == [2, 3, 12, 13]  # next window along W
    assert windows[4, :, 0].tolist() == [100, 101, 110, 111]  # first window of frame 1
    assert torch.equal(window_reverse(windows, [1, 2, 2], 1, 2, 4, 4), x)


def test_shift_mask_separates_regions_joined_by_the_roll():
    # 1-D along W: 4 tokens, window 2 (along W only), shift 1. After rolling by -1 the last window holds
    # tokens [3, 0]: token 0 wrapped around, so they must not attend to each other.
    mask = shift_attention_mask((1, 1, 4), [1, 1, 2], [0, 0, 1], torch.device("cpu"))
    assert mask.shape == (2, 2, 2)
    assert torch.equal(mask[0], torch.zeros(2, 2))  # window of tokens 1, 2: one region
    assert torch.equal(mask[1], torch.tensor([[0.0, MASK_VALUE], [MASK_VALUE, 0.0]]))


def test_shift_mask_counts_regions_in_3d():
    # Grid 4x4x4, window 2x2x2, shift 1x1x1: the last window of every axis mixes 2 regions per axis.
    mask = shift_attention_mask((4, 4, 4), [2, 2, 2], [1, 1, 1], torch.device("cpu"))
    assert mask.shape == (8, 8, 8)
    assert torch.equal(mask[0], torch.zeros(8, 8))  # interior window: no boundary
    last = mask[-1]  # corner window: 8 tokens from 8 different regions
    assert torch.equal(last == 0, torch.eye(8, dtype=torch.bool))


def test_relative_position_index_by_hand():
    # Window 1x1x2: two tokens along W, table of (1)(1)(3) rows indexed by offset dw + 1.
    assert relative_position_index((1, 1, 2), (1, 1, 2)).tolist() == [[1, 0], [2, 1]]
    # Window 2x2x2: token 0 = (0,0,0), token 7 = (1,1,1); offset (-1,-1,-1) -> row 0, (1,1,1) -> row 26.
    index = relative_position_index((2, 2, 2), (2, 2, 2))
    assert index.shape == (8, 8)
    assert index[0, 7] == 0 and index[7, 0] == 26 and (index.diagonal() == 13).all()


def test_clipped_window_uses_true_offsets_into_the_full_table():
    full = relative_position_index((2, 4, 4), (2, 4, 4))
    clipped = relative_position_index((2, 2, 2), (2, 4, 4))
    # Token (0,0,1) vs (0,1,0) in the clipped 2x2x2 window is offset (0,-1,1) in either window.
    coords_full = {(0, 0, 1): 1, (0, 1, 0): 4}
    coords_clip = {(0, 0, 1): 1, (0, 1, 0): 2}
    assert clipped[coords_clip[(0, 0, 1)], coords_clip[(0, 1, 0)]] == full[coords_full[(0, 0, 1)], coords_full[(0, 1, 0)]]
    legacy = relative_position_index((2, 2, 2), (2, 4, 4), exact=False)
    assert torch.equal(legacy, full[:8, :8]) and not torch.equal(legacy, clipped)


def test_clip_window_to_small_grids():
    assert clip_window((4, 8, 8), [8, 7, 7], [4, 3, 3]) == ([4, 7, 7], [0, 3, 3])
    assert clip_window((16, 2, 2), [8, 4, 4], [4, 2, 2]) == ([8, 2, 2], [4, 0, 0])


@pytest.mark.parametrize("shape", [(2, 4, 1, 32, 32), (1, 5, 1, 36, 44), (1, 2, 1, 8, 8)])
def test_shapes_any_input_size(shape):
    model = VideoSwinModel(micro_config()).eval()
    out = model(torch.randn(shape))
    b, k, _, h, w = shape
    grid = [-(-k // 2), -(-h // 4), -(-w // 4)]
    for _ in range(3):  # three patch mergings, each ceil-halving H and W
        grid[1], grid[2] = -(-grid[1] // 2), -(-grid[2] // 2)
    assert out.last_hidden_state.shape == (b, *grid, 16 * 8)
    assert out.pooler_output.shape == (b, 128)
    assert torch.isfinite(out.last_hidden_state).all()


def test_sdpa_matches_eager_attention():
    torch.manual_seed(0)
    model = VideoSwinModel(micro_config()).eval()
    x = torch.randn(2, 4, 1, 32, 32)
    sdpa = model(x).last_hidden_state
    model.config._attn_implementation = "eager"
    eager = model(x).last_hidden_state
    assert torch.allclose(sdpa, eager, atol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = VideoSwinModel(micro_config(depths=[2, 2, 2, 2])).train()
    x = torch.randn(1, 4, 1, 32, 32)
    model(x).pooler_output.sum().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.activation_checkpointing_enable()
    assert all(block.gradient_checkpointing for stage in model.layers for block in stage.blocks)
    model(x).pooler_output.sum().backward()
    for a, p in zip(plain, model.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)


# torchvision's published parameter counts of swin3d_t/s/b minus their 400-class heads (400 x (D + 1)).
TORCHVISION_BACKBONE_PARAMS = {"tiny": 28_158_070 - 400 * 769, "small": 49_816_678 - 400 * 769,
                               "base": 88_048_984 - 400 * 1025}


@pytest.mark.parametrize("size", ["tiny", "small", "base"])
def test_published_sizes_match_torchvision_parameter_counts(size):
    with torch.device("meta"):  # no memory, no init cost
        model = VideoSwinModel(VideoSwinConfig(**VIDEO_SWIN_SIZES[size], num_channels=3))
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_BACKBONE_PARAMS[size]
