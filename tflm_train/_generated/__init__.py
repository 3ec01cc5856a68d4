"""flatc output for schemas/tflm_train.fbs. Never edit by hand: run scripts/gen_schema.sh."""
