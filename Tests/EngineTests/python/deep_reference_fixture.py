"""Runs the PyTorch reference (bench/reference/deep_resize_ref.py) on photo_ladybird_121x163.npy for the
cases of DeepResizerTests.swift and prints their report numbers (pasted there as literals).
  python deep_reference_fixture.py KIT/reference WEIGHTS   (KIT: the peer kit's folder)"""
import json, os, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import torch
import deep_resize_ref as ref

torch.set_num_threads(2)
net = ref.build_net(sys.argv[2])
HERE = os.path.dirname(os.path.abspath(__file__))
img = np.load(os.path.join(HERE, "photo_ladybird_121x163.npy")).transpose(1, 2, 0).astype(np.float32) / 255.0
for (w, h, op, iters) in [(100, 121, "seam", 5), (120, 90, "seam", 5), (100, 121, "linear", 5), (200, 140, "linear", 3)]:
    out, rep = ref.deep_resize(img, w, h, net, operator=op, iters=iters)
    keep = {k: rep[k] for k in ("iterations", "evaluations", "mask_fraction", "loss_iter0", "loss_end", "loss_end_clamped")}
    print(json.dumps(dict(w=w, h=h, op=op, iters=iters, **keep)))
