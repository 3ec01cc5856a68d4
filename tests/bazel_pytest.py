"""Runs one pytest file under `bazel test` (py_test main): the file name is the first argument."""
import os
import sys

import pytest

if __name__ == "__main__":
    here = os.path.dirname(os.path.realpath(__file__))
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", os.path.join(here, sys.argv[1]), *sys.argv[2:]]))
