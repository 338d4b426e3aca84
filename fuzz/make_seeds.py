#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into fuzz/corpus/<target>/.

Each seed is a small binary file in the input format its target decodes (documented at the top of
fuzz/fuzz_trt_fields.cpp and fuzz/fuzz_ort_attributes.cpp; the encoders below mirror the decoders):
valid configurations of each op, every wrong type, missing, unknown, duplicated and out-of-range
fields, hostile lengths and pointers, and call scripts that drive the plugins' build methods,
Compute, and the error paths. Seed files are named seed-<description>; inputs the fuzzer found and
`fuzz/run.py --corpus-out` merged are named by their hash and are left alone here.

    python3 fuzz/make_seeds.py [--check]   (--check: exit 1 when the committed seeds are stale)
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def u8(v: int) -> bytes:
    return struct.pack("<B", v & 0xFF)


def i8(v: int) -> bytes:
    return struct.pack("<b", v)


def i32(v: int) -> bytes:
    return struct.pack("<i", v)


def i64(v: int) -> bytes:
    return struct.pack("<q", v)


def f32(v: float) -> bytes:
    return struct.pack("<f", v)


def f64(v: float) -> bytes:
    return struct.pack("<d", v)


def short(b: bytes) -> bytes:
    assert len(b) < 256
    return u8(len(b)) + b


# ---- fuzz_trt_fields ---------------------------------------------------------------------------

TRT_NAMES = ["num_groups", "epsilon", "activation", "size", "alpha", "beta", "bias", "window", "",
             "plugin_version", "plugin_namespace"]

# nvinfer1::PluginFieldType
kFLOAT16, kFLOAT32, kFLOAT64, kINT8, kINT16, kINT32, kCHAR, kDIMS, kUNKNOWN, kBF16, kINT64, kFP8, kINT4, kFP4 = range(14)
# nvinfer1::DataType / TensorFormat
DT_FLOAT, DT_HALF, DT_INT8, DT_INT32, DT_BOOL, DT_UINT8, DT_FP8, DT_BF16, DT_INT64 = range(9)
TF_LINEAR, TF_CHW2, TF_HWC8, TF_CHW4, TF_CHW16, TF_CHW32, TF_DHWC8, TF_CDHW32, TF_HWC = range(9)
TF_DHWC = 12


class F:
    """One PluginField: name (str, None = nullptr), type, length, data (bytes; None = nullptr)."""

    def __init__(self, name, ftype, length, data=b"", fill=None):
        self.name, self.ftype, self.length, self.data, self.fill = name, ftype, length, data, fill

    def encode(self) -> bytes:
        if self.name is None:
            out = u8(0xFE)
        elif self.name in TRT_NAMES:
            out = u8(TRT_NAMES.index(self.name))
        else:
            out = u8(0xF0) + short(self.name.encode())
        out += u8(self.ftype) if 0 <= self.ftype < 0xFF else u8(0xFF) + i32(self.ftype)
        out += u8(self.length) if 0 <= self.length < 0xFF else u8(0xFF) + i32(self.length)
        if self.data is None:
            return out + u8(1)
        if self.fill is not None:
            return out + u8(2) + u8(self.fill)
        return out + u8(0) + self.data


def i32f(name, v):
    return F(name, kINT32, 1, i32(v))


def f32f(name, v):
    return F(name, kFLOAT32, 1, f32(v))


def strf(name, s: bytes, nul=False):
    """kCHAR as the ONNX parser passes it (no NUL), or as getFieldsToSerialize writes it (with)."""
    data = s + (b"\0" if nul else b"")
    return F(name, kCHAR, len(data), data)


def trt_fields(fields, null_fc=False, null_fields=False, nb_override=None, layer=b"layer0") -> bytes:
    flags = (1 if null_fc else 0) | (2 if null_fields else 0) | (4 if nb_override is not None else 0)
    flags |= 8 if layer is None else 0
    out = u8(flags)
    if layer is not None:
        out += short(layer)
    if nb_override is not None:
        out += i32(nb_override)
    out += u8(len(fields))
    for f in fields:
        out += f.encode()
    return out


def dim(v: int) -> bytes:
    if 0 <= v < 0xF0:
        return u8(v)
    if v == -1:
        return u8(0xF0)
    return u8(0xF1) + i64(v)


def dims(ds, nb=None) -> bytes:
    """nbDims (any int8) and the min(max(nbDims, 0), 8) values the Dims struct holds (padded with 1)."""
    nb = len(ds) if nb is None else nb
    stored = max(0, min(nb, 8))
    return i8(nb) + b"".join(dim(d) for d in (list(ds) + [1] * 8)[:stored])


