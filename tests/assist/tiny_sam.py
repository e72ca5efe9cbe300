"""Tiny ONNX graphs with the official SAM export's inputs and outputs, built with onnx's helper API.

- encoder: ``image`` (1, 3, 1024, 1024) -> ``image_embeddings`` = 16x16 average pooling (1, 3, 64, 64);
- decoder: two candidate masks, disks around the FIRST prompt point mapped back to the original image the
  way SAM does (``(c + 0.5) / (new_size / old_size)`` with the long side rounded to 1024): radius ``small``
  with predicted IoU 0.5 and radius ``big`` with IoU 0.9 (so the backend must pick the second). With a mask
  input the radius grows by the mask input's mean, which is how tests see the last logits come back.
  ``low_res_masks`` is constant ``LOW_RES_VALUE``. The embedding enters the logits times zero, so the graph
  really consumes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LOW_RES_VALUE = 7.0
OPSET = 17


def _const(name: str, value: object) -> onnx.NodeProto:
    arr = np.asarray(value, dtype=np.float32)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name))


def _const_i64(name: str, value: object) -> onnx.NodeProto:
    arr = np.asarray(value, dtype=np.int64)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name))


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def encoder_model() -> onnx.ModelProto:
    node = helper.make_node(
        "AveragePool", ["image"], ["image_embeddings"], kernel_shape=[16, 16], strides=[16, 16]
    )
    graph = helper.make_graph(
        [node],
        "tiny_sam_encoder",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 1024, 1024])],
        [helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 3, 64, 64])],
    )
    return _model(graph)


def decoder_model(
    small: float = 4.5, big: float = 10.5, *, rename: dict[str, str] | None = None
) -> onnx.ModelProto:
    r = rename or {}
    emb, coords, labels = r.get("image_embeddings", "image_embeddings"), "point_coords", "point_labels"
    mask_in, has_mask, size = "mask_input", "has_mask_input", r.get("orig_im_size", "orig_im_size")
    n = helper.make_node
    nodes = [
        _const("c1024", 1024.0), _const("chalf", 0.5), _const("czero", 0.0), _const("cone", 1.0),
        _const("csmall", small), _const("cbig", big), _const("cious", [[0.5, 0.9]]),
        _const("clow", np.full((1, 2, 256, 256), LOW_RES_VALUE)),
        _const_i64("i0", [0]), _const_i64("i1", [1]), _const_i64("i2", [2]), _const_i64("ax01", [0, 1]),
        # original size and SAM's resized size
        n("Gather", [size, "i0"], ["H"], axis=0),  # (1,)
        n("Gather", [size, "i1"], ["W"], axis=0),
        n("Max", ["H", "W"], ["long"]),
        n("Div", ["c1024", "long"], ["scale"]),
        n("Mul", ["H", "scale"], ["Hs"]), n("Add", ["Hs", "chalf"], ["Hs5"]), n("Floor", ["Hs5"], ["newH"]),
        n("Mul", ["W", "scale"], ["Ws"]), n("Add", ["Ws", "chalf"], ["Ws5"]), n("Floor", ["Ws5"], ["newW"]),
        n("Div", ["newW", "W"], ["sx"]), n("Div", ["newH", "H"], ["sy"]),
        # first point, back to original continuous coordinates
        n("Slice", [coords, "i0", "i1", "i1"], ["first"]),  # (1, 1, 2)
        n("Reshape", ["first", "i2"], ["pt"]),  # (2,)
        n("Gather", ["pt", "i0"], ["px"], axis=0), n("Gather", ["pt", "i1"], ["py"], axis=0),
        n("Add", ["px", "chalf"], ["px5"]), n("Div", ["px5", "sx"], ["cx"]),
        n("Add", ["py", "chalf"], ["py5"]), n("Div", ["py5", "sy"], ["cy"]),
        # pixel centre grids
        n("Squeeze", ["H"], ["Hsc"]), n("Squeeze", ["W"], ["Wsc"]),
        n("Range", ["czero", "Hsc", "cone"], ["rows0"]), n("Range", ["czero", "Wsc", "cone"], ["cols0"]),
        n("Add", ["rows0", "chalf"], ["rows"]), n("Add", ["cols0", "chalf"], ["cols"]),
        n("Sub", ["rows", "cy"], ["dy"]), n("Sub", ["cols", "cx"], ["dx"]),
        n("Mul", ["dy", "dy"], ["dy2"]), n("Mul", ["dx", "dx"], ["dx2"]),
        n("Unsqueeze", ["dy2", "i1"], ["dy2c"]),  # (H, 1)
        n("Unsqueeze", ["dx2", "i0"], ["dx2r"]),  # (1, W)
        n("Add", ["dy2c", "dx2r"], ["d2"]),  # (H, W)
        # radius grows by has_mask_input * mean(mask_input)
        n("ReduceMean", [mask_in], ["mmean"], keepdims=0),
        n("Mul", ["mmean", has_mask], ["grow"]),
        n("ReduceSum", [emb], ["esum"], keepdims=0),
        n("Mul", ["esum", "czero"], ["ezero"]),
        n("Add", ["csmall", "grow"], ["rs"]), n("Add", ["cbig", "grow"], ["rb"]),
        n("Mul", ["rs", "rs"], ["rs2"]), n("Mul", ["rb", "rb"], ["rb2"]),
        n("Sub", ["rs2", "d2"], ["ls0"]), n("Sub", ["rb2", "d2"], ["lb0"]),
        n("Add", ["ls0", "ezero"], ["ls"]), n("Add", ["lb0", "ezero"], ["lb"]),
        n("Unsqueeze", ["ls", "ax01"], ["ls4"]), n("Unsqueeze", ["lb", "ax01"], ["lb4"]),
        n("Concat", ["ls4", "lb4"], ["masks"], axis=1),
        n("Identity", ["cious"], ["iou_predictions"]),
        n("Identity", ["clow"], ["low_res_masks"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_sam_decoder",
        [
            helper.make_tensor_value_info(emb, TensorProto.FLOAT, [1, 3, 64, 64]),
            helper.make_tensor_value_info(coords, TensorProto.FLOAT, [1, "num_points", 2]),
            helper.make_tensor_value_info(labels, TensorProto.FLOAT, [1, "num_points"]),
            helper.make_tensor_value_info(mask_in, TensorProto.FLOAT, [1, 1, 256, 256]),
            helper.make_tensor_value_info(has_mask, TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info(size, TensorProto.FLOAT, [2]),
        ],
        [
            helper.make_tensor_value_info("masks", TensorProto.FLOAT, [1, 2, "H", "W"]),
            helper.make_tensor_value_info("iou_predictions", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("low_res_masks", TensorProto.FLOAT, [1, 2, 256, 256]),
        ],
    )
    return _model(graph)


def write_models(folder: Path, **decoder_kwargs: object) -> tuple[Path, Path]:
    """Save the encoder and decoder as ``encoder.onnx`` / ``decoder.onnx`` in ``folder``."""
    enc, dec = folder / "encoder.onnx", folder / "decoder.onnx"
    onnx.save(encoder_model(), enc)
    onnx.save(decoder_model(**decoder_kwargs), dec)  # type: ignore[arg-type]
    return enc, dec


def disk(height: int, width: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """Pixels whose centre lies strictly within ``radius`` of (cx, cy), as the tiny decoder draws them."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 < radius**2
