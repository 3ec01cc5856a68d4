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


def test_core_suite_under_asan_ubsan(tmp_path):
    cc = _need("gcc")
    lib = tmp_path / "libtflmt_core_san.so"
    _run([cc, "-std=c99", "-shared", "-fPIC", "-g", "-O1", "-ffp-contract=off", "-fsanitize=address,undefined",
          "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", *INCLUDE, *CORE, "-o", str(lib), "-lm"])
    runtimes = [_run([cc, f"-print-file-name={n}"]).stdout.strip() for n in ("libasan.so", "libubsan.so")]
    env = dict(os.environ, TFLMT_NATIVE_LIB=str(lib), LD_PRELOAD=":".join(runtimes),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        os.path.join(ROOT, "tests/test_core_kernels.py")], capture_output=True, text=True, env=env,
                       cwd=ROOT)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "passed" in out, out[-6000:]
    assert "runtime error" not in out and "AddressSanitizer" not in out, out[-6000:]