def desc(ds, dtype=DT_FLOAT, fmt=TF_LINEAR, minmax=None, nb=None) -> bytes:
    out = u8(dtype) + u8(fmt) + dims(ds, nb)
    if minmax is None:
        return out + u8(0)
    return out + u8(1) + dims(minmax[0]) + dims(minmax[1])


GET_TYPES, GET_SHAPES, SUPPORTS, CONFIGURE, WORKSPACE, SHAPE_CHANGE, ENQUEUE, CLONE, ATTACH, FAIL, CAPS = range(11)


def call(method, ins, outs, pos=None, throw=False, capability=0) -> bytes:
    counts = len(ins) | (len(outs) << 3) | (0x40 if throw else 0)
    out = u8(method) + u8(counts) + b"".join(ins) + b"".join(outs)
    if method == SUPPORTS:
        out += i8(pos)
    if method == CAPS:
        out += i32(capability)
    return out


def script(*calls) -> bytes:
    return u8(len(calls)) + b"".join(calls)


GN_VALID = [i32f("num_groups", 4), f32f("epsilon", 1e-5), strf("activation", b"silu")]
LRN_VALID = [i32f("size", 5), f32f("alpha", 1e-4), f32f("beta", 0.75), f32f("bias", 2.0), strf("window", b"pytorch")]
BOTH_VALID = [i32f("num_groups", 2), i32f("size", 3)]


def gn_script() -> bytes:
    x = desc([2, 8, 4, 4])
    s = desc([8])
    y = desc([2, 8, 4, 4])
    return script(call(GET_TYPES, [x, s, s], [y]), call(GET_SHAPES, [x, s, s], [y]),
                  call(SUPPORTS, [x, s, s], [y], pos=0), call(SUPPORTS, [x, s, s], [y], pos=3),
                  call(CONFIGURE, [x, s, s], [y]), call(WORKSPACE, [x, s, s], [y]),
                  call(SHAPE_CHANGE, [x, s, s], [y]), call(ENQUEUE, [x, s, s], [y]), call(CLONE, [], []))


def lrn_script() -> bytes:
    x = desc([1, 4, 3, 3])
    return script(call(GET_TYPES, [x], [x]), call(GET_SHAPES, [x], [x]), call(SUPPORTS, [x], [x], pos=1),
                  call(CONFIGURE, [x], [x]), call(WORKSPACE, [x], [x]), call(SHAPE_CHANGE, [x], [x]),
                  call(ENQUEUE, [x], [x]), call(ATTACH, [x], [x]), call(CLONE, [], []), call(CAPS, [], [], capability=1),
                  call(CAPS, [], [], capability=7))


