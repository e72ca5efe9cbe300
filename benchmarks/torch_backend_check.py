"""Check and time seglab's PyTorch (TorchScript) auto-label backend on the CPU and, when present, CUDA.

    python benchmarks/torch_backend_check.py [--size 2048] [--tile 1024] [--repeat 3] [--require-cuda]

Needs the optional extra (``pip install 'seglab[torch]'``). Builds a small encoder-decoder segmentation
network (two stride-2 stages, 32/64 channels, random weights from a fixed seed: timing and agreement only,
no download), exports it with ``torch.jit.script`` to a temporary file, and runs
:class:`seglab.autolabel.TorchBackend` on a synthetic ``size`` x ``size`` RGB image on each device:

- checks: probabilities of shape ``(H, W, K)`` that sum to 1, the same result as one whole-image pass on
  the CPU where tiles hold the whole receptive field, and CUDA agreeing with the CPU (max abs difference);
- timing: seconds per image (median of ``repeat`` runs after one warm-up) and per megapixel, plus CUDA's
  peak allocated memory.

Prints a markdown table; exits with status 1 when a check fails (or ``--require-cuda`` finds no GPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def build_network(path: Path, classes: int, seed: int = 0) -> None:
    """An encoder-decoder with sides divisible by 4 (``multiple=4``), saved as TorchScript."""
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class TinySeg(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc1 = block(3, 32)
            self.enc2 = block(32, 64, stride=2)
            self.enc3 = block(64, 64, stride=2)
            self.up2 = nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False)
            self.dec2 = block(128, 32)
            self.dec1 = block(64, 32)
            self.head = nn.Conv2d(32, classes, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            e1 = self.enc1(x)
            e2 = self.enc2(e1)
            e3 = self.enc3(e2)
            d2 = self.dec2(torch.cat([self.up2(e3), e2], dim=1))
            d1 = self.dec1(torch.cat([self.up2(d2), e1], dim=1))
            return self.head(d1)

    torch.manual_seed(seed)
    net = TinySeg().eval()
    torch.jit.save(torch.jit.script(net), str(path))


def synthetic_image(size: int, seed: int = 0) -> np.ndarray:
    """``(size, size, 3)`` uint8: smooth blobs plus noise, so the network sees varied input."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), dtype=np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(2, 12), rng.uniform(2, 12), rng.uniform(0, 6.3)
        img[:, :, c] = 0.5 + 0.4 * np.sin(fx * 6.28 * xx + phase) * np.cos(fy * 6.28 * yy)
    img += rng.normal(0, 0.05, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def time_backend(backend, image: np.ndarray, repeat: int) -> tuple[np.ndarray, float]:
    """The probabilities and the median seconds of ``repeat`` runs after a warm-up run."""
    import torch

    proba = backend.predict(image).proba
    times = []
    for _ in range(repeat):
        if backend.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        backend.predict(image)
        if backend.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return proba, statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2048, help="image side in pixels")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--halo", type=int, default=32)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--require-cuda", action="store_true", help="fail when PyTorch sees no CUDA GPU")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: pip install 'seglab[torch]'", file=sys.stderr)
        return 1
    from seglab.autolabel import TorchBackend

    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}; CUDA: {torch.cuda.get_device_name(0) if cuda else 'not available'}")
    if args.require_cuda and not cuda:
        print("--require-cuda: no CUDA GPU", file=sys.stderr)
        return 1
    image = synthetic_image(args.size)
    names = [f"class{k}" for k in range(args.classes)]
    failures: list[str] = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tinyseg.pt"
        build_network(path, args.classes)
        results: dict[str, np.ndarray] = {}
        for device in ["cpu"] + (["cuda"] if cuda else []):
            backend = TorchBackend(path, names, device=device, tile=args.tile, halo=args.halo, multiple=4)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            proba, seconds = time_backend(backend, image, args.repeat)
            results[device] = proba
            if proba.shape != (args.size, args.size, args.classes):
                failures.append(f"{device}: shape {proba.shape}")
            if not np.allclose(proba.sum(axis=2), 1.0, atol=1e-4):
                failures.append(f"{device}: probabilities do not sum to 1")
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if device == "cuda" else ""
            megapixels = image.shape[0] * image.shape[1] / 1e6
            rows.append((device, seconds, seconds / megapixels, peak))
        # tiles with a halo wider than the network's receptive field give the whole-image answer
        crop = image[:512, :512]
        whole = TorchBackend(path, names, device="cpu", tile=512, halo=0, multiple=4).predict(crop).proba
        tiled = TorchBackend(path, names, device="cpu", tile=128, halo=32, multiple=4).predict(crop).proba
        tile_diff = float(np.abs(whole - tiled).max())
        if tile_diff > 1e-4:
            failures.append(f"tiled and whole-image predictions differ by {tile_diff:.2e}")
        device_diff = float(np.abs(results["cuda"] - results["cpu"]).max()) if cuda else None
        if device_diff is not None and device_diff > 1e-2:
            failures.append(f"CUDA and CPU differ by {device_diff:.2e}")
    print(f"\n### TorchBackend, {args.size}x{args.size} RGB, {args.classes} classes, tile {args.tile}\n")
    print("| device | s / image | s / MP | peak CUDA MiB |")
    print("|---|---:|---:|---:|")
    for device, seconds, per_mp, peak in rows:
        print(f"| {device} | {seconds:.3f} | {per_mp:.3f} | {peak} |")
    print(f"\ntiled vs whole image (CPU, 512 px): max |diff| {tile_diff:.2e}")
    if device_diff is not None:
        print(f"CUDA vs CPU: max |diff| {device_diff:.2e}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
