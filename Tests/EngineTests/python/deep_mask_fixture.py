"""Makes the expected masks of DeepMaskTests.swift with the reference's semantic_mask (scipy.ndimage)
and mask_to_grid. Run once with the peer venv; the printed literals are pasted into the test."""
import numpy as np
from scipy import ndimage

def ref_mask(a):
    a_n = (a - a.min()) / max(a.max() - a.min(), 1e-12)
    m = a_n > a_n.mean() + a_n.std()
    st = np.ones((3, 3), bool)
    return ndimage.binary_closing(ndimage.binary_opening(m, structure=st), structure=st)

def bits(m):
    return "".join("1" if v else "0" for v in m.ravel())

rng = np.random.default_rng(7)
print("// activation fields (blobs + noise, 3 decimals) -> mask")
for (h, w) in [(9, 12), (14, 10), (5, 5), (3, 7), (20, 16)]:
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w))
    for _ in range(3):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1.5, 4)
        a += rng.uniform(1, 5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    a += rng.uniform(0, 0.8, (h, w))
    a = np.round(a, 3)
    print(f'(w: {w}, h: {h}, a: "{" ".join(f"{v:.3f}" for v in a.ravel())}", mask: "{bits(ref_mask(a))}"),')
print("// random binary -> opening, closing")
st = np.ones((3, 3), bool)
for (h, w, p) in [(10, 13, 0.6), (7, 6, 0.85), (12, 12, 0.75)]:
    m = rng.uniform(size=(h, w)) < p
    print(f'(w: {w}, h: {h}, m: "{bits(m)}", open: "{bits(ndimage.binary_opening(m, structure=st))}", '
          f'close: "{bits(ndimage.binary_closing(m, structure=st))}"),')
print("// mask_to_grid 16 -> s")
m = rng.uniform(size=(5, 7)) < 0.5
for s, H, W in [(8, 11, 15), (4, 21, 29), (2, 9, 13)]:
    ys = np.minimum(np.arange(H) * s // 16, m.shape[0] - 1)
    xs = np.minimum(np.arange(W) * s // 16, m.shape[1] - 1)
    print(f'(s: {s}, w: {W}, h: {H}, grid: "{bits(m[np.ix_(ys, xs)])}"),')
print("source", bits(m))
