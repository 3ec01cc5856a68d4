"""Make users: kernels/tflmt.mk builds the C99 core (host: core_test passes; Cortex-M7 with
arm-none-eabi-gcc at -Os: a static library whose flash size is reported)."""
import os
import shutil
import subprocess

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _make(*args):
    return subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "kernels", "tests"), *args],
                          capture_output=True, text=True, check=True)


def test_fragment_builds_and_runs_the_core_test_on_the_host(tmp_path):
    assert "core_test: all passed" in _make("run", f"OUT={tmp_path}").stdout


def test_fragment_builds_the_core_for_cortex_m7(tmp_path):
    assert shutil.which("arm-none-eabi-gcc"), "scripts/setup.sh installs gcc-arm-none-eabi"
    _make("lib", f"OUT={tmp_path}", "CC=arm-none-eabi-gcc", "AR=arm-none-eabi-ar",
          "ARCH_FLAGS=-mcpu=cortex-m7 -mthumb", "OPT=-Os")
    size = subprocess.run(["arm-none-eabi-size", "-t", str(tmp_path / "libtflmt_core.a")], capture_output=True,
                          text=True, check=True).stdout.strip().splitlines()[-1].split()
    text, data = int(size[0]), int(size[1])
    print(f"C99 core for Cortex-M7 at -Os: {text} B text, {data} B data")
    assert 0 < text + data <= 32 * 1024