def trt_seeds() -> dict[str, bytes]:
    big = 2 ** 31 - 1
    s = {}
    # valid configurations
    s["gn-valid-parser-style"] = trt_fields(GN_VALID) + gn_script()
    s["gn-valid-serialized-style"] = trt_fields([i32f("num_groups", 8), f32f("epsilon", 1e-6),
                                                 strf("activation", b"none", nul=True)]) + gn_script()
    s["gn-only-num-groups"] = trt_fields([i32f("num_groups", 1)])
    s["gn-num-groups-int64"] = trt_fields([F("num_groups", kINT64, 1, i64(2 ** 40))])
    s["gn-num-groups-int8"] = trt_fields([F("num_groups", kINT8, 1, bytes([3]))])
    s["gn-num-groups-int16"] = trt_fields([F("num_groups", kINT16, 1, struct.pack("<h", 300))])
    s["gn-epsilon-float64"] = trt_fields([i32f("num_groups", 2), F("epsilon", kFLOAT64, 1, f64(1e-5))])
    s["gn-epsilon-float64-beyond-float32"] = trt_fields([i32f("num_groups", 2), F("epsilon", kFLOAT64, 1, f64(1e300))])
    s["gn-epsilon-int"] = trt_fields([i32f("num_groups", 2), F("epsilon", kINT32, 1, i32(0))])
    s["lrn-valid"] = trt_fields(LRN_VALID) + lrn_script()
    s["lrn-only-size"] = trt_fields([i32f("size", 1)]) + lrn_script()
    s["both-ops-valid"] = trt_fields(BOTH_VALID + [strf("window", b"onnx", nul=True)]) + lrn_script()
    s["with-version-namespace"] = trt_fields(GN_VALID + [strf("plugin_version", b"1"),
                                                         strf("plugin_namespace", b"normdeploy")])
    # wrong types / lengths / pointers
    s["gn-num-groups-float"] = trt_fields([f32f("num_groups", 4.0)])
    s["gn-num-groups-char"] = trt_fields([strf("num_groups", b"4")])
    s["gn-num-groups-dims"] = trt_fields([F("num_groups", kDIMS, 1, fill=0)])
    s["gn-num-groups-len0"] = trt_fields([F("num_groups", kINT32, 0, b"")])
    s["gn-num-groups-len2"] = trt_fields([F("num_groups", kINT32, 2, i32(4) + i32(4))])
    s["gn-num-groups-len-negative"] = trt_fields([F("num_groups", kINT32, -1, b"")])
    s["gn-num-groups-null-data"] = trt_fields([F("num_groups", kINT32, 1, None)])
    s["gn-epsilon-half"] = trt_fields([i32f("num_groups", 2), F("epsilon", kFLOAT16, 1, b"\x00\x3c")])
    s["gn-activation-int"] = trt_fields([i32f("num_groups", 2), i32f("activation", 1)])
    s["gn-activation-huge-length"] = trt_fields([i32f("num_groups", 2), F("activation", kCHAR, big, b"")])
    s["gn-activation-len0"] = trt_fields([i32f("num_groups", 2), F("activation", kCHAR, 0, b"")])
    s["gn-activation-embedded-nul"] = trt_fields([i32f("num_groups", 2), strf("activation", b"silu\0xyz")])
    s["gn-type-out-of-enum"] = trt_fields([F("num_groups", 200, 1, i64(4)), F("epsilon", -7, 1, i64(0))])
    s["gn-type-unknown-bytes"] = trt_fields([F("num_groups", kUNKNOWN, 4, i32(4))])
    s["lrn-alpha-bf16"] = trt_fields([i32f("size", 3), F("alpha", kBF16, 1, b"\x80\x3f")])
    s["lrn-window-fp4"] = trt_fields([i32f("size", 3), F("window", kFP4, 3, b"\x12\x34")])
    s["lrn-size-int4"] = trt_fields([F("size", kINT4, 1, b"\x03")])
    # missing / unknown / duplicated
    s["empty-collection"] = trt_fields([])
    s["null-collection"] = trt_fields([], null_fc=True, layer=None)
    s["null-fields"] = trt_fields([i32f("num_groups", 2)], null_fields=True)
    s["negative-nbfields"] = trt_fields(GN_VALID, null_fields=True, nb_override=-5)
    s["fewer-nbfields"] = trt_fields(GN_VALID + LRN_VALID, nb_override=2)
    s["unknown-fields"] = trt_fields([i32f("num_groups", 2), i32f("groups", 2), strf("num_groups ", b"x"),
                                      F(None, kINT32, 1, i32(1)), f32f("", 1.0)])
    s["duplicate-first-wins"] = trt_fields([i32f("num_groups", 2), i32f("num_groups", 0), i32f("size", 0),
                                            i32f("size", 3)])
    # out of range
    s["gn-num-groups-zero"] = trt_fields([i32f("num_groups", 0)])
    s["gn-num-groups-negative"] = trt_fields([i32f("num_groups", -2147483648)])
    s["gn-epsilon-negative"] = trt_fields([i32f("num_groups", 2), f32f("epsilon", -1.0)])
    s["gn-epsilon-nan"] = trt_fields([i32f("num_groups", 2), F("epsilon", kFLOAT32, 1, b"\x00\x00\xc0\x7f")])
    s["gn-epsilon-inf"] = trt_fields([i32f("num_groups", 2), F("epsilon", kFLOAT32, 1, b"\x00\x00\x80\x7f")])
    s["gn-activation-relu"] = trt_fields([i32f("num_groups", 2), strf("activation", b"relu")])
    s["lrn-size-zero"] = trt_fields([i32f("size", 0)])
    s["lrn-window-caffe"] = trt_fields([i32f("size", 3), strf("window", b"caffe", nul=True)])
    s["lrn-beta-huge-int64"] = trt_fields([i32f("size", 3), F("beta", kINT64, 1, i64(2 ** 62 + 1))])
    # build-time methods with hostile descriptions
    x = desc([2, 8, 4, 4])
    s["gn-hostile-descs"] = trt_fields(GN_VALID) + script(
        call(CONFIGURE, [desc([2, 8, 4, 4], nb=9)], [x]),
        call(CONFIGURE, [desc([-1, 8, -1, -1], minmax=([1, 8, 1, 1], [2 ** 40, 8, 2 ** 40, 2 ** 40]))], [x]),
        call(GET_SHAPES, [desc([2, 8, 4, 4], nb=12)], [x]),
        call(GET_SHAPES, [x, desc([2 ** 40, 2 ** 40])], [x]),
        call(WORKSPACE, [desc([2 ** 62, 8, 2, 2])], [x]),
        call(SHAPE_CHANGE, [desc([2, 8, 4, 4], nb=-3)], [x]),
        call(SUPPORTS, [x], [x], pos=-1),
        call(GET_TYPES, [desc([2, 8], dtype=99)], [x]))
    s["gn-workspace-volume-overflow"] = trt_fields(GN_VALID) + script(call(WORKSPACE, [desc([2 ** 62, 8, 2, 2])], [x]))
    s["gn-scale-length-overflow"] = trt_fields(GN_VALID) + script(
        call(GET_SHAPES, [x, desc([2 ** 40, 2 ** 40])], [x]),
        call(CONFIGURE, [x, desc([2 ** 40, 2 ** 40])], [x]))
    s["lrn-enqueue-spatial-overflow"] = trt_fields(LRN_VALID) + script(
        call(ENQUEUE, [desc([1, 1, 2 ** 40, 2 ** 40])], [desc([1, 1, 2 ** 40, 2 ** 40])]))
    s["gn-channel-last"] = trt_fields([i32f("num_groups", 2)]) + script(
        call(SUPPORTS, [desc([1, 16, 2, 2], DT_HALF, TF_HWC8)], [desc([1, 16, 2, 2], DT_HALF, TF_HWC8)], pos=0),
        call(CONFIGURE, [desc([1, 16, 2, 2], DT_HALF, TF_HWC8)], [desc([1, 16, 2, 2], DT_HALF, TF_HWC8)]),
        call(WORKSPACE, [desc([1, 16, 2, 2], DT_HALF, TF_HWC8)], [desc([1, 16, 2, 2], DT_HALF, TF_HWC8)]),
        call(CONFIGURE, [desc([1, 6, 2, 2, 2], DT_FLOAT, TF_DHWC)], [desc([1, 6, 2, 2, 2], DT_FLOAT, TF_DHWC)]),
        call(CONFIGURE, [desc([1, 12, 2, 2], DT_BF16, TF_HWC8)], [desc([1, 12, 2, 2], DT_BF16, TF_HWC8)]))
    s["gn-enqueue-errors"] = trt_fields(GN_VALID) + script(
        call(ENQUEUE, [x], [x]), call(SHAPE_CHANGE, [x], [x]), call(FAIL, [], []), call(ENQUEUE, [x], [x]),
        call(FAIL, [], [], throw=True), call(ENQUEUE, [x], [x]), call(ATTACH, [desc([2, 7, 4, 4])], [x]))
    s["lrn-hostile-descs"] = trt_fields(LRN_VALID) + script(
        call(CONFIGURE, [desc([1, 4, 3, 3], nb=100)], [x]),
        call(SHAPE_CHANGE, [desc([1, 4, 3, 3], fmt=TF_HWC)], [x]),
        call(ENQUEUE, [desc([2 ** 40, 2 ** 40, 2 ** 40])], [x]),
        call(GET_SHAPES, [desc([1, 4], nb=9)], [x]),
        call(GET_TYPES, [x, x], [x]))
    return s


