#!/usr/bin/env python3
"""Image-quality proxies for the quality review (scripts/quality-review). numpy, Pillow, scikit-image.

They are proxies for what a person sees, to be read as ratios between the methods of one case; the sheets
are the judge. All work on the luma of 8-bit sRGB values, Y = 0.299 R + 0.587 G + 0.114 B (BT.601), 0..255.

  ssim(a, b)        Structural similarity (Wang et al. 2004) of the lumas of two images of the same size:
                    gaussian window sigma 1.5, K1 = 0.01, K2 = 0.03, dynamic range 255, population
                    (co)variances: scikit-image's structural_similarity with those settings. Only meaningful
                    when the output keeps the input's aspect ratio, where `scale` is the right answer: there we
                    compare deep with scale (the issue's goal: >= 0.9). 1.0 = identical.
  sharpness(img)    Mean gradient magnitude of the luma, sqrt(dx^2 + dy^2) with forward differences (one
                    pixel to the right, one down), over every pixel that has both. Blur lowers it, noise and
                    hard tears raise it, so compare within a case: sharpness(deep) / sharpness(seam) (goal
                    >= 0.9: deep should not be softer than pixel seam carving).
  blockiness(img)   How much an 8-pixel grid shows: the mean |luma step| across the lines x = 8k and y = 8k
                    (between pixel 8k-1 and 8k) over the mean |step| between all other neighbouring pixels.
                    About 1.0 for a photo; a visible block grid aligned with the output's origin (deep's
                    relu4_1 cells are 8x8 output pixels) pushes it above ~1.1. Compare with `scale`'s.
  colour_shift(a, b)  Distance between the mean chroma of two images, sqrt(dCb^2 + dCr^2) of the means of
                    Cb and Cr (BT.601, 0..255 scale). Seam carving removes content, so a few units are normal;
                    a tint over a smooth region (deep/seam's cyan on Aqua) shows as a larger shift against
                    `scale` than pixel seam's.

  python metrics.py ssim A B | sharpness IMG | blockiness IMG | colour A B
"""
import sys

import numpy as np
from PIL import Image, ImageOps


def rgb(path_or_image):
    im = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return np.asarray(im.convert("RGB"), dtype=np.float64)


def luma(x):
    a = rgb(x) if not isinstance(x, np.ndarray) else x
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def ssim(a, b):
    from skimage.metrics import structural_similarity
    ya, yb = luma(a), luma(b)
    if ya.shape != yb.shape:
        raise ValueError(f"ssim needs equal sizes, got {ya.shape[1]}x{ya.shape[0]} and {yb.shape[1]}x{yb.shape[0]}")
    return float(structural_similarity(ya, yb, data_range=255.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, K1=0.01, K2=0.03))


def sharpness(img):
    y = luma(img)
    dx = y[:-1, 1:] - y[:-1, :-1]
    dy = y[1:, :-1] - y[:-1, :-1]
    return float(np.mean(np.hypot(dx, dy)))


def blockiness(img, block=8):
    y = luma(img)
    sx = np.abs(y[:, 1:] - y[:, :-1])          # sx[:, i] = step between column i and i+1
    sy = np.abs(y[1:, :] - y[:-1, :])
    gx = (np.arange(1, y.shape[1]) % block) == 0   # step into column 8k
    gy = (np.arange(1, y.shape[0]) % block) == 0
    grid = np.concatenate([sx[:, gx].ravel(), sy[gy, :].ravel()])
    other = np.concatenate([sx[:, ~gx].ravel(), sy[~gy, :].ravel()])
    if grid.size == 0 or other.size == 0:
        return float("nan")
    return float(grid.mean() / max(other.mean(), 1e-9))


def colour_shift(a, b):
    def chroma(x):
        p = rgb(x)
        cb = -0.168736 * p[..., 0] - 0.331264 * p[..., 1] + 0.5 * p[..., 2]
        cr = 0.5 * p[..., 0] - 0.418688 * p[..., 1] - 0.081312 * p[..., 2]
        return np.array([cb.mean(), cr.mean()])
    return float(np.linalg.norm(chroma(a) - chroma(b)))


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    cmd, args = argv[1], argv[2:]
    fn = {"ssim": ssim, "sharpness": sharpness, "blockiness": blockiness, "colour": colour_shift}.get(cmd)
    if fn is None:
        raise SystemExit(__doc__)
    print(f"{fn(*args):.4f}")


if __name__ == "__main__":
    main(sys.argv)
