"""Shared test set-up: quiet TensorFlow, Keras on the TensorFlow backend."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Never let tensorflow-datasets try a download from a test.
os.environ.setdefault("TFROBUST_NO_TFDS", "1")
