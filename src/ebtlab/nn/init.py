from torch import nn

# Normal(0, 0.02) weights, as in GPT-2 and Llama-style Transformers of this scale.
INIT_STD = 0.02


def initialize_weights(module: nn.Module, std: float = INIT_STD) -> None:
    """Draw every Linear and Embedding weight in `module` from Normal(0, std); zero Linear biases."""
    for child in module.modules():
        if isinstance(child, (nn.Linear, nn.Embedding)):
            nn.init.normal_(child.weight, std=std)
        if isinstance(child, nn.Linear) and child.bias is not None:
            nn.init.zeros_(child.bias)