# ---- fuzz_ort_attributes -----------------------------------------------------------------------

ORT_NAMES = TRT_NAMES
# ONNX AttributeProto types
A_FLOAT, A_INT, A_STRING, A_TENSOR, A_GRAPH, A_FLOATS, A_INTS, A_STRINGS = 1, 2, 3, 4, 5, 6, 7, 8
# ONNXTensorElementDataType
E_FLOAT, E_UINT8, E_INT8, E_UINT16, E_INT16, E_INT32, E_INT64, E_STRING, E_BOOL, E_FLOAT16, E_DOUBLE = range(1, 12)
E_BFLOAT16 = 16


def attr(name, atype, value=None) -> bytes:
    out = u8(ORT_NAMES.index(name)) if name in ORT_NAMES else u8(0xF0) + short(name.encode("latin-1"))
    out += u8(atype)
    if atype == A_FLOAT:
        out += f32(value)
    elif atype == A_INT:
        out += i64(value)
    elif atype == A_STRING:
        out += short(value)
    elif atype == A_FLOATS:
        out += u8(len(value)) + b"".join(f32(v) for v in value)
    elif atype == A_INTS:
        out += u8(len(value)) + b"".join(i64(v) for v in value)
    elif atype == A_STRINGS:
        out += u8(len(value)) + b"".join(short(v) for v in value)
    return out


