"""PyTorch side of tests/nn/pytorch_interop_test.ts.

Usage: pytorch_interop.py DIR. Reads DIR/ours.safetensors (a state dict written by our
library) and DIR/io.safetensors (input x and our output y), builds the same Sequential,
loads our weights with load_state_dict(strict=True) and writes its eval-mode output on x to
DIR/torch_out.safetensors. Then trains its own copy for one step (moving the batchnorm
statistics), and writes that state dict to DIR/torch_state.safetensors with its output on x
in torch_out.safetensors, plus half-precision samples. The safetensors format is read and
written by hand (the `safetensors` package is not installed).
"""

import json
import struct
import sys

import numpy as np
import torch
from torch import nn

CODES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        raw = data[8 + n + begin : 8 + n + end]
        arr = np.frombuffer(raw, dtype=CODES[spec["dtype"]]).reshape(spec["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def write(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.bfloat16:
            code, raw = "BF16", t.view(torch.int16).numpy().tobytes()
        else:
            code = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64",
                    torch.float16: "F16"}[t.dtype]
            raw = t.numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def model():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 5),
    )


def main(folder):
    torch.manual_seed(0)
    io = read(f"{folder}/io.safetensors")
    ours = model()
    ours.load_state_dict(read(f"{folder}/ours.safetensors"), strict=True)
    ours.eval()
    theirs = model()
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    batch = torch.randn(6, 1, 8, 8)
    loss = nn.functional.cross_entropy(theirs(batch), torch.tensor([0, 1, 2, 3, 4, 0]))
    loss.backward()
    opt.step()
    theirs.eval()
    with torch.no_grad():
        write(f"{folder}/torch_out.safetensors", {
            "y_ours": ours(io["x"]),
            "y_theirs": theirs(io["x"]),
            "half": torch.tensor([1.5, -0.099975586, 65504.0, 6.1035156e-05], dtype=torch.float16),
            "bhalf": torch.tensor([1.5, -3.140625, 2.0 ** 100], dtype=torch.bfloat16),
        })
    write(f"{folder}/torch_state.safetensors", theirs.state_dict())


if __name__ == "__main__":
    main(sys.argv[1])
