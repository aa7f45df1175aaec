"""modelpack's own TF Lite flatbuffer reader (what `info` reads), against a LiteRT interpreter built
on the same files, and against malformed bytes."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpack.errors import CorruptFileError
from modelpack.formats.tflite._flatbuffer import describe_buffer, describe_file

tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")


def _interpreter_says(path: Path) -> dict[str, Any]:
    """What a LiteRT interpreter reports for the file, in info's words."""
    from modelpack.formats.tflite._runtime import open_interpreter

    interpreter = open_interpreter(path, 1)

    def text(detail: dict[str, Any]) -> dict[str, Any]:
        dims = ", ".join("N" if d < 0 else str(d) for d in detail["shape_signature"])
        return {"name": detail["name"], "type": f"tensor({np.dtype(detail['dtype']).name})[{dims}]"}

    return {"producer": "TF Lite flatbuffer", "inputs": [text(d) for d in interpreter.get_input_details()],
            "outputs": [text(d) for d in interpreter.get_output_details()],
            "signatures": list(interpreter.get_signature_list())}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """TF Lite files written by TensorFlow's own converter: dynamic and fixed shapes, several
    inputs and outputs of several types, two signatures, float16 weights, int8 quantization."""
    folder = tmp_path_factory.mktemp("tflite")

    class Graphs(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([None], tf.int32)])
        def mixed(self, x, k):
            return {"y": tf.reduce_sum(x, axis=1) + tf.cast(k, tf.float32), "flag": tf.reduce_sum(x, axis=1) > 0}

        @tf.function(input_signature=[tf.TensorSpec([2, 2], tf.float32)])
        def fixed(self, a):
            return {"out": tf.matmul(a, a)}

    graphs = Graphs()
    made = {}
    for name, functions in (("mixed", [graphs.mixed]), ("fixed", [graphs.fixed]),
                            ("two_signatures", [graphs.mixed, graphs.fixed])):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function() for f in functions],
                                                                    graphs)
        made[name] = converter.convert()
    inputs = tf.keras.Input((4,))
    network = tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax")(
        tf.keras.layers.Dense(8, activation="relu")(inputs)))
    converter = tf.lite.TFLiteConverter.from_keras_model(network)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    made["float16"] = converter.convert()

    def representative():
        for _ in range(10):
            yield [np.random.default_rng(0).random((1, 4), dtype=np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(network)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type, converter.inference_output_type = tf.int8, tf.uint8
    made["int8"] = converter.convert()
    paths = {}
    for name, data in made.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(data)
    return paths


@pytest.mark.parametrize("name", ["mixed", "fixed", "two_signatures", "float16", "int8"])
def test_reads_what_a_litert_interpreter_reports(files, name):
    assert describe_file(files[name]) == _interpreter_says(files[name])


def test_what_the_files_hold(files):
    mixed = describe_file(files["mixed"])
    assert [i["type"] for i in mixed["inputs"]] == ["tensor(int32)[N]", "tensor(float32)[N, 3]"]
    assert sorted(o["type"] for o in mixed["outputs"]) == ["tensor(bool)[N]", "tensor(float32)[N]"]
    assert describe_file(files["two_signatures"])["signatures"] == ["fixed", "mixed"]
    assert describe_file(files["int8"])["inputs"][0]["type"] == "tensor(int8)[N, 4]"


def test_every_truncation_is_refused_or_read_never_a_crash(files):
    data = files["mixed"].read_bytes()
    refused = 0
    for end in range(len(data)):
        try:
            describe_buffer(data[:end])
        except Exception as exc:  # noqa: BLE001 - the reader's own refusal only
            assert type(exc).__name__ == "_Malformed", (end, exc)
            refused += 1
    assert refused > len(data) // 2


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.data())
def test_arbitrary_bytes_are_refused_or_read(files, noise, data):
    base = files["two_signatures"].read_bytes()
    at = data.draw(st.integers(0, len(base)))
    for candidate in (b"\0\0\0\0TFL3" + noise, base[:at] + noise + base[at + len(noise):]):
        try:
            describe_buffer(candidate)
        except Exception as exc:  # noqa: BLE001
            assert type(exc).__name__ == "_Malformed", exc


def test_a_vector_longer_than_the_file_is_refused_without_allocating_it(tmp_path):
    """32 bytes whose Model table declares 2**30 subgraphs: refused by its length, not by trying."""
    data = (struct.pack("<I", 20) + b"TFL3"  # the root table is at 20
            + struct.pack("<5H", 10, 8, 0, 0, 4) + b"\0\0"  # its vtable at 8: field 2 (subgraphs) at +4
            + struct.pack("<iI", 12, 4)  # the table at 20: its vtable 12 bytes back; the vector 4 bytes on
            + struct.pack("<I", 1 << 30))  # the vector at 28: 2**30 entries, none present
    path = tmp_path / "wide.tflite"
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match="a vector is longer than the file"):
        describe_file(path)


def test_info_on_tflite_imports_neither_litert_nor_numpy(files):
    code = ("import json, sys; from modelpack.cli import main; sys.argv = ['modelpack', 'info', sys.argv[1], '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps([m for m in ('ai_edge_litert', 'tensorflow', 'numpy') if m in sys.modules]), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(files["mixed"])], capture_output=True, text=True, check=True)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    assert json.loads(done.stdout)["details"] == _interpreter_says(files["mixed"])


def test_a_graph_wider_than_the_listing_says_how_wide(tmp_path):
    """Written by the FlatBuffers builder from LiteRT's own schema classes: 1,001 inputs are listed
    as the first 1,000 and their total, never silently cut."""
    flatbuffers = pytest.importorskip("flatbuffers")
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.SubGraphT()
    graph.tensors = []
    for i in range(1002):
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.name, tensor.buffer = [1, 2], schema.TensorType.FLOAT32, f"t{i}", 0
        graph.tensors.append(tensor)
    graph.inputs, graph.outputs, graph.operators = list(range(1001)), [1001], []
    model = schema.ModelT()
    model.version, model.subgraphs, model.buffers, model.operatorCodes = 3, [graph], [schema.BufferT()], []
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path / "wide.tflite"
    path.write_bytes(bytes(builder.Output()))
    found = describe_file(path)
    assert len(found["inputs"]) == 1000 and found["inputs_total"] == 1001
    assert found["inputs"][999] == {"name": "t999", "type": "tensor(float32)[1, 2]"}
    assert found["outputs"] == [{"name": "t1001", "type": "tensor(float32)[1, 2]"}] and "outputs_total" not in found
