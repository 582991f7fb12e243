"""ebtlab: Energy-Based Transformers that predict by gradient descent on an energy."""

__version__ = "0.1.0"
