"""Audit: rank the human labels most likely to be wrong, with a reason a reviewer can check.

Model-based (cross-validated: every image is predicted by a model trained on the other folds, so it
never saw the label it is compared with):

- ``wrong_class``: most of the object is confidently predicted as another thing (or a stuff label is an
  object of another class);
- ``spurious``: most of the object is confidently predicted as background or stuff: nothing is there;
- ``missing``: a confidently predicted object (or stuff region) that no label of its class covers
  (``annotation_id`` is None);
- ``boundary``: the label's inner band is confidently predicted as something else (outline drawn too
  wide) or the band outside it as the object (too tight).

Model-free checks (edges, duplicates, forbidden overlaps, size and shape outliers, coverage holes) are in
:mod:`seglab.autolabel.checks`; both feed one ranking.

Scores lie in [0, 1]; suspects are sorted by score, most likely first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from scipy import ndimage

from seglab.autolabel.backends import ClassInfo, ModelError, Prediction, classes_from_ontology
from seglab.autolabel.checks import (
    CROSS,
    Suspect,
    SuspectKind,
    area_annotations,
    box_of,
    coverage_holes,
    duplicates_and_overlaps,
    edge_alignment,
    gradient_magnitude,
    is_labeled,
    size_shape_outliers,
)
from seglab.autolabel.instances import InstanceOptions, instance_map, object_instability
from seglab.autolabel.pixel_classifier import TrainConfig, label_map, train_pixel_classifier
from seglab.autolabel.uncertainty import objects_uncertainty
from seglab.core.annotation import Annotation
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.ontology import LabelKind
from seglab.core.raster import shape_to_mask

__all__ = [
    "AuditOptions",
    "AuditResult",
    "Suspect",
    "SuspectKind",
    "audit_dataset",
    "cross_validated_predictions",
]

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class AuditOptions:
    """``folds``: cross-validation folds over the labeled images; ``train``: the fold models' settings
    (one member, no calibration: they only have to rank); ``background``: class that unlabeled pixels
    belong to (exhaustively labeled datasets); ``confident``: probability a model claim needs."""

    folds: int = 5
    train: TrainConfig = field(default_factory=lambda: TrainConfig(members=1, calibration="none"))
    background: str | None = None
    classes: tuple[str, ...] | None = None
    min_area: int = 16
    confident: float = 0.7
    band: int = 3
    model_based: bool = True
    model_free: bool = True


@dataclass
class AuditResult:
    """The ranked suspects, notes on checks that could not run, and each audited image's cross-validated
    class map (PNG-encoded, to keep memory small) for reports."""

    suspects: list[Suspect]
    classes: tuple[ClassInfo, ...] = ()
    notes: list[str] = field(default_factory=list)
    predicted: dict[str, bytes] = field(default_factory=dict)

    def predicted_labels(self, image: str) -> np.ndarray | None:
        data = self.predicted.get(image)
        if data is None:
            return None
        return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)


# ------------------------------------------------------------------------------------------ model-based


def cross_validated_predictions(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    classes: Sequence[ClassInfo],
    *,
    folds: int = 5,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
) -> list[Prediction]:
    """Each image predicted by a model trained on the other folds (images dealt round-robin)."""
    n = len(images)
    if n < 2:
        raise ModelError("cross-validation needs at least two labeled images")
    folds = max(2, min(folds, n))
    assignment = np.arange(n) % folds
    out: list[Prediction | None] = [None] * n
    for f in range(folds):
        if progress:
            progress(f"cross-validation fold {f + 1}/{folds}", f / folds)
        train = np.flatnonzero(assignment != f)
        model = train_pixel_classifier(
            [images[i] for i in train], [labels[i] for i in train], classes, config
        )
        for i in np.flatnonzero(assignment == f):
            out[i] = model.predict(images[i])
    return [p for p in out if p is not None]


def _model_suspects(
    image: ImageRecord,
    anns: Sequence[Annotation],
    human: np.ndarray,
    pred: Prediction,
    classes: Sequence[ClassInfo],
    opt: AuditOptions,
    seen: list[_Seen],
) -> list[Suspect]:
    """Model-based suspects of one image; every annotation checked is also recorded in ``seen`` (with
    the signals it raised) so that :func:`_discount` can weigh a flag by how common it is."""
    size = image.require_size()
    index = {c.name: i for i, c in enumerate(classes)}
    proba, labels = pred.proba, pred.labels  # (H, W, K), (H, W)
    conf = proba.max(axis=2)
    sure = conf >= opt.confident
    out: list[Suspect] = []
    name = image.file_name
    owners = np.zeros(human.shape, dtype=np.int32)  # (H, W) which annotation (1-based) shows on top
    owner_area = np.zeros(len(anns) + 1, dtype=np.int64)
    for n, ann in sorted(enumerate(anns, start=1), key=lambda t: t[1].z_order):
        if ann.label in index:
            mask = shape_to_mask(ann.shape, size).array
            owners[mask] = n
            owner_area[n] = int(mask.sum())
    for ann in anns:
        c = index.get(ann.label)
        if c is None:
            continue
        mask = shape_to_mask(ann.shape, size).array
        area = int(mask.sum())
        if area < opt.min_area:
            continue
        box = box_of(mask)
        hist = np.bincount(labels[mask & sure].ravel(), minlength=len(classes)) / area
        hist[c] = 0.0
        other = int(hist.argmax())
        share = float(hist[other])
        other_cls = classes[other]
        nothing_there = other_cls.background or (
            other_cls.kind is LabelKind.STUFF and classes[c].kind is LabelKind.THING
        )
        record = _Seen(ann.label, area, set())
        seen.append(record)
        if share >= 0.5:
            p_other = float(proba[mask, other].mean())
            if nothing_there:
                record.signals.add("spurious")
            kind = SuspectKind.SPURIOUS if nothing_there else SuspectKind.WRONG_CLASS
            what = "nothing of that kind" if nothing_there else "another class"
            out.append(
                Suspect(
                    name, ann.id, kind, share * p_other,
                    f"labeled {ann.label!r}, but a model that never saw this image sees {what}: "
                    f"{other_cls.name!r} on {share:.0%} of its pixels (mean p={p_other:.2f})",
                    ann.label, box, "cross-validated model",
                )
            )  # fmt: skip
            record.suspect = out[-1] if nothing_there else None
            continue
        inner = mask & ~ndimage.binary_erosion(mask, CROSS, iterations=opt.band)
        outer = ndimage.binary_dilation(mask, CROSS, iterations=opt.band) & ~mask
        excess = float((inner & sure & (labels != c)).sum() / max(inner.sum(), 1))
        deficit = float((outer & sure & (labels == c) & (human != c)).sum() / max(outer.sum(), 1))
        worst = max(excess, deficit)
        if worst >= 0.35:
            record.signals.add("excess" if excess >= deficit else "deficit")
            window = ndimage.binary_dilation(mask, CROSS, iterations=2 * opt.band)
            predicted = (labels == c) & window
            iou = float((predicted & mask).sum() / max((predicted | mask).sum(), 1))
            where = "outside the object" if excess >= deficit else "inside the object's edge"
            out.append(
                Suspect(
                    name, ann.id, SuspectKind.BOUNDARY, worst * (1.0 - iou) ** 0.5,
                    f"the outline runs {where} along {worst:.0%} of its {opt.band}-pixel band "
                    f"(IoU with the model's {ann.label!r} here: {iou:.2f})",
                    ann.label, box, "cross-validated model",
                )
            )  # fmt: skip
            record.suspect = out[-1]
    out += _missing(image, human, owners, owner_area, pred, classes, opt)
    return out


@dataclass
class _Seen:
    """One annotation the model-based checks looked at: its class, area, the signals it raised
    (``spurious``, ``excess``, ``deficit``) and the suspect made from them."""

    label: str
    area: int
    signals: set[str]
    suspect: Suspect | None = None


def _discount(seen: Sequence[_Seen], bins: int = 4) -> dict[int, Suspect]:
    """Weigh spurious and boundary flags by how often labels of the same class and size raise them.

    A model trained on a few images misses some objects of a kind (tiny cells between membranes) and
    draws some outlines differently from people; when a flag is raised for a good part of all labels of a
    class and size, one more such flag says little about that label. The score is multiplied by one minus
    that rate (a confident-learning style per-class threshold). Returns ``id(old suspect) -> new``.
    """
    out: dict[int, Suspect] = {}
    by_label: dict[str, list[_Seen]] = defaultdict(list)
    for rec in seen:
        by_label[rec.label].append(rec)
    for label, recs in by_label.items():
        areas = np.log(np.array([r.area for r in recs], dtype=np.float64))
        n_bins = bins if len(recs) >= 10 * bins else 1
        edges = np.quantile(areas, np.linspace(0, 1, n_bins + 1)[1:-1]) if n_bins > 1 else np.array([])
        which = np.searchsorted(edges, areas, side="right")  # (N,) size bin of each label
        for signal in ("spurious", "excess", "deficit"):
            raised = np.array([signal in r.signals for r in recs])
            for b in range(n_bins):
                members = which == b
                rate = float(raised[members].mean()) if members.any() else 0.0
                for r in np.array(recs, dtype=object)[members & raised]:
                    if r.suspect is None or id(r.suspect) in out:
                        continue
                    note = f"; {rate:.0%} of {label!r} labels of this size raise this flag, so it counts less"
                    out[id(r.suspect)] = replace(
                        r.suspect,
                        score=r.suspect.score * (1.0 - rate),
                        explanation=r.suspect.explanation + note,
                    )
    return out


def _missing(
    image: ImageRecord,
    human: np.ndarray,
    owners: np.ndarray,
    owner_area: np.ndarray,
    pred: Prediction,
    classes: Sequence[ClassInfo],
    opt: AuditOptions,
) -> list[Suspect]:
    """Confident predicted objects that no label of their class covers. An object that one labeled
    object of another class covers is left out: it is that label's wrong_class suspect already."""
    options = InstanceOptions(min_area=opt.min_area)
    ids, owner = instance_map(pred, classes, options)
    unstable = object_instability(pred, classes, ids, owner, options)
    doubt = objects_uncertainty(ids, pred.uncertainty().total, instability=unstable)
    typical = {
        k: float(np.median([doubt[i + 1].value for i in np.flatnonzero(owner == k)]))
        for k in np.unique(owner).tolist()
    }
    out = []
    for index, sl in enumerate(ndimage.find_objects(ids)):
        if sl is None:
            continue
        c = int(owner[index])
        obj = ids[sl] == index + 1
        area = int(obj.sum())
        if area < opt.min_area:
            continue
        covered = float((human[sl][obj] == c).mean())
        p = float(pred.proba[sl][obj, c].mean())
        if covered >= 0.2 or p < opt.confident:
            continue
        under = np.bincount(owners[sl][obj], minlength=len(owner_area))
        under[0] = 0
        top = int(under.argmax())
        if top and under[top] >= 0.5 * area and owner_area[top] <= 2 * under[top]:
            continue
        there = human[sl][obj]
        unlabeled = float((there >= len(classes)).mean())
        labeled_as = np.bincount(there[there < len(classes)], minlength=len(classes))
        if unlabeled < 0.5 and labeled_as.sum():
            if classes[c].kind is LabelKind.STUFF:
                continue  # stuff labeled as a thing is reported from the thing's side
            under = classes[int(labeled_as.argmax())]
            if not (under.background or under.kind is LabelKind.STUFF):
                continue  # covered by another object: a wrong_class suspect of that object
            detail = f"labeled {under.name!r}"
        else:
            detail = "unlabeled"
        cls = classes[c]
        what = f"a {cls.name!r} object" if cls.kind is LabelKind.THING else f"a {cls.name!r} region"
        # an object more doubtful than the model's typical one is more likely the model's mistake
        sure = 1.0 - max(0.0, doubt[index + 1].value - typical[c])
        out.append(
            Suspect(
                image.file_name, None, SuspectKind.MISSING, p * (1.0 - covered) * sure,
                f"a model that never saw this image sees {what} of {area} px (mean p={p:.2f}, "
                f"object uncertainty {doubt[index + 1].value:.2f}) that no {cls.name!r} label covers "
                f"({detail})",
                cls.name, box_of(obj, sl), "cross-validated model",
            )
        )  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------ entry point


