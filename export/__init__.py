"""Ready export recipes: small, randomly initialised models of real families that use GroupNorm
or LocalResponseNorm, each exportable to ONNX with normdeploy's custom nodes.

Every recipe module (``resnet_gn``, ``alexnet_lrn``, ``unet_block``, ``detection_head``) provides
``build(**kwargs)``, ``example_input()``, ``DYNAMIC`` (dynamic input dims and their names) and a
command line ``main(argv)``: ``python export/resnet_gn.py -o resnet_gn.onnx`` (or ``main([...])``
from Python with the repository root on ``sys.path``).
"""
