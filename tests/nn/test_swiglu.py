from ebtlab.nn import SwiGLU


def test_swiglu_hidden_width_defaults_to_width():
    layer = SwiGLU(12)
    assert layer.gate.out_features == 12
    assert SwiGLU(12, hidden_width=20).up.out_features == 20
