"""Exceptions raised by tflm-train. All derive from TflmTrainError."""


class TflmTrainError(Exception):
    """Base class of every error tflm-train raises on purpose."""


class ModelFormatError(TflmTrainError, ValueError):
    """A file or byte string is not a readable (training) TFLite model."""


class UnsupportedModelError(TflmTrainError, ValueError):
    """The model is readable but uses something tflm-train cannot train."""


class InputError(TflmTrainError, ValueError):
    """A call got an argument of the wrong shape, dtype or range."""


class DivergenceError(TflmTrainError, ArithmeticError):
    """A training step's loss was not finite or above the model's max_loss: the step applied no update."""
