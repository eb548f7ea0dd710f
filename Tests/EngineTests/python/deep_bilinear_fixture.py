"""Expected outputs of DeepFeatureResizeTests.swift: torch F.interpolate(mode="bilinear",
align_corners=False, antialias=True) on a formula-made float32 input (the Swift test makes the same one).
Run once with the peer venv (torch 2.15); the printed literals are pasted into the test."""
import numpy as np, torch, torch.nn.functional as F

def make(c, h, w):
    cc, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    v = np.sin(0.37 * xx + 0.61 * yy + 1.3 * cc) + 0.05 * ((xx * 7 + yy * 13 + cc * 5) % 11)
    return torch.from_numpy(v.astype(np.float32))

for (c, h, w, oh, ow) in [(1, 37, 29, 23, 41), (1, 37, 29, 50, 12), (2, 7, 9, 3, 4), (1, 5, 6, 11, 13), (1, 37, 29, 5, 3)]:
    out = F.interpolate(make(c, h, w)[None], size=(oh, ow), mode="bilinear", align_corners=False, antialias=True)[0]
    vals = " ".join(f"{v:.8g}" for v in out.numpy().ravel())
    print(f'(c: {c}, h: {h}, w: {w}, oh: {oh}, ow: {ow}, expected: "{vals}"),')
