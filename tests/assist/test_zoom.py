"""Zoom-in: crops around small objects, their coordinates, caching, and the answer pasted back."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.assist import AssistSession, segment
from seglab.assist.combined import AutoParams
from seglab.assist.noc import iou
from seglab.assist.prompts import Prompts, click_pixels
from seglab.assist.zoom import Crop, object_box, paste, plan, to_crop
from seglab.core.conventions import ImageSize


def _small_object_image() -> tuple[np.ndarray, np.ndarray]:
    """A 640x480 textured background with a small red disk (radius 14) at (420, 150)."""
    rng = np.random.default_rng(3)
    img = np.full((480, 640, 3), (70, 120, 80), np.float64) + rng.normal(0, 10, (480, 640, 3))
    yy, xx = np.mgrid[0:480, 0:640]
    target = (xx - 420) ** 2 + (yy - 150) ** 2 <= 14**2
    img[target] = (190, 50, 40)
    return np.clip(img, 0, 255).astype(np.uint8), target


def test_plan_zooms_small_objects_only() -> None:
    session = AssistSession(np.zeros((480, 640, 3), np.uint8))
    crop = plan(session, (400, 130, 440, 170), margin=0.4, min_margin=16, side=480, min_gain=1.5)
    assert crop is not None
    assert crop.contains((400, 130, 440, 170)) and max(crop.size) == 480
    assert crop.size.area <= session.work_pixels
    assert plan(session, (20, 20, 600, 460), margin=0.4, min_margin=16, side=480, min_gain=1.5) is None


@settings(max_examples=60, deadline=None)
@given(
    x0=st.integers(0, 300),
    y0=st.integers(0, 200),
    w=st.integers(8, 300),
    h=st.integers(8, 200),
    side=st.integers(64, 600),
    fx=st.floats(0.0, 0.999),
    fy=st.floats(0.0, 0.999),
)
def test_clicks_land_on_the_same_pixel_in_the_crop(
    x0: int, y0: int, w: int, h: int, side: int, fx: float, fy: float
) -> None:
    """A click maps into the crop at the resampled place of its own pixel, and a crop-sized mask pastes back
    onto exactly the crop's box."""
    scale = side / max(w, h)
    crop = Crop(x0, y0, x0 + w, y0 + h, ImageSize(max(2, round(w * scale)), max(2, round(h * scale))))
    size = ImageSize(700, 500)
    x, y = x0 + fx * w, y0 + fy * h
    prompts = Prompts.build(size, positives=[(x, y)], previous=np.zeros(size.shape, bool))
    inside = to_crop(prompts, crop)
    (r,), (c,) = click_pixels(inside.positives)
    assert abs((c + 0.5) / crop.size.width * w - (x - x0)) <= w / crop.size.width + 1e-9
    assert abs((r + 0.5) / crop.size.height * h - (y - y0)) <= h / crop.size.height + 1e-9
    assert inside.previous is not None and inside.previous.shape == crop.size.shape
    out = paste(np.ones(crop.size.shape, bool), crop, np.zeros(size.shape, bool))
    assert out.sum() == w * h and out[y0 : y0 + h, x0 : x0 + w].all()


def test_object_box_covers_the_mask_and_every_click() -> None:
    mask = np.zeros((50, 60), bool)
    mask[10:20, 30:40] = True
    prompts = Prompts.build(ImageSize(60, 50), positives=[(35.5, 15.5)], negatives=[(5.2, 44.9)])
    assert object_box(prompts, mask) == (5, 10, 40, 45)


def test_corrections_on_a_small_object_zoom_once() -> None:
    img, target = _small_object_image()
    session = AssistSession(img)
    previous = target.copy()
    previous[:, 420:] = False  # the left half of the object
    clicks = {"positives": [(420.5, 150.5), (428.5, 150.5)], "previous": previous, "session": session}
    second = segment(img, **clicks)
    third = segment(img, negatives=[(435.5, 150.5)], **clicks)
    assert session.counts["zoom_crop"] == 1  # the second correction reuses the crop
    assert iou(second, target) > 0.9 and iou(third, target) > 0.9
    unzoomed = segment(img, params=AutoParams(zoom=False), **clicks)
    assert iou(second, target) >= iou(unzoomed, target) - 0.02
    assert not second[:100].any() and not second[250:].any()  # nothing away from the object
