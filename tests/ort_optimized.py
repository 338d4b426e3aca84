"""A small diffusers UNet optimized by ONNX Runtime's transformers optimizer, for the tests.

    make_ort_optimized_unet(tmp_path, *, fp16=False, batch=2, seed=0) -> Path

writes (and returns the path of) ``unet_ort_optimized[_fp16].onnx`` in `tmp_path`: a random-weight
UNet2DConditionModel (block_out_channels (32, 64), norm_num_groups 32, layers_per_block 1,
cross_attention_dim 32, one cross-attention down and up block) exported with the TorchScript
exporter at opset 17 with a dynamic batch (the optimizer fuses GroupNorm only when the shape comes
from a Shape node), then run through ``onnxruntime.transformers.optimizer`` (model_type "unet").
The file holds com.microsoft GroupNorm x6, SkipGroupNorm x15, NhwcConv x33, BiasSplitGelu x4,
BiasAdd x4 and SkipLayerNormalization x8. The optimizer's attention fusion is off: it crashes
on this small config in onnxruntime 1.31 (get_num_heads on a non-scalar).

    unet_inputs(batch=2, seed=0) -> dict of numpy inputs (sample, timestep, encoder_hidden_states)
    unet_reference(batch=2, seed=0) -> the PyTorch UNet's output for unet_inputs(batch, seed)

Everything is cached per process (keyed on the arguments; the files in a temporary folder removed
at exit): the first call costs ~4 s of CPU (float16: ~2 s more), later calls copy the cached file
into the new tmp_path.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

OPSET = 17
INPUT_NAMES = ("sample", "timestep", "encoder_hidden_states")
SAMPLE_SHAPE = (4, 16, 16)  # (C, H, W) of `sample`, without the batch
TEXT_SHAPE = (7, 32)  # (tokens, cross_attention_dim) of `encoder_hidden_states`


def _unet(seed: int):
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1, cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
    ).eval()


def _positional(unet):
    """UNet2DConditionModel.forward with the three inputs positional and a tensor output."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, encoder_hidden_states):
            return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]

    return Positional()


def unet_inputs(batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    return {
        "sample": rng.standard_normal((batch, *SAMPLE_SHAPE)).astype(np.float32),
        "timestep": np.array([10], dtype=np.int64),
        "encoder_hidden_states": rng.standard_normal((batch, *TEXT_SHAPE)).astype(np.float32),
    }


@lru_cache(maxsize=4)
def _reference(batch: int, seed: int) -> np.ndarray:
    import torch

    model = _positional(_unet(seed))
    with torch.no_grad():
        args = [torch.from_numpy(v) for v in unet_inputs(batch, seed).values()]
        return model(*args).numpy()


def unet_reference(batch: int = 2, seed: int = 0) -> np.ndarray:
    """The PyTorch UNet's output for unet_inputs(batch, seed)."""
    return _reference(batch, seed).copy()


@lru_cache(maxsize=4)
def _built(fp16: bool, batch: int, seed: int) -> Path:
    import warnings

    import torch
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    folder = Path(tempfile.mkdtemp(prefix="normdeploy_ort_unet_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    plain = folder / "unet.onnx"
    inputs = unet_inputs(batch, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _positional(_unet(seed)), tuple(torch.from_numpy(v) for v in inputs.values()), str(plain),
            dynamo=False, opset_version=OPSET, input_names=list(INPUT_NAMES), output_names=["out_sample"],
            dynamic_axes={"sample": {0: "batch"}, "encoder_hidden_states": {0: "batch"}, "out_sample": {0: "batch"}},
        )
        options = FusionOptions("unet")
        options.enable_attention = False  # crashes on this config in onnxruntime 1.31 (see above)
        options.enable_bias_add = True
        model = optimizer.optimize_model(str(plain), model_type="unet", num_heads=0, hidden_size=0, opt_level=0,
                                         optimization_options=options, use_gpu=True)
        if fp16:
            model.convert_float_to_float16(keep_io_types=False)
            _float32_resize_scales(model.model)
    out = folder / f"unet_ort_optimized{'_fp16' if fp16 else ''}.onnx"
    model.save_model_to_file(str(out))
    return out


def _float32_resize_scales(model) -> None:
    """onnxruntime 1.31's float16 conversion turns the Constant holding Resize's scales into
    float16, which Resize does not accept (the file would not load anywhere): put them back."""
    from onnx import TensorProto, numpy_helper

    producers = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        if node.op_type != "Resize" or len(node.input) < 3:
            continue
        constant = producers.get(node.input[2])
        if constant is None or constant.op_type != "Constant":
            continue
        for a in constant.attribute:
            if a.name == "value" and a.t.data_type == TensorProto.FLOAT16:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float32), a.t.name))


def make_ort_optimized_unet(tmp_path: Path | str, *, fp16: bool = False, batch: int = 2, seed: int = 0) -> Path:
    """Writes the optimized UNet into `tmp_path` and returns its path (see the module doc).
    fp16=True: the optimizer's float16 conversion (inputs and outputs float16 too).
    batch/seed: the example batch used to export (the file's batch is dynamic) and the weights' seed."""
    source = _built(bool(fp16), int(batch), int(seed))
    target = Path(tmp_path) / source.name
    if target != source:
        shutil.copyfile(source, target)
    return target
