"""PyTorch side of tests/scripts/fashion_cnn_torch_test.ts.

Usage: fashion_cnn_torch.py MODEL DATA_DIR. Rebuilds the network of a model file written by
scripts/fashion_cnn.ts from the file alone (the layer list in its __metadata__), loads the
weights with load_state_dict(strict=True), and prints the accuracy on DATA_DIR's test set
as `test accuracy: 0.xxxx`. Reads safetensors by hand: the `safetensors` package is not
installed here (a user with it would call safetensors.torch.load_file instead).
"""

import gzip
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

CODES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, spec in header.items():
        begin, end = spec["data_offsets"]
        arr = np.frombuffer(data[8 + n + begin : 8 + n + end], dtype=CODES[spec["dtype"]])
        tensors[name] = torch.from_numpy(arr.reshape(spec["shape"]).copy())
    return tensors, metadata


def build(layers):
    modules = []
    for spec in layers:
        kind = spec["type"]
        if kind == "Conv2d":
            modules.append(
                nn.Conv2d(spec["inChannels"], spec["outChannels"], spec["kernelSize"],
                          padding=spec["padding"]))
        elif kind in ("BatchNorm2d", "BatchNorm1d"):
            modules.append(getattr(nn, kind)(spec["numFeatures"]))
        elif kind == "MaxPool2d":
            modules.append(nn.MaxPool2d(spec["kernelSize"]))
        elif kind == "Linear":
            modules.append(nn.Linear(spec["inFeatures"], spec["outFeatures"]))
        elif kind == "Dropout":
            modules.append(nn.Dropout(spec["p"]))
        else:  # ReLU, Flatten
            modules.append(getattr(nn, kind)())
    return nn.Sequential(*modules)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main():
    model_path, data_dir = sys.argv[1], sys.argv[2]
    state, meta = read_safetensors(model_path)
    model = build(json.loads(meta["architecture"]))
    model.load_state_dict(state, strict=True)
    model.eval()
    spec = json.loads(meta["input"])
    images = read_idx(f"{data_dir}/t10k-images-idx3-ubyte.gz")
    labels = read_idx(f"{data_dir}/t10k-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.astype(np.float32) * np.float32(spec["scale"]))
    x = x.reshape(-1, *spec["shape"])
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 500]).argmax(1) for i in range(0, len(x), 500)])
    acc = (pred.numpy() == labels).mean()
    print(f"test accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
