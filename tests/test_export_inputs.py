"""normdeploy.export on models as users have them: several inputs of several kinds (an int64 0-d
timestep used in arithmetic, 1-d inputs), keyword arguments, dataclass/dict/tuple/ModelOutput
outputs; names, dtypes and ranks in the file, and parity with PyTorch at other dynamic sizes."""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

import normdeploy
from normdeploy.exporter import ExportError, count_custom_nodes


@dataclasses.dataclass
class UNetOutput:
    sample: torch.Tensor
    aux: torch.Tensor | None = None


class TinyUNet(torch.nn.Module):
    """A diffusers UNet2DConditionModel in miniature: (sample, timestep, encoder_hidden_states),
    a sinusoidal embedding of the int64 timestep, GroupNorm+SiLU blocks, cross-attention, and
    return_dict choosing a dataclass or a tuple."""

    def __init__(self, channels: int = 8, context: int = 16) -> None:
        super().__init__()
        self.conv_in = torch.nn.Conv2d(4, channels, 3, padding=1)
        self.time = torch.nn.Linear(8, channels)
        self.norm1 = torch.nn.GroupNorm(4, channels)
        self.conv1 = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = torch.nn.GroupNorm(2, channels)
        self.q = torch.nn.Linear(channels, channels)
        self.kv = torch.nn.Linear(context, 2 * channels)
        self.conv_out = torch.nn.Conv2d(channels, 4, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, return_dict=True):
        freqs = torch.exp(-math.log(10000.0) * torch.arange(4, dtype=torch.float32) / 4)
        angles = timestep.float()[..., None] * freqs  # 0-d timestep -> (4,)
        temb = self.time(torch.cat([angles.sin(), angles.cos()], dim=-1))
        h = self.conv_in(sample)
        h = h + self.conv1(F.silu(self.norm1(h))) + temb.reshape(1, -1, 1, 1)
        n, c, height, width = h.shape
        tokens = F.silu(self.norm2(h)).flatten(2).transpose(1, 2)
        k, v = self.kv(encoder_hidden_states).chunk(2, dim=-1)
        attn = torch.softmax(self.q(tokens) @ k.transpose(1, 2) / math.sqrt(c), dim=-1) @ v
        h = h + attn.transpose(1, 2).reshape(n, c, height, width)
        out = self.conv_out(h)
        return UNetOutput(sample=out) if return_dict else (out,)


def _close(got: np.ndarray, want: torch.Tensor) -> None:
    want_np = want.detach().numpy()
    assert got.shape == want_np.shape
    err = float(np.abs(got - want_np).max())
    assert err <= 1e-4 * max(1.0, float(np.abs(want_np).max())), f"max error {err}"


def _io(model: onnx.ModelProto) -> tuple[list[Any], list[Any]]:
    def one(vi):
        t = vi.type.tensor_type
        return vi.name, t.elem_type, [d.dim_param or d.dim_value for d in t.shape.dim]

    return [one(vi) for vi in model.graph.input], [one(vi) for vi in model.graph.output]


