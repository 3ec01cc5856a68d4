"""The C core builds as strict C99, cross-compiles for Cortex-M7, and its test
suite runs clean under AddressSanitizer + UndefinedBehaviorSanitizer."""
import glob
import os
import shutil
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = sorted(glob.glob(os.path.join(ROOT, "kernels/core/*.c")) + glob.glob(os.path.join(ROOT, "kernels/core/naive/*.c")))
INCLUDE = ["-I", os.path.join(ROOT, "kernels/include")]


def _run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{' '.join(cmd[:3])} ... failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    return p


def _need(tool):
    path = shutil.which(tool)
    assert path, f"{tool} not found: run scripts/setup.sh (it installs the toolchains the tests use)"
    return path


def test_core_is_strict_c99(tmp_path):
    cc = _need("gcc")
    for src in CORE:
        _run([cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2", "-ffp-contract=off", *INCLUDE,
              "-c", src, "-o", str(tmp_path / "x.o")])


def test_core_cross_compiles_for_cortex_m7(tmp_path):
    cc = _need("arm-none-eabi-gcc")
    for src in CORE:
        _run([cc, "-std=c99", "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-O2",
              "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", *INCLUDE, "-c", src, "-o", str(tmp_path / "x.o")])


SAN = ["-g", "-O1", "-ffp-contract=off", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
       "-fno-omit-frame-pointer", "-fPIC"]
TFLM = sorted(glob.glob(os.path.join(ROOT, "kernels/tflm/*.cc")) + glob.glob(os.path.join(ROOT, "kernels/host/*.cc")))


def _sanitized_library(tmp_path, with_tflm: bool) -> str:
    cc, cxx = _need("gcc"), _need("g++")
    objs = []
    for src in CORE + (TFLM if with_tflm else []):
        obj = str(tmp_path / (os.path.basename(src) + ".o"))
        if src.endswith(".c"):
            _run([cc, "-std=c99", *SAN, *INCLUDE, "-c", src, "-o", obj])
        else:
            _run([cxx, "-std=c++17", "-fno-exceptions", "-fno-rtti", "-DTFLMT_WHEEL_ABI", *SAN, *INCLUDE, "-I",
                  os.path.join(ROOT, "kernels"), "-c", src, "-o", obj])
        objs.append(obj)
    lib = str(tmp_path / "libtflmt_san.so")
    _run([cxx, "-shared", "-fsanitize=address,undefined", *objs, "-o", lib, "-ldl", "-lm"])
    return lib


def _pytest_under_sanitizers(lib: str, *test_files: str):
    cc = _need("gcc")
    runtimes = [_run([cc, f"-print-file-name={n}"]).stdout.strip() for n in ("libasan.so", "libubsan.so")]
    env = dict(os.environ, TFLMT_NATIVE_LIB=lib, LD_PRELOAD=":".join(runtimes),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:warnings",
                        *(os.path.join(ROOT, "tests", f) for f in test_files)], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "passed" in out, out[-6000:]
    assert "runtime error" not in out and "AddressSanitizer" not in out, out[-6000:]


def test_core_suite_under_asan_ubsan(tmp_path):
    _pytest_under_sanitizers(_sanitized_library(tmp_path, with_tflm=False), "test_core_kernels.py")


def test_tflm_backend_suite_under_asan_ubsan(tmp_path):
    """Our TFLM op library (and host glue) instrumented, inside the wheel's real interpreter: training,
    sparse updates, checkpoints (power cut at every byte), the corrupt-model corpus and fast_forward."""
    _pytest_under_sanitizers(_sanitized_library(tmp_path, with_tflm=True), "test_tflm_backend.py",
                             "test_sparse_scheme.py", "test_checkpoint.py", "test_corrupt_models.py",
                             "test_fast_forward.py")
