"""python -m tflm_train: the tflm-train command line."""
from .cli import run

run()
