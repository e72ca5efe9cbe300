"""Format throughput of seglab beside Datumaro: read a big COCO file, write COCO, YOLO, VOC, COCO panoptic.

Not a test. It generates a synthetic COCO instances dataset (``--images`` images, ``--instances`` polygon
objects of 10-60 vertices, some in several parts, 1% crowd regions as uncompressed RLE; 640x480 images whose
pixels are never generated: every writer runs with image copying off), then times each step in a fresh
subprocess so that peak memory (``VmHWM``) belongs to that step alone (wall-clock and CPU seconds):

- ``coco read``: parse the annotations into memory (Datumaro: import and iterate every item);
- ``write coco``: instances JSON back (Datumaro: ``coco_instances``);
- ``write yolo (detect)``: Ultralytics box labels, seglab's ``detect`` task beside Datumaro's
  ``yolo_ultralytics`` exporter, which writes boxes (like for like);
- ``write yolo (segment)``: Ultralytics polygon labels. Datumaro 1.13 has no YOLO segmentation exporter
  (its plugins are ``yolo`` and ``yolo_ultralytics``, both boxes), so its columns stay empty;
- ``write voc``: XML plus SegmentationClass / SegmentationObject PNGs (Datumaro: ``polygons_to_masks`` then
  the ``voc`` exporter, which is what it needs to write segmentation PNGs);
- ``write coco-panoptic``: PNG segment maps plus JSON (Datumaro: ``reindex_annotations`` per image, because
  its exporter fails on annotation ids above 255, then ``polygons_to_masks`` and ``coco_panoptic``).

Write steps time the write alone (the read before it is not counted); peak memory is the whole process,
read included. Datumaro runs in its own interpreter because it pins other versions of shared packages:

    python3 -m venv /tmp/dm-venv && /tmp/dm-venv/bin/pip install 'datumaro==1.13.*'
    python benchmarks/formats.py --images 500 --instances 10000 --datumaro-python /tmp/dm-venv/bin/python

(or set DATUMARO_PYTHON). Without it, the Datumaro columns are left empty with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT = 640, 480
CLASSES = 80
NO_DATUMARO = frozenset({"yolo:segment"})  # steps Datumaro 1.13 has no exporter for
STEPS: tuple[tuple[str, str | None], ...] = (
    ("coco read", None),
    ("write coco", "coco"),
    ("write yolo (detect)", "yolo:detect"),
    ("write yolo (segment)", "yolo:segment"),
    ("write voc (+ SegmentationObject PNGs)", "voc"),
    ("write coco-panoptic", "coco-panoptic"),
)


# --------------------------------------------------------------------------------------------- generation
def _star(rng, cx: float, cy: float, radius: float):
    """A simple (star-shaped) polygon of 10-60 vertices around (cx, cy), as a flat COCO list."""
    import numpy as np

    n = int(rng.integers(10, 61))
    angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, n))
    radii = radius * rng.uniform(0.55, 1.0, n)
    pts = np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])  # (n, 2)
    return np.round(pts, 2)


def _shoelace(pts) -> float:
    import numpy as np

    x, y = pts[:, 0], pts[:, 1]
    return float(abs((x * np.roll(y, -1) - np.roll(x, -1) * y).sum()) / 2.0)


def _crowd_rle(rng, cx: float, cy: float, rx: float, ry: float):
    """An ellipse as COCO's uncompressed RLE (column-major runs starting with background)."""
    import numpy as np

    ys, xs = np.ogrid[0:HEIGHT, 0:WIDTH]
    mask = ((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1.0  # (H, W)
    flat = mask.T.ravel()  # column-major
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0]:
        runs.insert(0, 0)
    rows, cols = np.nonzero(mask)
    bbox = [
        float(cols.min()),
        float(rows.min()),
        float(cols.max() - cols.min() + 1),
        float(rows.max() - rows.min() + 1),
    ]
    return {"size": [HEIGHT, WIDTH], "counts": runs}, bbox, float(mask.sum())


def generate(root: Path, images: int, instances: int, seed: int) -> Path:
    """Write ``root/annotations/instances_{train,val}.json`` (every 10th image in val); no image files."""
    import numpy as np

    rng = np.random.default_rng(seed)
    categories = [{"id": i + 1, "name": f"class_{i:02d}", "supercategory": "object"} for i in range(CLASSES)]
    image_ids = np.sort(rng.integers(1, images + 1, size=instances))
    subsets: dict[str, dict] = {
        s: {
            "info": {"description": "seglab benchmark"},
            "images": [],
            "annotations": [],
            "categories": categories,
        }
        for s in ("train", "val")
    }

    def subset_of(image_id: int) -> str:
        return "val" if image_id % 10 == 0 else "train"

    for i in range(1, images + 1):
        subsets[subset_of(i)]["images"].append(
            {"id": i, "file_name": f"{i:012d}.jpg", "width": WIDTH, "height": HEIGHT}
        )
    for ann_id, image_id in enumerate(image_ids.tolist(), start=1):
        radius = float(rng.uniform(8.0, 60.0))
        cx = float(rng.uniform(radius + 1, WIDTH - radius - 1))
        cy = float(rng.uniform(radius + 1, HEIGHT - radius - 1))
        ann: dict = {"id": ann_id, "image_id": image_id, "category_id": int(rng.integers(1, CLASSES + 1))}
        if rng.random() < 0.01:
            rle, bbox, area = _crowd_rle(rng, cx, cy, radius, radius * 0.6)
            ann.update(segmentation=rle, bbox=bbox, area=area, iscrowd=1)
        else:
            parts = [_star(rng, cx, cy, radius)]
            if rng.random() < 0.1:  # a second, disjoint part (an object seen in two pieces)
                angle = rng.uniform(0, 2 * np.pi)
                ox, oy = cx + 1.7 * radius * np.cos(angle), cy + 1.7 * radius * np.sin(angle)
                small = radius * 0.5
                if small + 1 < ox < WIDTH - small - 1 and small + 1 < oy < HEIGHT - small - 1:
                    parts.append(_star(rng, ox, oy, small))
            allpts = np.concatenate(parts)
            lo, hi = allpts.min(axis=0), allpts.max(axis=0)
            ann.update(
                segmentation=[p.ravel().tolist() for p in parts],
                bbox=[round(float(v), 2) for v in (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])],
                area=round(sum(_shoelace(p) for p in parts), 2),
                iscrowd=0,
            )
        subsets[subset_of(image_id)]["annotations"].append(ann)
    folder = root / "annotations"
    folder.mkdir(parents=True, exist_ok=True)
    for name in subsets:  # empty: Datumaro's COCO importer requires the folders even without pixels
        (root / "images" / name).mkdir(parents=True, exist_ok=True)
    for name, doc in subsets.items():
        with (folder / f"instances_{name}.json").open("w") as fh:
            json.dump(doc, fh, separators=(",", ":"))
    return root


