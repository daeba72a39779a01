"""Crafted ONNX graphs (the ONNX part of the fuzz harness, no tests here): each keeps one
tensor's data in a file beside the model, in one of the places onnxruntime reads tensors
from. A loader must refuse every one of them without reading that file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SECRET = "secret.bin"  # the file beside the model that the tensors point into
N = 4  # floats per tensor


def _external(name: str) -> TensorProto:
    """A float tensor of N values whose data is said to be at offset 0 of SECRET."""
    tensor = numpy_helper.from_array(np.zeros(N, np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": SECRET, "offset": "0", "length": str(4 * N)}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _vector(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [N])


def _graph(nodes, name="g", initializer=(), sparse=()) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [_vector("y")], list(initializer), sparse_initializer=list(sparse))


def _constant_node() -> onnx.GraphProto:
    return _graph([helper.make_node("Constant", [], ["y"], value=_external("c"))])


def _graph_initializer() -> onnx.GraphProto:
    return _graph([helper.make_node("Identity", ["w"], ["y"])], initializer=[_external("w")])


def _sparse(name: str) -> onnx.SparseTensorProto:
    return helper.make_sparse_tensor(_external(name), numpy_helper.from_array(np.arange(N, dtype=np.int64)), [N])


def _sparse_initializer() -> onnx.GraphProto:
    return _graph([helper.make_node("Identity", ["s"], ["y"])], sparse=[_sparse("s")])


def _sparse_attribute() -> onnx.GraphProto:
    return _graph([helper.make_node("Constant", [], ["y"], sparse_value=_sparse("s"))])


def _tensors_attribute() -> onnx.GraphProto:
    """An attribute holding a list of tensors (no standard op has one; a file may)."""
    node = helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(np.zeros(N, np.float32)))
    node.attribute.append(helper.make_attribute("extra", [_external("t")]))
    return _graph([node])


def _branch(body: onnx.GraphProto) -> onnx.GraphProto:
    """``y = If(true) then body else zeros``."""
    cond = numpy_helper.from_array(np.array(True), "cond")
    zeros = _graph([helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(np.zeros(N, np.float32)))],
                   "else")
    return _graph([helper.make_node("If", ["cond"], ["y"], then_branch=body, else_branch=zeros)], initializer=[cond])


def _if_initializer() -> onnx.GraphProto:
    return _branch(_graph([helper.make_node("Identity", ["w"], ["y"])], "then", initializer=[_external("w")]))


def _nested_if_constant() -> onnx.GraphProto:
    return _branch(_branch(_constant_node()))


def _loop_body_constant() -> onnx.GraphProto:
    body = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                              helper.make_node("Constant", [], ["v"], value=_external("c"))], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), _vector("v")])
    trips = numpy_helper.from_array(np.array(1, np.int64), "trips")
    cond = numpy_helper.from_array(np.array(True), "cond")
    loop = helper.make_node("Loop", ["trips", "cond"], ["y"], body=body)
    graph = _graph([loop], initializer=[trips, cond])
    graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N]))
    return graph


GRAPHS: dict[str, Callable[[], onnx.GraphProto]] = {
    "graph initializer": _graph_initializer,
    "Constant node": _constant_node,
    "If branch initializer": _if_initializer,
    "If in If, Constant": _nested_if_constant,
    "Loop body Constant": _loop_body_constant,
    "sparse initializer": _sparse_initializer,
    "sparse Constant": _sparse_attribute,
    "tensors attribute": _tensors_attribute,
}


def function_constant() -> onnx.ModelProto:
    """A model whose local function holds the Constant node."""
    fn = helper.make_function("local", "f", [], ["y"], [helper.make_node("Constant", [], ["y"], value=_external("c"))],
                              [helper.make_opsetid("", 18)])
    graph = _graph([helper.make_node("f", [], ["y"], domain="local")])
    return helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 18),
                                                                    helper.make_opsetid("local", 1)])


def write_external_graphs(folder: Path, metadata: str) -> dict[str, Path]:
    """name -> an ONNX file in ``folder`` carrying ``metadata`` as its fastkp.json, with
    SECRET beside it (N floats of 7.0, what a leak would answer)."""
    (folder / SECRET).write_bytes(np.full(N, 7.0, np.float32).tobytes())
    models = {name: helper.make_model(make(), opset_imports=[helper.make_opsetid("", 18)])
              for name, make in GRAPHS.items()}
    models["function Constant"] = function_constant()
    out = {}
    for name, model in models.items():
        helper.set_model_props(model, {"fastkp.json": metadata})
        out[name] = folder / f"{name.replace(' ', '_').replace(',', '')}.onnx"
        out[name].write_bytes(model.SerializeToString())
    return out
