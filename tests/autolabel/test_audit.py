"""The audit finds labels corrupted on purpose: deleted objects, swapped classes, dilated outlines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from seglab.autolabel import AuditOptions, SuspectKind, audit_dataset
from seglab.autolabel.report import write_report
from seglab.core import Dataset, LabelKind, Mask, Ontology
from seglab.core.ontology import LabelClass
from tests.autolabel.scenes import fast_config, scene_dataset

OPTIONS = AuditOptions(folds=4, train=fast_config(members=1, calibration="none"))


def _corrupt(ds: Dataset) -> tuple[Dataset, dict[str, tuple[int, SuspectKind]]]:
    """Delete an object in image 1, swap a class in image 2, dilate an outline in image 3."""
    images = list(ds.images)
    truth = {}
    img = images[0]
    victim = next(a for a in img.annotations if a.label != "background")
    images[0] = img.with_annotations([a for a in img.annotations if a.id != victim.id])
    truth[img.file_name] = (victim.id, SuspectKind.MISSING)
    img = images[1]
    victim = next(a for a in img.annotations if a.label == "disc")
    images[1] = img.with_annotations(
        [a.with_(label="square") if a.id == victim.id else a for a in img.annotations]
    )
    truth[img.file_name] = (victim.id, SuspectKind.WRONG_CLASS)
    img = images[2]
    victim = next(a for a in img.annotations if a.label == "square")
    grown = Mask.from_array(ndimage.binary_dilation(victim.shape.array, iterations=3))
    images[2] = img.with_annotations(
        [a.with_(shape=grown) if a.id == victim.id else a for a in img.annotations]
    )
    truth[img.file_name] = (victim.id, SuspectKind.BOUNDARY)
    return ds.with_images(images), truth


@pytest.fixture(scope="module")
def audited():
    ds, truth = _corrupt(scene_dataset([1, 2, 3, 4, 5], n_objects=5))
    return ds, truth, audit_dataset(ds, OPTIONS)


def test_every_corruption_is_among_the_top_suspects(audited):
    _, truth, result = audited
    top = result.suspects[:8]
    for image, (ann_id, kind) in truth.items():
        hits = [s for s in top if s.image == image and s.kind is kind]
        assert hits, f"{kind} in {image} not found in {[(s.image, s.kind, s.score) for s in top]}"
        if kind is SuspectKind.MISSING:
            assert hits[0].annotation_id is None and hits[0].box is not None
            deleted = next(img for img in scene_dataset([1], n_objects=5).images).annotations
            box = next(a for a in deleted if a.id == ann_id).bounds()
            x0, y0, x1, y1 = hits[0].box
            assert x0 < box.x_max and box.x_min < x1 and y0 < box.y_max and box.y_min < y1
        else:
            assert hits[0].annotation_id == ann_id
    scores = [s.score for s in result.suspects]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_clean_dataset_has_no_strong_suspects(audited):
    clean = scene_dataset([1, 2, 3, 4, 5], n_objects=5)
    result = audit_dataset(clean, OPTIONS)
    _, _, corrupted = audited
    worst_clean = max((s.score for s in result.suspects), default=0.0)
    corrupted_scores = sorted((s.score for s in corrupted.suspects), reverse=True)[:3]
    assert worst_clean < min(corrupted_scores)


def test_json_shape_and_report(audited, tmp_path):
    ds, _, result = audited
    rows = [s.to_json() for s in result.suspects]
    json.dumps(rows)
    assert set(rows[0]) >= {"image", "annotation_id", "kind", "score", "explanation"}
    page = write_report(result, ds, tmp_path / "report", top=5)
    text = page.read_text()
    assert text.count("<img ") == 5
    assert (tmp_path / "report" / "suspect-001.png").is_file()


def test_model_free_checks_duplicates_overlaps_and_holes():
    ds = scene_dataset([3], n_objects=3)
    img = ds.images[0]
    disc = next(a for a in img.annotations if a.label == "disc")
    dup = disc.with_(id=99)
    anns = [a for a in img.annotations if a.label != "background"] + [dup]
    onto = Ontology(tuple(LabelClass(c.name, c.color, c.kind) for c in ds.ontology), full_coverage=True)
    ds2 = Dataset(onto, (img.with_annotations(anns),))
    result = audit_dataset(ds2, AuditOptions(model_based=False))
    checks = {(s.check, s.annotation_id) for s in result.suspects}
    assert ("duplicates", 99) in checks
    holes = [s for s in result.suspects if s.check == "panoptic coverage"]
    assert holes and holes[0].annotation_id is None  # the background was removed: nothing covers it
    assert "at least two labeled images" not in " ".join(result.notes)


def test_size_outlier_and_edge_misalignment_without_a_model():
    ds = scene_dataset([1, 2, 3, 4, 5, 6], n_objects=5)
    img = ds.images[0]
    victim = next(a for a in img.annotations if a.label == "disc")
    huge = np.zeros(victim.shape.size.shape, dtype=bool)
    huge[2:90, 2:90] = True
    images = list(ds.images)
    images[0] = img.with_annotations(
        [a.with_(shape=Mask.from_array(huge)) if a.id == victim.id else a for a in img.annotations]
    )
    result = audit_dataset(ds.with_images(images), AuditOptions(model_based=False))
    mine = [s for s in result.suspects if s.annotation_id == victim.id]
    assert mine and mine[0] is result.suspects[0]
    assert "size" in mine[0].explanation or "edges" in mine[0].explanation


def test_stuff_kinds_and_single_image_note():
    ds = scene_dataset([1], n_objects=2)
    result = audit_dataset(ds, AuditOptions(model_based=True))
    assert any("at least two labeled images" in n for n in result.notes)
    assert ds.ontology["background"].kind is LabelKind.STUFF