# --------------------------------------------------------------------------------------------- workers
def _peak_mib() -> float:
    """This process's peak resident memory. ``VmHWM`` belongs to the process image (it starts again at
    exec), whereas Linux's ``ru_maxrss`` keeps the peak of the parent that forked it, here the generator."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # KiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _seglab_worker(fmt: str | None, src: Path, out: Path) -> dict:
    from seglab.formats import registry
    from seglab.formats.base import WriteOptions

    registry.list_formats()  # import every format module before the clock starts (Datumaro: same)
    if fmt is not None and ":" in fmt:  # a YOLO task: the same atomic write_dataset path, task fixed
        import dataclasses
        import functools

        name, _, task = fmt.partition(":")
        spec = registry.get_format(name)
        registry._registry()[fmt] = dataclasses.replace(spec, write=functools.partial(spec.write, task=task))
    base = _peak_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    ds, skipped = registry.read_dataset(src, "coco")
    result: dict = {
        "read_s": time.perf_counter() - t0,
        "read_cpu": time.process_time() - c0,
        "images": len(ds),
        "objects": ds.annotation_count,
        "skipped": len(skipped),
        "baseline_mib": base,
    }
    if fmt is not None:
        t0, c0 = time.perf_counter(), time.process_time()
        report = registry.write_dataset(ds, out, fmt, options=WriteOptions(copy_images=False))
        result["write_s"] = time.perf_counter() - t0
        result["write_cpu"] = time.process_time() - c0
        result["losses"] = report.lines()
    result["files"] = sum(len(f) for _, _, f in os.walk(out)) if out.exists() else 0
    result["peak_mib"] = _peak_mib()
    return result


def _datumaro_worker(fmt: str | None, src: Path, out: Path) -> dict:
    import logging

    logging.disable(logging.WARNING)  # one warning per item about missing image files otherwise
    import datumaro as dm

    env = dm.Environment()  # load the plugins before the clock starts (seglab: same)
    _ = env.importers["coco_instances"], env.exporters["voc"]
    base = _peak_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    ds = dm.Dataset.import_from(str(src), "coco_instances", env=env)
    objects = sum(len(item.annotations) for item in ds)  # import is lazy: touch every item
    result: dict = {
        "read_s": time.perf_counter() - t0,
        "read_cpu": time.process_time() - c0,
        "images": len(ds),
        "objects": objects,
        "baseline_mib": base,
    }
    if fmt is not None:
        t0, c0 = time.perf_counter(), time.process_time()
        if fmt == "coco":
            ds.export(str(out), "coco_instances", save_media=False)
        elif fmt == "yolo:detect":
            ds.export(str(out), "yolo_ultralytics", save_media=False)
        elif fmt == "voc":
            ds.transform("polygons_to_masks")
            ds.export(str(out), "voc", save_media=False)
        elif fmt == "coco-panoptic":
            # Datumaro 1.13 merges segment ids into a uint8 map, which overflows (numpy 2) on any annotation
            # id above 255: number the annotations of each image from 1 first, as a user would have to.
            ds.transform("reindex_annotations", reindex_each_item=True)
            ds.transform("polygons_to_masks")
            ds.export(str(out), "coco_panoptic", save_media=False)
        result["write_s"] = time.perf_counter() - t0
        result["write_cpu"] = time.process_time() - c0
    result["files"] = sum(len(f) for _, _, f in os.walk(out)) if out.exists() else 0
    result["peak_mib"] = _peak_mib()
    return result


def _run_worker(python: str, tool: str, fmt: str | None, src: Path, out: Path, timeout: float) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", tool, fmt or "-", str(src), str(out)]
    env = dict(os.environ)
    if tool == "seglab":  # run against this checkout even when seglab is not installed
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent / "src"), env.get("PYTHONPATH", "")]
        )
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit status {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _file_floor(folder: Path, count: int) -> float:
    """Seconds to create ``count`` files of 1 KB (a label file) in ``folder``: what the filesystem alone
    costs a writer of one file per image."""
    folder.mkdir(parents=True, exist_ok=True)
    line = b"12 0.4794921875 0.6887708333 0.0125 0.0275\n" * 24  # about 1 KB
    t0 = time.perf_counter()
    for i in range(count):
        fd = os.open(folder / f"{i:012d}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------- report
def _seconds(r: dict | None, key: str) -> float | None:
    return None if r is None or "error" in r else r.get(key)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ratio(theirs: float | None, ours: float | None) -> str:
    if theirs is None or ours is None or ours <= 0:
        return "—"
    return f"{theirs / ours:.1f}x"


def _met(s_ours: float | None, s_theirs: float | None, m_ours: float | None, m_theirs: float | None) -> str:
    """Whether the issue's target holds: at least 5x Datumaro's speed and at most half its peak memory."""
    if None in (s_ours, s_theirs, m_ours, m_theirs):
        return "—"
    speed = s_theirs / s_ours >= 5.0  # type: ignore[operator]
    memory = m_ours <= m_theirs / 2.0  # type: ignore[operator]
    return ("speed yes" if speed else "speed no") + ", " + ("memory yes" if memory else "memory no")


def table(rows: list[tuple[str, dict, dict | None]]) -> str:
    lines = [
        "| step | seglab s (cpu) | seglab peak MiB | datumaro s (cpu) | datumaro peak MiB | speed ratio "
        "(cpu) | memory ratio | target (5x, half memory) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for step, ours, theirs in rows:
        key = "read" if step == "coco read" else "write"
        s_ours, s_theirs = _seconds(ours, f"{key}_s"), _seconds(theirs, f"{key}_s")
        c_ours, c_theirs = _seconds(ours, f"{key}_cpu"), _seconds(theirs, f"{key}_cpu")
        m_ours, m_theirs = _seconds(ours, "peak_mib"), _seconds(theirs, "peak_mib")
        target = _met(s_ours, s_theirs, m_ours, m_theirs) if step != "coco read" else "(read: no target)"
        lines.append(
            f"| {step} | {_fmt(s_ours)} ({_fmt(c_ours)}) | {_fmt(m_ours, 0)} "
            f"| {_fmt(s_theirs)} ({_fmt(c_theirs)}) | {_fmt(m_theirs, 0)} "
            f"| {_ratio(s_theirs, s_ours)} ({_ratio(c_theirs, c_ours)}) "
            f"| {_ratio(m_theirs, m_ours)} | {target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datumaro-python", default=os.environ.get("DATUMARO_PYTHON"))
    parser.add_argument(
        "--workdir", type=Path, help="where to generate and write (default: a temporary folder)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated data and outputs")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per step and tool")
    parser.add_argument(
        "--steps", nargs="+", type=int, metavar="N", help="only these steps, numbered from 1 (default: all)"
    )
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "FORMAT", "SRC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        tool, fmt, src, out = args.worker
        work = _seglab_worker if tool == "seglab" else _datumaro_worker
        print(json.dumps(work(None if fmt == "-" else fmt, Path(src), Path(out))))
        return 0

    dm_python = args.datumaro_python
    if dm_python and not shutil.which(dm_python):
        print(f"note: {dm_python} not found; Datumaro columns are left empty", file=sys.stderr)
        dm_python = None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="seglab-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        src = generate(workdir / "coco", args.images, args.instances, args.seed)
        size_mb = sum(p.stat().st_size for p in (src / "annotations").iterdir()) / 1e6
        print(
            f"generated {args.images} images / {args.instances} instances ({size_mb:.0f} MB of COCO JSON) "
            f"in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        rows = []
        notes: list[str] = []
        chosen = [STEPS[i - 1] for i in args.steps] if args.steps else list(STEPS)
        for step, fmt in chosen:
            slug = (fmt or "read").replace(" ", "_").replace(":", "-")
            ours = _run_worker(sys.executable, "seglab", fmt, src, workdir / f"seglab-{slug}", args.timeout)
            theirs = None
            if dm_python and fmt not in NO_DATUMARO:
                theirs = _run_worker(
                    dm_python, "datumaro", fmt, src, workdir / f"datumaro-{slug}", args.timeout
                )
            for tool, r in (("seglab", ours), ("datumaro", theirs)):
                if r is None:
                    continue
                if "error" in r:
                    notes.append(f"{step}: {tool} failed: {r['error']}")
                else:
                    notes.append(
                        f"{step}: {tool} read {r['images']} images / {r['objects']} objects, "
                        f"wrote {r['files']} files (baseline {r['baseline_mib']:.0f} MiB after imports)"
                    )
            print(f"  {step}: done", file=sys.stderr)
            rows.append((step, ours, theirs))
        floor = _file_floor(workdir / "floor", args.images)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\n{args.images} images, {args.instances} instances, {WIDTH}x{HEIGHT}; ratios: datumaro / seglab\n"
    )
    print(table(rows))
    print()
    if not dm_python:
        print("- Datumaro columns empty: pass --datumaro-python or set DATUMARO_PYTHON (see the docstring).")
    print("- write steps time the write alone; peak memory is the whole step process (read included).")
    print(
        "- s: wall-clock seconds; (cpu): user + system seconds of the step's process, which a busy machine "
        "disturbs less; the target column judges wall-clock time."
    )
    print(
        "- seglab flushes its output (one syncfs of the filesystem) before its atomic rename into place; "
        "Datumaro does neither."
    )
    print("- datumaro 1.13 has no YOLO segmentation exporter: its yolo (segment) columns are empty.")
    print("- datumaro reads a COCO annotation as a polygon per part plus a bbox: its object count is higher.")
    print(
        "- datumaro coco-panoptic: annotations renumbered per image first (its exporter overflows above 255)."
    )
    print(
        f"- creating {args.images} files of 1 KB in this folder takes {floor:.2f} s here: a floor under each "
        "writer of a label file per image (YOLO, VOC, panoptic PNGs), seglab's and Datumaro's alike."
    )
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
