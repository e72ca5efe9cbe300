"""Multiscale pixel features: layout, names, configuration round trip, tiles."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from seglab.autolabel.features import (
    MAX_FACTOR,
    FeatureConfig,
    as_float_image,
    compute_features,
    iter_tiles,
    scale_factor,
)


def test_stack_shape_and_names_agree():
    cfg = FeatureConfig(sigmas=(1.0, 2.0), color="rgb")
    img = np.random.default_rng(0).integers(0, 255, size=(20, 30, 3), dtype=np.uint8)
    feats = compute_features(img, cfg)
    assert feats.shape == (20, 30, cfg.count(3))
    assert feats.dtype == np.float32
    names = cfg.names(3)
    assert len(names) == feats.shape[2] and len(set(names)) == len(names)
    # raw channel 0 comes first and is the image scaled to [0, 1]
    np.testing.assert_allclose(feats[:, :, 0], img[:, :, 0] / 255.0, atol=1e-6)


def test_gray_uses_one_channel():
    cfg = FeatureConfig(sigmas=(1.0,), color="gray")
    assert compute_features(np.zeros((8, 8, 3), np.uint8), cfg).shape[2] == cfg.count(1) == cfg.count(3)


def test_filters_respond_to_structure():
    """A bright line: positive ridge measure across it, gradient at its flanks, flat far away."""
    img = np.zeros((41, 41), dtype=np.uint8)
    img[:, 20] = 255
    cfg = FeatureConfig(sigmas=(1.0,), families=("grad", "log", "hess"), color="gray", raw=False)
    grad, log, h1, h2 = np.moveaxis(compute_features(img, cfg), 2, 0)
    assert log[20, 20] < 0 and h2[20, 20] < 0  # bright ridge: strongly negative curvature across it
    assert grad[20, 18] > grad[20, 20] and grad[20, 18] > grad[20, 5]
    assert abs(h1[20, 20]) < abs(h2[20, 20])  # no curvature along the line
    assert abs(log[20, 5]) < 1e-3


def test_config_json_round_trip_and_validation():
    cfg = FeatureConfig(sigmas=(2.0, 1.0), families=("st", "gauss"), color="gray", rho=1.5)
    assert cfg.sigmas == (1.0, 2.0) and cfg.families == ("gauss", "st")
    assert FeatureConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown feature"):
        FeatureConfig(families=("sobel",))
    with pytest.raises(ValueError, match="scales"):
        FeatureConfig(sigmas=(0.0,))


def test_image_conversion():
    assert as_float_image(np.full((2, 2), 65535, np.uint16)).max() == 1.0
    assert as_float_image(np.zeros((2, 2, 4), np.uint8)).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="NaN"):
        as_float_image(np.full((2, 2), np.nan))


def test_tiles_cover_the_image_once_and_features_match_inside():
    h, w, tile = 70, 53, 32
    cover = np.zeros((h, w), dtype=int)
    cfg = FeatureConfig(sigmas=(1.0, 2.0))
    img = np.random.default_rng(1).integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    whole = compute_features(img, cfg)
    for t in iter_tiles(h, w, tile, cfg.halo):
        cover[t.y0 : t.y1, t.x0 : t.x1] += 1
        part = compute_features(img[t.oy0 : t.oy1, t.ox0 : t.ox1], cfg)[t.inner_in_outer]
        np.testing.assert_allclose(part, whole[t.y0 : t.y1, t.x0 : t.x1], atol=1e-4)
    assert (cover == 1).all()


def test_wide_scales_use_coarser_grids_only_where_sigma_allows():
    cfg = FeatureConfig()  # scales 0.7..16, coarse grids while sigma / factor >= 2
    assert [scale_factor(s, cfg) for s in cfg.sigmas] == [1, 1, 1, 1, 2, 2, 4, 8]
    assert {scale_factor(s, FeatureConfig(coarse_sigma=0.0)) for s in cfg.sigmas} == {1}
    with pytest.raises(ValueError, match="coarse_sigma"):
        FeatureConfig(coarse_sigma=-1.0)


def test_coarse_grid_features_follow_the_full_resolution_ones():
    """Same stack layout; scales at full resolution are identical, coarse ones nearly so (odd image size
    included: the image is reflected up to a multiple of the factor)."""
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((97, 131)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min())
    coarse_cfg = FeatureConfig(sigmas=(1.0, 4.0, 8.0), color="gray")
    full_cfg = FeatureConfig(sigmas=(1.0, 4.0, 8.0), color="gray", coarse_sigma=0.0)
    coarse, full = compute_features(img, coarse_cfg), compute_features(img, full_cfg)
    assert coarse.shape == full.shape and coarse.flags.c_contiguous
    names = coarse_cfg.names(1)
    for i, name in enumerate(names):
        if name.endswith("@1") and not name.startswith("gray:dog"):
            np.testing.assert_allclose(coarse[:, :, i], full[:, :, i], atol=1e-6, err_msg=name)
        corr = np.corrcoef(coarse[:, :, i].ravel(), full[:, :, i].ravel())[0, 1]
        assert corr > 0.93, (name, corr)


def test_models_saved_before_coarse_grids_keep_full_resolution():
    data = FeatureConfig().to_json()
    assert data["coarse_sigma"] == 2.0
    del data["coarse_sigma"]
    assert FeatureConfig.from_json(data).coarse_sigma == 0.0


def test_tiles_on_the_coarse_grid_match_the_whole_image():
    """Tiles start on multiples of the coarsest grid (tile and halo are multiples of it), so wide scales
    see the same coarse pixels as in the whole image."""
    h, w, tile = 250, 203, 48
    cfg = FeatureConfig(sigmas=(1.0, 16.0), families=("gauss", "grad", "hess", "dog"), color="gray")
    assert cfg.halo % MAX_FACTOR == 0 and scale_factor(16.0, cfg) == MAX_FACTOR
    img = np.random.default_rng(2).integers(0, 255, size=(h, w), dtype=np.uint8)
    whole = compute_features(img, cfg)
    for t in iter_tiles(h, w, tile, cfg.halo):
        part = compute_features(img[t.oy0 : t.oy1, t.ox0 : t.ox1], cfg)[t.inner_in_outer]
        np.testing.assert_allclose(part, whole[t.y0 : t.y1, t.x0 : t.x1], atol=1e-4)