def audit_dataset(
    dataset: Dataset, options: AuditOptions | None = None, *, progress: Progress | None = None
) -> AuditResult:
    """Rank likely label errors in ``dataset`` (images need media for the pixel checks)."""
    opt = options or AuditOptions()
    report = progress or (lambda _m, _f: None)
    ontology = dataset.ontology
    classes = classes_from_ontology(ontology, opt.classes)
    if opt.background is not None:
        if opt.background not in [c.name for c in classes]:
            raise ModelError(f"background class {opt.background!r} is not among {[c.name for c in classes]}")
        classes = tuple(
            ClassInfo(c.name, LabelKind.STUFF, True) if c.name == opt.background else c for c in classes
        )
    result = AuditResult([], classes)
    labeled = [img for img in dataset.images if is_labeled(img, ontology)]
    with_pixels = [img for img in labeled if img.media is not None]
    names = [c.name for c in classes]
    if opt.model_free:
        report("model-free checks", 0.0)
        result.suspects += size_shape_outliers(dataset, ontology)
        for img in labeled:
            anns = area_annotations(img, ontology)
            result.suspects += duplicates_and_overlaps(img, anns, ontology)
            if ontology.full_coverage:
                result.suspects += coverage_holes(img, ontology, opt.min_area)
    pixels: dict[int, np.ndarray] = {}
    if opt.model_free:
        for img in with_pixels:
            px = img.media.read()  # type: ignore[union-attr]
            pixels[id(img)] = px
            anns = [a for a in area_annotations(img, ontology) if (c := ontology.get(a.label)) and c.is_thing]
            result.suspects += edge_alignment(img, anns, gradient_magnitude(px), opt.min_area)
    if opt.model_based:
        if len(with_pixels) < 2:
            result.notes.append(
                "model-based checks skipped: they need at least two labeled images with pixels"
            )
        else:
            images = [pixels.get(id(img)) for img in with_pixels]
            images = [
                px if px is not None else img.media.read()  # type: ignore[union-attr]
                for px, img in zip(images, with_pixels, strict=True)
            ]
            humans = [
                label_map(img.annotations, names, img.require_size(), background=opt.background)
                for img in with_pixels
            ]
            preds = cross_validated_predictions(
                images, humans, classes, folds=opt.folds, config=opt.train,
                progress=lambda m, f: report(m, 0.2 + 0.7 * f),
            )  # fmt: skip
            seen: list[_Seen] = []
            found: list[Suspect] = []
            for img, human, pred in zip(with_pixels, humans, preds, strict=True):
                anns = [a for a in area_annotations(img, ontology) if a.label in names]
                found += _model_suspects(img, anns, human, pred, classes, opt, seen)
                ok, png = cv2.imencode(".png", pred.labels)
                if ok:
                    result.predicted[img.file_name] = png.tobytes()
            discounted = _discount(seen)
            result.suspects += [discounted.get(id(s), s) for s in found]
    result.suspects = _merge_same_object(result.suspects)
    result.suspects.sort(key=lambda s: (-s.score, s.image, s.annotation_id or 0))
    report("done", 1.0)
    return result


def _merge_same_object(suspects: list[Suspect]) -> list[Suspect]:
    """One suspect per (image, annotation, kind): the highest score, with the other checks that agree
    raising it (independent evidence: ``1 - prod(1 - s)``) and named in the explanation."""
    groups: dict[tuple, list[Suspect]] = defaultdict(list)
    for i, s in enumerate(suspects):
        key = (s.image, s.annotation_id, s.kind) if s.annotation_id is not None else (i,)
        groups[key].append(s)
    out = []
    for group in groups.values():
        group.sort(key=lambda s: -s.score)
        head = group[0]
        if len(group) > 1:
            combined = 1.0 - float(np.prod([1.0 - s.score for s in group]))
            also = "; ".join(f"{s.check}: {s.explanation}" for s in group[1:])
            head = Suspect(
                head.image, head.annotation_id, head.kind, combined, f"{head.explanation}; also {also}",
                head.label, head.box, " + ".join(s.check for s in group),
            )  # fmt: skip
        out.append(head)
    return out
