"""Model converters: PyTorch and ONNX fast-neural-style networks in, ONNX out.

    python3 -m libstyle.convert from-pytorch candy.pth candy.safetensors [--name candy]
    python3 -m libstyle.convert lossnet-from-pytorch vgg16-397923af.pth vgg16.safetensors
    python3 -m libstyle.convert from-onnx mosaic-9.onnx mosaic.safetensors [--name mosaic]
    python3 -m libstyle.convert to-onnx candy.safetensors candy.onnx [--opset 9]

``from-pytorch`` reads a pytorch/examples fast_neural_style checkpoint and
``lossnet-from-pytorch`` a torchvision VGG-16/VGG-19 state_dict (zip or legacy pickle format),
writing a loss network with its ImageNet input normalisation (both need Debian
``python3-torch``); ``from-onnx`` reads a graph in the onnx/models zoo layout and ``to-onnx``
writes one (both need ``python3-onnx``). A converted model is loaded by the C library before
it is written, so a file that libstyle would refuse is never written; the output is written
atomically. See docs/convert.md for what each converter accepts.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Mapping, Optional

import numpy as np

from . import _safetensors

# Every key a writer emits (docs/formats.md section 1), with the values of a
# pytorch/examples TransformerNet.
_JOHNSON_METADATA = {
    "libstyle.format_version": "1",
    "libstyle.arch": "johnson",
    "libstyle.padding": "reflect",
    "libstyle.upsample": "nearest_conv",
    "libstyle.norm": "instance",
    "libstyle.norm_eps": "1e-5",
    "libstyle.output": "linear",
    "libstyle.final_norm": "none",
}


def _order(tensors: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Tensors in network order (conv1 ... deconv3), so that files diff and read well."""
    def rank(name: str):
        head = name.split(".")[0]
        order = ["conv1", "in1", "conv2", "in2", "conv3", "in3", "res", "deconv1", "in4",
                 "deconv2", "in5", "deconv3", "in6"]
        if head.startswith("res") and head[3:].isdigit():
            return (order.index("res"), int(head[3:]), name)
        return (order.index(head) if head in order else len(order), 0, name)

    return {name: tensors[name] for name in sorted(tensors, key=rank)}


def _write_model(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str],
                 out_path: "os.PathLike[str] | str") -> None:
    from ._model import Model

    data = _safetensors.to_bytes(_order(tensors), metadata)
    Model.from_bytes(data).close()  # the library's own validation, before anything is written
    _safetensors.write_atomic(out_path, data)


def _metadata(source: str, name: Optional[str], found: Mapping[str, str],
              description: str) -> Dict[str, str]:
    """Every libstyle.* key, with what the source said, then the name: `name`, else the
    source's own, else the file name."""
    metadata = dict(_JOHNSON_METADATA)
    metadata["libstyle.source"] = "converted from %s (%s)" % (source, description)
    metadata.update(found)
    if name:
        metadata["libstyle.name"] = name
    metadata.setdefault("libstyle.name", os.path.splitext(source)[0])
    return metadata


def from_pytorch(pth_path: "os.PathLike[str] | str", out_path: "os.PathLike[str] | str",
                 name: Optional[str] = None) -> None:
    """Converts a pytorch/examples fast_neural_style ``.pth`` checkpoint to a model file."""
    from ._from_pytorch import read_checkpoint

    tensors = read_checkpoint(pth_path)
    source = os.path.basename(os.fspath(pth_path))
    metadata = _metadata(source, name, {}, "pytorch/examples fast_neural_style")
    _write_model(tensors, metadata, out_path)


def lossnet_from_pytorch(pth_path: "os.PathLike[str] | str",
                         out_path: "os.PathLike[str] | str", name: Optional[str] = None) -> None:
    """Converts a torchvision VGG-16/VGG-19 ``.pth`` state_dict to a libstyle feature-net file
    (the loss network of ``libstyle train``, ``optimize``, ``evaluate``)."""
    from ._lossnet_from_pytorch import read_lossnet

    tensors, metadata = read_lossnet(pth_path, name or "")
    _safetensors.write_atomic(out_path, _safetensors.to_bytes(tensors, metadata))


def from_onnx(onnx_path: "os.PathLike[str] | str", out_path: "os.PathLike[str] | str",
              name: Optional[str] = None) -> None:
    """Converts an ONNX fast-neural-style graph (onnx/models zoo layout) to a model file."""
    from ._from_onnx import read_graph

    tensors, found = read_graph(onnx_path)
    source = os.path.basename(os.fspath(onnx_path))
    metadata = _metadata(source, name, found, "ONNX fast neural style")
    _write_model(tensors, metadata, out_path)


def to_onnx(model_path: "os.PathLike[str] | str", out_path: "os.PathLike[str] | str",
            opset: int = 9) -> None:
    """Exports a libstyle model file to an ONNX graph (onnx/models zoo layout)."""
    from ._model import Model
    from ._to_onnx import build_graph

    Model(model_path).close()  # refuse what libstyle refuses, with its message
    tensors, metadata = _safetensors.read(model_path)
    name = metadata.get("libstyle.name") or os.path.splitext(os.path.basename(
        os.fspath(model_path)))[0]
    graph = build_graph(tensors, metadata, opset=opset, name=name)
    _safetensors.write_atomic(out_path, graph.SerializeToString())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m libstyle.convert",
        description="Convert style transfer networks to and from libstyle model files.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    pytorch = commands.add_parser(
        "from-pytorch", help="pytorch/examples fast_neural_style .pth -> model file")
    lossnet = commands.add_parser(
        "lossnet-from-pytorch",
        help="torchvision VGG-16/VGG-19 state_dict .pth -> loss network (feature-net) file")
    onnx_in = commands.add_parser(
        "from-onnx", help="ONNX fast neural style graph (onnx/models zoo) -> model file")
    onnx_out = commands.add_parser("to-onnx", help="model file -> ONNX graph")
    for command, source, target in ((pytorch, "CHECKPOINT.pth", "MODEL.safetensors"),
                                    (lossnet, "VGG.pth", "LOSSNET.safetensors"),
                                    (onnx_in, "GRAPH.onnx", "MODEL.safetensors"),
                                    (onnx_out, "MODEL.safetensors", "GRAPH.onnx")):
        command.add_argument("source", metavar=source)
        command.add_argument("target", metavar=target)
    for command in (pytorch, onnx_in):
        command.add_argument("--name", help="libstyle.name of the model (default: file name)")
    lossnet.add_argument("--name", help="libstyle.name of the network (default: vgg16/vgg19)")
    onnx_out.add_argument("--opset", type=int, default=9,
                          help="ONNX opset: 9 (the zoo's; default) or 11 and later")
    args = parser.parse_args(argv)
    from ._errors import StyleError

    try:
        if args.command == "from-pytorch":
            from_pytorch(args.source, args.target, args.name)
        elif args.command == "lossnet-from-pytorch":
            lossnet_from_pytorch(args.source, args.target, args.name)
        elif args.command == "from-onnx":
            from_onnx(args.source, args.target, args.name)
        else:
            to_onnx(args.source, args.target, args.opset)
    except (OSError, ValueError, ImportError, StyleError) as error:
        # StyleError: the library refused the converted model (its message says why).
        print("libstyle.convert: %s" % error, file=sys.stderr)
        return 1
    print("wrote %s" % args.target, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