def ort_dim(v: int) -> bytes:
    if 0 <= v < 0xF0:
        return u8(v)
    return u8(0xF1) + i64(v)


def tensor(ds, etype=E_FLOAT, mode=0, data=None) -> bytes:
    """An input: mode 0 tensor, 1 omitted (no data follows), 2 not a tensor. X's element type is
    the registration's whatever is written here, so X must be written with that type."""
    out = u8(mode) + u8(etype) + u8(len(ds)) + b"".join(ort_dim(d) for d in ds)
    if mode == 1:
        return out
    if data is None:
        n = 1
        for d in ds:
            n *= d
        width = {E_FLOAT: 4, E_FLOAT16: 2, E_BFLOAT16: 2, E_INT32: 4}.get(etype, 4)
        if n * width <= 4096:
            data = b"".join(f32(0.25 * (i % 7) - 0.5) if width == 4 else struct.pack("<H", 0x3C00 + 64 * (i % 5))
                            for i in range(n))
        else:
            data = b""
    return out + data


def ort(attrs, flags=0, node=b"node0", inputs=None) -> bytes:
    if inputs is not None:
        flags |= 0x08
    out = u8(flags) + short(node) + u8(len(attrs)) + b"".join(attrs)
    if inputs is not None:
        out += u8(len(inputs) - 1) + b"".join(inputs)
    return out


F16, BF16 = 1, 2  # flags: element type of the registration


