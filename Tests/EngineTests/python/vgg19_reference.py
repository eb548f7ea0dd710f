"""Reference for loading torchvision's VGG-19: random weights in torchvision's layout, converted by
scripts/convert_vgg.py, against onnxruntime running the same network built the way torchvision builds
`vgg19().features` (Normalize with the ImageNet mean/std, then conv/ReLU/max-pool with torchvision's layer
indices). No torch here: the graph is written op by op, so the reference does not share our code.

usage: vgg19_reference.py REPO OUTDIR
Writes OUTDIR/torchvision.safetensors (features.N.* keys), OUTDIR/converted.safetensors (convert_vgg.py's
output), OUTDIR/input.f32 (RGB [0,1], 3×H×W), OUTDIR/relu{b}_1.f32 and OUTDIR/case.json.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper, TensorProto

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
HERE = os.path.dirname(os.path.abspath(__file__))


def torchvision_weights(rng):
    """features.N.weight/bias as torchvision numbers them, He-scaled so activations stay O(1) to relu5_1."""
    tensors, index, cin = {}, 0, 3
    for v in CFG:
        if v == "M":
            index += 1
            continue
        tensors[f"features.{index}.weight"] = (rng.standard_normal((v, cin, 3, 3)) * np.sqrt(2 / (9 * cin))).astype("<f4")
        tensors[f"features.{index}.bias"] = (rng.standard_normal(v) * 0.05).astype("<f4")
        index += 2  # conv, ReLU
        cin = v
    return tensors


def graph(tensors, height, width):
    nodes, inits, outputs = [], [], []
    inits += [numpy_helper.from_array(np.array(MEAN, np.float32).reshape(1, 3, 1, 1), "mean"),
              numpy_helper.from_array(np.array(STD, np.float32).reshape(1, 3, 1, 1), "std")]
    nodes += [helper.make_node("Sub", ["image", "mean"], ["centred"]), helper.make_node("Div", ["centred", "std"], ["x0"])]
    current, index, block, conv_in_block = "x0", 0, 1, 0
    for v in CFG:
        if v == "M":
            nodes.append(helper.make_node("MaxPool", [current], [f"pool{index}"], kernel_shape=[2, 2], strides=[2, 2]))
            current, index, block, conv_in_block = f"pool{index}", index + 1, block + 1, 0
            continue
        w, b = f"features.{index}.weight", f"features.{index}.bias"
        inits += [numpy_helper.from_array(tensors[w], w), numpy_helper.from_array(tensors[b], b)]
        nodes.append(helper.make_node("Conv", [current, w, b], [f"conv{index}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        conv_in_block += 1
        relu = f"relu{block}_1" if conv_in_block == 1 else f"relu{index + 1}"
        nodes.append(helper.make_node("Relu", [f"conv{index}"], [relu]))
        if conv_in_block == 1:
            outputs.append(helper.make_tensor_value_info(relu, TensorProto.FLOAT, [1, "c", "h", "w"]))
        current, index = relu, index + 2
        if block == 5 and conv_in_block == 1:
            break
    g = helper.make_graph(nodes, "vgg19_features", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])],
                          outputs, inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model.SerializeToString(), [o.name for o in outputs]


def main():
    repo, outdir = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.join(repo, "scripts"))
    from convert_vgg import write_safetensors  # the converter's own writer: one safetensors layout
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(19)
    tensors = torchvision_weights(rng)
    write_safetensors(os.path.join(outdir, "torchvision.safetensors"), list(tensors.items()), {})
    subprocess.run([sys.executable, os.path.join(repo, "scripts", "convert_vgg.py"),
                    os.path.join(outdir, "torchvision.safetensors"), os.path.join(outdir, "converted.safetensors")], check=True)
    photo = np.load(os.path.join(HERE, "photo_ladybird_121x163.npy")).astype(np.float32) / 255.0
    _, height, width = photo.shape
    model, names = graph(tensors, height, width)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    results = session.run(names, {"image": photo[None]})
    photo.astype("<f4").tofile(os.path.join(outdir, "input.f32"))
    taps = {}
    for name, r in zip(names, results):
        r[0].astype("<f4").tofile(os.path.join(outdir, f"{name}.f32"))
        taps[name] = list(r[0].shape)
    with open(os.path.join(outdir, "case.json"), "w") as f:
        json.dump({"height": height, "width": width, "taps": taps}, f)


if __name__ == "__main__":
    main()
