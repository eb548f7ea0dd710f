"""Converts torchvision's VGG-16 or VGG-19 weights to deepresize's layout (scripts/convert-vgg).

torchvision numbers the feature layers features.0, features.2, features.5, … (convolutions, ReLUs and
pools share one counter); deepresize names the convolutions conv{block}_{index} (conv1_1 … conv5_4) and
keeps only them. The convolutions are taken in index order and named by the architecture their count
gives (13: VGG-16, 16: VGG-19). The file records `preprocess: torch-rgb`, because torchvision's weights
expect RGB normalised by the ImageNet mean and std, not the Caffe BGR input of the default weights.

Input: a .pth/.pt state dict (needs torch), or a .safetensors/.npz with the same key names.
Usage: python convert_vgg.py IN OUT.safetensors
"""
import json
import re
import struct
import sys

import numpy as np

BLOCKS = {13: ("vgg16", [2, 2, 3, 3, 3]), 16: ("vgg19", [2, 2, 4, 4, 4])}


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            sys.exit(f"convert-vgg: {name} is {entry['dtype']}; only F32 is read")
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(entry["shape"])
    return tensors


def read_input(path):
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    if path.endswith(".npz"):
        return dict(np.load(path))
    try:
        import torch
    except ImportError:
        sys.exit("convert-vgg: reading a .pth needs torch (pip install torch), or pass a .safetensors/.npz")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float().numpy() for k, v in state.items()}


def convert(tensors):
    pattern = re.compile(r"^(?:features\.)?(\d+)\.weight$")
    indices = sorted(int(m.group(1)) for k in tensors if (m := pattern.match(k)) and tensors[k].ndim == 4)
    if len(indices) not in BLOCKS:
        sys.exit(f"convert-vgg: {len(indices)} convolution weights (features.N.weight, 4-D); VGG-16 has 13, VGG-19 16")
    arch, blocks = BLOCKS[len(indices)]
    names = [f"conv{b}_{c}" for b, n in enumerate(blocks, start=1) for c in range(1, n + 1)]
    prefix = "features." if any(k.startswith("features.") for k in tensors) else ""
    out = []
    for name, index in zip(names, indices):
        w = np.ascontiguousarray(tensors[f"{prefix}{index}.weight"], dtype="<f4")
        b = np.ascontiguousarray(tensors[f"{prefix}{index}.bias"], dtype="<f4")
        if w.shape[2:] != (3, 3) or b.shape != (w.shape[0],):
            sys.exit(f"convert-vgg: {prefix}{index} has weight {w.shape}, bias {b.shape}; expected [o, i, 3, 3], [o]")
        out += [(f"{name}.weight", w), (f"{name}.bias", b)]
    return arch, out


def write_safetensors(path, tensors, metadata):
    # u64 header length, JSON header (padded with spaces to 8 bytes), raw little-endian data.
    header, offset = {"__metadata__": metadata}, 0
    for name, t in tensors:
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for _, t in tensors:
            f.write(t.tobytes())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    arch, tensors = convert(read_input(sys.argv[1]))
    write_safetensors(sys.argv[2], tensors, {"arch": arch, "preprocess": "torch-rgb"})
    print(f"convert-vgg: {arch}, {len(tensors) // 2} convolutions -> {sys.argv[2]}", file=sys.stderr)


if __name__ == "__main__":
    main()