def ort_seeds() -> dict[str, bytes]:
    gn = [attr("num_groups", A_INT, 2), attr("epsilon", A_FLOAT, 1e-5), attr("activation", A_STRING, b"silu")]
    lrn = [attr("size", A_INT, 3), attr("alpha", A_FLOAT, 1e-4), attr("beta", A_FLOAT, 0.75),
           attr("bias", A_FLOAT, 1.0), attr("window", A_STRING, b"pytorch")]
    x = tensor([2, 4, 3])
    c4 = tensor([4])
    s = {}
    s["gn-valid-compute"] = ort(gn, inputs=[x, c4, c4])
    s["gn-defaults-compute"] = ort([attr("num_groups", A_INT, 4)], inputs=[tensor([1, 4, 2, 2])])
    s["gn-float16-compute"] = ort(gn, flags=F16, inputs=[tensor([1, 4, 5], E_FLOAT16), tensor([4], E_FLOAT16),
                                                          tensor([4])])
    s["gn-bfloat16-compute"] = ort(gn, flags=BF16, inputs=[tensor([1, 2, 3], E_BFLOAT16)])
    s["gn-bias-only"] = ort(gn, inputs=[x, tensor([4], mode=1), c4])
    s["lrn-valid-compute"] = ort(lrn, inputs=[tensor([1, 5, 2, 2])])
    s["lrn-onnx-window-f16"] = ort([attr("size", A_INT, 4)], flags=F16, inputs=[tensor([2, 3, 2], E_FLOAT16)])
    s["both-ops"] = ort(gn + lrn, inputs=[tensor([1, 6, 3])])
    s["with-version-namespace"] = ort(gn + [attr("plugin_version", A_STRING, b"1"),
                                            attr("plugin_namespace", A_STRING, b"normdeploy")])
    # wrong types
    s["gn-num-groups-float"] = ort([attr("num_groups", A_FLOAT, 2.0)])
    s["gn-num-groups-string"] = ort([attr("num_groups", A_STRING, b"2")])
    s["gn-num-groups-ints"] = ort([attr("num_groups", A_INTS, [2, 2])])
    s["gn-num-groups-floats"] = ort([attr("num_groups", A_FLOATS, [2.0])])
    s["gn-num-groups-empty-ints"] = ort([attr("num_groups", A_INTS, [])])
    s["gn-num-groups-tensor"] = ort([attr("num_groups", A_TENSOR)])
    s["gn-num-groups-graph"] = ort([attr("num_groups", A_GRAPH)])
    s["gn-num-groups-strings"] = ort([attr("num_groups", A_STRINGS, [b"a", b"b"])])
    s["gn-epsilon-int"] = ort([attr("num_groups", A_INT, 2), attr("epsilon", A_INT, 1)])
    s["gn-activation-int"] = ort([attr("num_groups", A_INT, 2), attr("activation", A_INT, 1)])
    s["lrn-alpha-floats"] = ort([attr("size", A_INT, 3), attr("alpha", A_FLOATS, [1.0, 2.0])])
    s["lrn-window-strings"] = ort([attr("size", A_INT, 3), attr("window", A_STRINGS, [b"onnx"])])
    # strings and names
    s["gn-activation-embedded-nul"] = ort([attr("num_groups", A_INT, 2), attr("activation", A_STRING, b"silu\0x")])
    s["gn-activation-empty"] = ort([attr("num_groups", A_INT, 2), attr("activation", A_STRING, b"")])
    s["name-with-nul"] = ort([attr("num_groups\0", A_INT, 2), attr("size\0x", A_INT, 3)])
    s["node-name-with-nul"] = ort(gn, node=b"no\0de\xff")
    s["node-name-fails"] = ort([attr("num_groups", A_INT, 0)], flags=0x04)
    s["unknown-attributes"] = ort(gn + [attr("groups", A_INT, 2), attr("", A_FLOAT, 1.0)])
    s["duplicate-first-wins"] = ort([attr("num_groups", A_INT, 2), attr("num_groups", A_FLOAT, 1.0)])
    s["no-attributes"] = ort([])
    # out of range
    s["gn-num-groups-zero"] = ort([attr("num_groups", A_INT, 0)])
    s["gn-num-groups-min"] = ort([attr("num_groups", A_INT, -2 ** 63)])
    s["gn-epsilon-negative"] = ort([attr("num_groups", A_INT, 2), attr("epsilon", A_FLOAT, -1.0)])
    s["gn-epsilon-nan"] = ort([attr("num_groups", A_INT, 2), attr("epsilon", A_FLOAT, float("nan"))])
    s["lrn-size-zero"] = ort([attr("size", A_INT, 0)])
    s["lrn-bias-inf"] = ort([attr("size", A_INT, 3), attr("bias", A_FLOAT, float("inf"))])
    s["lrn-size-huge-compute"] = ort([attr("size", A_INT, 2 ** 62)], inputs=[tensor([1, 3, 2])])
    # compute with bad inputs
    s["gn-scale-int32"] = ort(gn, inputs=[x, tensor([4], E_INT32)])
    s["gn-scale-rank2"] = ort(gn, inputs=[x, tensor([2, 2])])
    s["gn-scale-wrong-length"] = ort(gn, inputs=[x, tensor([3])])
    s["gn-scale-bias-types-differ"] = ort(gn, flags=F16, inputs=[tensor([1, 4, 2], E_FLOAT16), tensor([4]),
                                                                tensor([4], E_FLOAT16)])
    s["gn-scale-not-tensor"] = ort(gn, inputs=[x, tensor([4], mode=2)])
    s["gn-x-rank1"] = ort(gn, inputs=[tensor([4])])
    s["gn-c-not-divisible"] = ort([attr("num_groups", A_INT, 3)], inputs=[tensor([1, 4, 2])])
    s["gn-empty-huge-dims"] = ort(gn, inputs=[tensor([1, 0, 2 ** 62, 2 ** 62])])
    s["lrn-empty-huge-dims"] = ort(lrn, inputs=[tensor([1, 0, 2 ** 62, 2 ** 62])])
    s["gn-parallel-fails"] = ort(gn, flags=0x10, inputs=[tensor([2, 4, 40])])
    s["lrn-parallel-reverse"] = ort(lrn, flags=0x20, inputs=[tensor([3, 5, 30])])
    return s


TARGETS = {"fuzz_trt_fields": trt_seeds, "fuzz_ort_attributes": ort_seeds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the committed seeds are current")
    parser.add_argument("--out", type=Path, default=CORPUS, help="corpus root (default fuzz/corpus)")
    args = parser.parse_args()
    stale = []
    for target, make in TARGETS.items():
        folder = args.out / target
        seeds = {f"seed-{name}": data for name, data in make().items()}
        existing = {p.name: p.read_bytes() for p in folder.glob("seed-*")} if folder.is_dir() else {}
        if args.check:
            stale += [f"{target}/{n}" for n in sorted(set(seeds) ^ set(existing))]
            stale += [f"{target}/{n}" for n in sorted(set(seeds) & set(existing)) if seeds[n] != existing[n]]
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for name in set(existing) - set(seeds):
            (folder / name).unlink()
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds in {folder}")
    if args.check and stale:
        print("stale seeds (run python3 fuzz/make_seeds.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
