"""tflm-train: on-device training for TensorFlow Lite for Microcontrollers.

    tm = tflm_train.convert(keras_model, samples, scheme="last:2")
    trainer = tflm_train.Trainer(tm)            # backend="reference" (numpy spec)
    loss = trainer.train_step(x, label)
    open("trained.tflite", "wb").write(trainer.export())
"""
from .converter import convert, convert_tflite, keras_to_int8_tflite
from .errors import DivergenceError, InputError, ModelFormatError, TflmTrainError, UnsupportedModelError
from .model import TrainingModel, load
from .runtime import Trainer
from .patch import PatchPlan
from .sparse import SparseScheme

__version__ = "0.1.0"
__all__ = ["PatchPlan", "convert", "convert_tflite", "keras_to_int8_tflite", "load", "Trainer", "TrainingModel", "TflmTrainError", "DivergenceError", "ModelFormatError",
           "UnsupportedModelError", "InputError", "SparseScheme"]
