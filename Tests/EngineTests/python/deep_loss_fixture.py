"""Expected loss-term values of DeepLossTests.swift, computed independently with numpy (float64 on the
float32 inputs) from the formulas of docs/spec.md §4 / deep_resize_ref.py. Run once; literals pasted."""
import numpy as np

def make(c, h, w, phase):
    cc, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    v = np.sin(0.37 * xx + 0.61 * yy + 1.3 * cc + phase) + 0.05 * ((xx * 7 + yy * 13 + cc * 5) % 11)
    return v.astype(np.float32).astype(np.float64)

def gram(f):
    F = f.reshape(f.shape[0], -1)
    return F @ F.T / F.size

phi, T = make(3, 5, 7, 0.0), make(3, 5, 7, 0.7)
print("rec", repr(((phi - T) ** 2).sum() / (T ** 2).sum()))
F, FI = make(4, 6, 5, 0.3), make(4, 9, 8, 1.1)
P = gram(FI)
print("gram", repr(((gram(F) - P) ** 2).sum() / (P ** 2).sum()))
R = make(3, 6, 7, 0.2)
dx = np.zeros_like(R); dx[:, :, :-1] = R[:, :, 1:] - R[:, :, :-1]
dy = np.zeros_like(R); dy[:, :-1, :] = R[:, 1:, :] - R[:, :-1, :]
print("tv", repr(np.sqrt(dx ** 2 + dy ** 2 + 1e-8).mean()))
I = make(3, 9, 5, 1.7)
st = np.abs(R.mean((1, 2)) - I.mean((1, 2))).sum() + np.abs(R.std((1, 2)) - I.std((1, 2))).sum()
print("stats", repr(st))