def test_unet_like_model_three_inputs_dataclass_output(tmp_path):
    torch.manual_seed(0)
    net = TinyUNet().eval()
    args = (torch.randn(1, 4, 8, 8), torch.tensor(500), torch.randn(1, 7, 16))
    result = normdeploy.export(net, args, tmp_path / "unet.onnx", dynamic_axes={
        "sample": {0: "batch", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch", 1: "seq"}})
    inputs, outputs = _io(onnx.load(str(result.path)))
    F32, I64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    assert inputs == [("sample", F32, ["batch", 4, "height", "width"]), ("timestep", I64, []),
                      ("encoder_hidden_states", F32, ["batch", "seq", 16])]
    assert [(name, kind) for name, kind, _ in outputs] == [("out_sample", F32)]  # 'sample' is taken by the input
    assert outputs[0][2][:2] == ["batch", 4]
    assert count_custom_nodes(result.model) == {"GroupNorm(silu)": 2}
    sess = normdeploy.make_session(result.path)
    seen = []
    for shape, steps, t in (((1, 4, 8, 8), 7, 500), ((3, 4, 6, 10), 5, 17), ((2, 4, 12, 4), 9, 999)):
        x, ehs, ts = torch.randn(*shape), torch.randn(shape[0], steps, 16), torch.tensor(t)
        got = sess.run(None, {"sample": x.numpy(), "timestep": ts.numpy(), "encoder_hidden_states": ehs.numpy()})[0]
        with torch.no_grad():
            _close(got, net(x, ts, ehs).sample)
        seen.append((x, ehs, got))
    x, ehs, got_999 = seen[2]
    got_3 = sess.run(None, {"sample": x.numpy(), "timestep": np.array(3), "encoder_hidden_states": ehs.numpy()})[0]
    assert np.abs(got_3 - got_999).max() > 1e-3, "the timestep must stay an input, not a constant"


def test_kwargs_constants_and_tensor_kwargs(tmp_path):
    """return_dict=False is baked in (a tuple: output_0); a tensor passed by keyword is an input
    named by its key; a keyword given before a positional one still lands in forward()'s order."""
    torch.manual_seed(1)
    net = TinyUNet().eval()
    sample, ehs = torch.randn(2, 4, 6, 6), torch.randn(2, 3, 16)
    result = normdeploy.export(net, (sample,), tmp_path / "kw.onnx",
                               kwargs={"encoder_hidden_states": ehs, "return_dict": False, "timestep": torch.tensor(7)},
                               dynamic_axes={"encoder_hidden_states": [1]})
    inputs, outputs = _io(result.model)
    assert [i[0] for i in inputs] == ["sample", "timestep", "encoder_hidden_states"]
    assert inputs[2][2] == [2, "encoder_hidden_states_dim1", 16]
    assert [o[0] for o in outputs] == ["output_0"]
    sess = normdeploy.make_session(result.path)
    ehs5 = torch.randn(2, 5, 16)
    got = sess.run(None, {"sample": sample.numpy(), "timestep": np.array(7), "encoder_hidden_states": ehs5.numpy()})[0]
    with torch.no_grad():
        _close(got, net(sample, torch.tensor(7), ehs5, return_dict=False)[0])


class DictNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gn = torch.nn.GroupNorm(2, 4)

    def forward(self, x, mask=None, scale: float = 1.0):
        h = self.gn(x) * scale
        if mask is not None:
            h = h * mask[:, None, None, None]
        return {"logits": h.mean((2, 3)), "aux": (h.relu(), None, h.sigmoid()), "skipped": None}


def test_dict_output_nested_and_none_dropped(tmp_path):
    net = DictNet().eval()
    x, mask = torch.randn(2, 4, 3, 5), torch.tensor([1.0, 0.0])
    result = normdeploy.export(net, (x,), tmp_path / "d.onnx", kwargs={"mask": mask, "scale": 3.0},
                               dynamic_axes={"x": {0: "batch"}, "mask": {0: "batch"}})
    inputs, outputs = _io(result.model)
    assert inputs == [("x", onnx.TensorProto.FLOAT, ["batch", 4, 3, 5]), ("mask", onnx.TensorProto.FLOAT, ["batch"])]
    assert [o[0] for o in outputs] == ["logits", "aux_0", "aux_2"]
    x3, mask3 = torch.randn(3, 4, 3, 5), torch.tensor([0.5, 1.0, 2.0])
    got = normdeploy.make_session(result.path).run(None, {"x": x3.numpy(), "mask": mask3.numpy()})
    with torch.no_grad():
        want = net(x3, mask3, scale=3.0)
    for g, w in zip(got, [want["logits"], want["aux"][0], want["aux"][2]]):
        _close(g, w)


class Pair(collections.namedtuple("Pair", ["mean", "spread"])):
    pass


class ModelOutputNet(torch.nn.Module):
    """Returns a transformers ModelOutput (a dict-like dataclass with unset fields None)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.gn = torch.nn.GroupNorm(2, 4)
        self.kind = kind

    def forward(self, input_values):
        h = self.gn(input_values)
        if self.kind == "namedtuple":
            return Pair(h.mean(-1), h.std(-1))
        from transformers.modeling_outputs import BaseModelOutput

        return BaseModelOutput(last_hidden_state=h.transpose(1, 2))


@pytest.mark.parametrize("kind,names", [("model_output", ["last_hidden_state"]), ("namedtuple", ["mean", "spread"])])
def test_keyed_outputs(tmp_path, kind, names):
    net = ModelOutputNet(kind).eval()
    x = torch.randn(2, 4, 9)
    result = normdeploy.export(net, (x,), tmp_path / "m.onnx", dynamic_axes={"input_values": {2: "length"}})
    assert [i.name for i in result.model.graph.input] == ["input_values"]
    assert [o.name for o in result.model.graph.output] == names
    x2 = torch.randn(2, 4, 13)
    got = normdeploy.make_session(result.path).run(None, {"input_values": x2.numpy()})
    with torch.no_grad():
        want = net(x2)
    for g, w in zip(got, list(want.values()) if kind == "model_output" else list(want)):
        _close(g, w)


def test_varargs_names_overrides_and_1d_inputs(tmp_path):
    class Star(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gn = torch.nn.GroupNorm(1, 3)

        def forward(self, *xs):
            return self.gn(xs[0]) * xs[1][:, None, None], xs[1] * 2

    net = Star().eval()
    x, t = torch.randn(2, 3, 5), torch.randn(2)
    default = normdeploy.export(net, (x, t), tmp_path / "s.onnx", dynamic_axes={"xs_0": {0: "batch"}, "xs_1": {0: "batch"}})
    assert [i.name for i in default.model.graph.input] == ["xs_0", "xs_1"]
    assert [o.name for o in default.model.graph.output] == ["output_0", "output_1"]
    renamed = normdeploy.export(net, (x, t), tmp_path / "r.onnx", input_names=["images"], output_names=["y"],
                                dynamic_axes={"images": {0: "batch"}, "xs_1": {0: "batch"}})
    inputs, outputs = _io(renamed.model)
    assert [(i[0], i[2]) for i in inputs] == [("images", ["batch", 3, 5]), ("xs_1", ["batch"])]
    assert [o[0] for o in outputs] == ["y", "output_1"]
    x4, t4 = torch.randn(4, 3, 5), torch.randn(4)
    got = normdeploy.make_session(renamed.path).run(None, {"images": x4.numpy(), "xs_1": t4.numpy()})
    with torch.no_grad():
        for g, w in zip(got, net(x4, t4)):
            _close(g, w)


def test_output_that_is_an_input_and_a_repeated_output(tmp_path):
    """forward returning its own input (torch.onnx renames that input) and the same tensor twice."""
    class Echo(torch.nn.Module):
        def forward(self, x, y):
            z = F.group_norm(y, 1)
            return {"x": x, "z": z, "again": z}

    x, y = torch.randn(3), torch.randn(2, 2, 3)
    result = normdeploy.export(Echo(), (x, y), tmp_path / "e.onnx")
    assert [i.name for i in result.model.graph.input] == ["x", "y"]
    assert [o.name for o in result.model.graph.output] == ["out_x", "z", "again"]
    got = normdeploy.make_session(result.path).run(None, {"x": x.numpy(), "y": y.numpy()})
    _close(got[0], x)
    _close(got[1], F.group_norm(y, 1))
    _close(got[2], F.group_norm(y, 1))


@pytest.mark.parametrize("call,message", [
    (dict(args=(torch.randn(1, 4, 8, 8),), kwargs={"time": torch.tensor(1)}),
     "'time' is not a parameter of forward(sample, timestep, encoder_hidden_states, return_dict=True); accepted: sample"),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1), torch.randn(1, 2, 16), True, 5)),
     "5 inputs given, but forward(sample, timestep, encoder_hidden_states, return_dict=True) takes at most 4"),
    (dict(args=(torch.randn(1, 4, 8, 8),)), "missing required input(s) timestep, encoder_hidden_states of forward("),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1)), kwargs={"timestep": torch.tensor(2)}), "'timestep' is given twice"),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1), torch.randn(1, 2, 16)), dynamic_axes={"timestep": {0: "b"}}),
     "dynamic_axes['timestep']: axis 0 is out of range for the rank-0 input 'timestep' of shape []"),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1), torch.randn(1, 2, 16)), dynamic_axes={"return_dict": [0]}),
     "dynamic_axes names ['return_dict'] are not inputs (['sample', 'timestep', 'encoder_hidden_states'])"),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1), torch.randn(1, 2, 16)), dynamic_axes={"input": {0: "b"}}),
     "pass input_names=['input'] for the old name"),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1), torch.randn(1, 2, 16)), input_names=["a", "b", "c", "d"]),
     "4 input_names ['a', 'b', 'c', 'd'] for 3 tensor input(s)"),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1), torch.randn(1, 2, 16)), input_names=["a", "a"]),
     "input names ['a'] appear twice"),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1), torch.randn(1, 2, 16)), output_names=["sample"]),
     "output_names ['sample'] are input names too"),
    (dict(args=(torch.randn(1, 4, 8, 8), torch.tensor(1), torch.randn(1, 2, 16)), kwargs=[("return_dict", True)]),
     "kwargs must be a dict"),
])
def test_export_argument_errors(tmp_path, call, message):
    with pytest.raises(ExportError) as info:
        normdeploy.export(TinyUNet().eval(), call.pop("args"), tmp_path / "x.onnx", **call)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x.onnx").exists()


def test_non_tensor_output_is_named(tmp_path):
    class Counts(torch.nn.Module):
        def forward(self, x):
            return {"y": F.group_norm(x, 1), "n": {"steps": 3}}

    with pytest.raises(ExportError, match=r"forward returned a int as output n\.steps; ONNX outputs must be tensors"):
        normdeploy.export(Counts(), (torch.randn(1, 2, 3),), tmp_path / "c.onnx")
    assert not (tmp_path / "c.onnx").exists()


def test_dynamic_axis_the_model_fixes_is_an_error(tmp_path):
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return F.group_norm(x.reshape(2, 4, 6), 2)

    with pytest.raises(ExportError, match=r"torch.onnx.export failed: ValueError: .*conflicts.*static shape of 6 for "
                                          r"dimension inputs\['x'\]\.shape\[2\]"):
        normdeploy.export(Fixed(), (torch.randn(2, 4, 6),), tmp_path / "f.onnx", dynamic_axes={"x": {2: "length"}})
    assert not (tmp_path / "f.onnx").exists()


def test_input_names_match_torch_onnx_for_nested_inputs(tmp_path):
    """Lists, dicts, *args and **kwargs: the same input names as torch.onnx.export(dynamo=True)
    gives the same call (asked of torch itself, not copied from our code)."""
    class Nested(torch.nn.Module):
        def forward(self, feats, d, *rest, scale=None, **extra):
            h = F.group_norm(feats[0] + feats[1], 1) + d["b"] * d["a"] + rest[0]
            return h * scale + extra["zz"]

    t = [torch.randn(2, 3) for _ in range(7)]
    args = ([t[0], t[1]], {"b": t[2], "a": t[3]}, t[4])
    kwargs = {"scale": t[5], "zz": t[6]}
    import logging
    import warnings

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(Nested(), args, kwargs=kwargs, dynamo=True)
    finally:
        logging.disable(previous)
    torch_names = [i.name for i in program.model_proto.graph.input]
    result = normdeploy.export(Nested(), args, tmp_path / "n.onnx", kwargs=kwargs)
    assert [i.name for i in result.model.graph.input] == torch_names
    feed = dict(zip(torch_names, (x.numpy() for x in t)))
    _close(normdeploy.make_session(result.path).run(None, feed)[0], Nested()(*args, **kwargs))


def test_opset_17_lowers_split_from_chunk(tmp_path):
    """torch.chunk exports as Split-18 (num_outputs), which onnx's version converter cannot
    lower: even and uneven chunks (8 channels in 3: 3, 3, 2) must still come out at opset 17."""
    class Chunks(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gn = torch.nn.GroupNorm(2, 8)

        def forward(self, x):
            a, b = self.gn(x).chunk(2, dim=1)
            p, q, r = x.chunk(3, dim=1)
            return a * F.gelu(b), torch.cat([r, q, p], dim=1).mean((2, 3))

    net = Chunks().eval()
    result = normdeploy.export(net, (torch.randn(1, 8, 4, 5),), tmp_path / "c17.onnx", opset=17,
                               dynamic_axes={"x": {0: "batch", 2: "height"}})
    assert next(o.version for o in result.model.opset_import if o.domain == "") == 17
    from normdeploy.ops import register_schemas

    register_schemas()
    onnx.checker.check_model(onnx.load(str(result.path)), full_check=True)
    splits = [n for n in result.model.graph.node if n.op_type == "Split"]
    assert splits and not [a for n in splits for a in n.attribute if a.name == "num_outputs"]
    x = torch.randn(3, 8, 6, 5)
    got = normdeploy.make_session(result.path).run(None, {"x": x.numpy()})
    with torch.no_grad():
        for g, w in zip(got, net(x)):
            _close(g, w)
