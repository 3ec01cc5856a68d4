"""The paper's three backbones as Keras builders: the layer counts, shapes and parameter
totals of MODELS.md (s.1 and the Keras rebuild checklist)."""
import pytest

from tflm_train import zoo
from tflm_train.errors import InputError

EXPECTED = {  # convs (backbone), depthwise, adds, final channels, backbone weights + biases, backbone MACs
    "mcunet-5fps": (42, 14, 7, 160, 469_224, 22_453_504),
    "mbv2-w0.35": (51, 17, 10, 112, 244_448, 16_646_912),
    "proxyless-w0.3": (60, 20, 13, 96, 326_232, 18_619_904),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_backbone_matches_the_layer_tables(name):
    convs, dws, adds, final_c, params, macs = EXPECTED[name]
    m = zoo.build(name, num_classes=10)
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds.count("Conv2D") + kinds.count("DepthwiseConv2D") == convs
    assert kinds.count("DepthwiseConv2D") == dws and kinds.count("Add") == adds
    pool_in = m.get_layer("pool").input.shape
    assert tuple(pool_in[1:]) == (4, 4, final_c)
    assert m.count_params() - m.get_layer("classifier").count_params() == params
    total = 0
    for layer in m.layers:
        if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D"):
            _, h, w, c = layer.output.shape
            k = layer.kernel_size[0] * layer.kernel_size[1]
            cin = layer.input.shape[-1]
            total += h * w * c * k * (1 if type(layer).__name__ == "DepthwiseConv2D" else cin)
    assert total == macs


def test_bad_arguments():
    with pytest.raises(InputError, match="unknown model"):
        zoo.build("resnet")
    with pytest.raises(InputError, match="multiple of 32"):
        zoo.build("mcunet-5fps", input_size=100)
