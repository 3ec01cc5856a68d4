"""The tflm-train command line: convert -> inspect -> fit -> export-c on real files, clear errors,
and C output that compiles for the host and for Cortex-M7 and holds exactly the model's bytes."""
import hashlib
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

import tflm_train as tt
from tflm_train import cli
from tflm_train.datasets import fashion_mnist

from conftest import int8_model

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

FLAGS = flags.FLAGS


def run_cli(*args: str) -> int:
    FLAGS.unparse_flags()
    rest = FLAGS(["tflm-train", *args])
    return cli.main(rest)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    data, shape = int8_model("plain_cnn")
    (d / "net.tflite").write_bytes(data)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (60, *shape)).astype(np.float32)
    y = rng.integers(0, 5, 60)
    np.savez(d / "train.npz", x=x, y=y)
    np.savez(d / "test.npz", x=x[:20], y=y[:20])
    return d


def test_convert_auto_reports_the_measured_arena(files, capsys):
    d = files
    budget = tt.Trainer(tt.convert_tflite(d / "net.tflite", scheme="last:2"), backend="tflm").memory_report()[
        "tflm"]["training_arena_bytes"]
    assert run_cli("convert", f"--input={d / 'net.tflite'}", f"--output={d / 'auto.train.tflite'}",
                   "--scheme=auto", f"--sram_budget={budget}", f"--train_data={d / 'train.npz'}") == 0
    out = capsys.readouterr().out
    m = re.search(r"auto scheme: training arena ([\d.]+) KB as TFLM measures it", out)
    assert m and float(m.group(1)) * 1024 <= budget + 51  # printed to 0.1 KB
    tm = tt.load(d / "auto.train.tflite")
    # Its validation: the search's pick and last-K schemes, each with its held-out loss, the pick marked.
    picked = re.findall(r"  validated (\S+): held-out loss [\d.]+  <- picked", out)
    assert len(re.findall(r"  validated ", out)) >= 2 and picked == [tm.scheme]
    assert tt.Trainer(tm, backend="tflm").memory_report()["tflm"]["training_arena_bytes"] <= budget


def test_convert_inspect_fit_and_plots(files, capsys):
    d = files
    assert run_cli("convert", f"--input={d / 'net.tflite'}", f"--output={d / 'net.train.tflite'}",
                   "--scheme=last:2", "--learning_rate=0.05", "--patch=none") == 0
    out = capsys.readouterr().out
    assert "scheme last:2" in out and "training" in out
    tm = tt.load(d / "net.train.tflite")
    assert tm.scheme == "last:2" and tm.learning_rate == pytest.approx(0.05)

    assert run_cli("inspect", str(d / "net.train.tflite"), "--measure", f"--plot={d / 'memory.png'}") == 0
    out = capsys.readouterr().out
    assert "scheme last:2" in out and "TFLMT_SOFTMAX_CE x1" in out and "; int8 weight updates;" in out
    assert "memory, analytic" in out and "memory, TFLM measured" in out
    assert (d / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    before = hashlib.sha256((d / "net.train.tflite").read_bytes()).hexdigest()
    assert run_cli("fit", str(d / "net.train.tflite"), f"--data={d / 'train.npz'}", "--epochs=2",
                   f"--eval_data={d / 'test.npz'}", f"--output={d / 'trained.tflite'}",
                   f"--plot={d / 'loss.png'}") == 0
    out = capsys.readouterr().out
    assert "accuracy before" in out and "accuracy after" in out
    assert hashlib.sha256((d / "net.train.tflite").read_bytes()).hexdigest() == before  # input untouched
    trained = tt.load(d / "trained.tflite")
    assert trained.graph.optimizer.step == 120  # 2 epochs x 60 samples
    a, b = tt.Trainer(tm), tt.Trainer(trained)
    assert not np.array_equal(a.predict(np.zeros((16, 16, 1))), b.predict(np.zeros((16, 16, 1))))
    assert (d / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_convert_a_keras_file_with_calibration(tmp_path, capsys):
    import nets
    km = nets.init_random(nets.plain_cnn(input_shape=(16, 16, 1)), seed=1)
    km.save(tmp_path / "m.keras")
    np.savez(tmp_path / "calib.npz", x=nets.samples((16, 16, 1), 20, 0))
    assert run_cli("convert", f"--input={tmp_path / 'm.keras'}", f"--calibration={tmp_path / 'calib.npz'}",
                   "--scheme=classifier") == 0
    assert tt.load(tmp_path / "m.train.tflite").scheme == "classifier"
    capsys.readouterr()
    assert run_cli("convert", f"--input={tmp_path / 'm.keras'}") == 1
    assert "needs --calibration" in capsys.readouterr().err


def test_export_c_compiles_and_holds_the_model(files, tmp_path):
    d = files
    src = d / "net.train.tflite"
    if not src.exists():
        tt.convert_tflite(int8_model("plain_cnn")[0], scheme="last:2").save(src)
    assert run_cli("export-c", str(src), f"--output_dir={tmp_path}", "--name=fmnist") == 0
    h, c = (tmp_path / "fmnist.h").read_text(), (tmp_path / "fmnist.c").read_text()
    body = c[c.index("{") + 1:c.rindex("}")]
    data = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", body))
    assert data == src.read_bytes()
    assert f"#define FMNIST_MODEL_SIZE {len(data)}" in h
    arena = int(re.search(r"#define FMNIST_ARENA_SIZE (\d+)", h).group(1))
    measured = tt.Trainer(tt.load(src), backend="tflm").memory_report()["tflm"]["training_arena_bytes"]
    assert measured <= arena <= 1.1 * measured
    assert "(resolver).AddConv2D();" in h and "AddFullyConnected" in h
    for cc, extra in [("gcc", []), ("arm-none-eabi-gcc", ["-mcpu=cortex-m7", "-mthumb"])]:
        assert shutil.which(cc), f"{cc} is installed by scripts/setup.sh"
        for std in ("-std=c99", "-std=c11"):
            subprocess.run([cc, std, "-Wall", "-Wextra", "-Werror", "-pedantic", *extra, "-c",
                            str(tmp_path / "fmnist.c"), "-o", str(tmp_path / "fmnist.o")], check=True)
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-fsyntax-only", "-x", "c++", "-include",
                    str(tmp_path / "fmnist.h"), "-"], input=b"int main() { return fmnist_model[0]; }", check=True)


def test_export_c_static_compiles_with_the_core(files, tmp_path):
    src = files / "net.train.tflite"
    if not src.exists():
        tt.convert_tflite(int8_model("plain_cnn")[0], scheme="last:2").save(src)
    assert run_cli("export-c", str(src), f"--output_dir={tmp_path}", "--name=net", "--static") == 0
    h, c = (tmp_path / "net.h").read_text(), (tmp_path / "net.c").read_text()
    assert "int net_step(" in h and "NET_ARENA_BYTES" in h and "tflmt_" in c
    inc = [f"-I{os.path.join(ROOT, 'kernels', 'include')}", f"-I{tmp_path}"]
    for cc, extra in [("gcc", []), ("arm-none-eabi-gcc", ["-mcpu=cortex-m7", "-mthumb"])]:
        subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", *extra, *inc, "-c", str(tmp_path / "net.c"),
                        "-o", str(tmp_path / "net.o")], check=True)


def test_export_c_static_names_an_operator_it_cannot_generate(tmp_path, capsys):
    from conftest import float_io_model
    src = tmp_path / "fio.train.tflite"
    tt.convert_tflite(float_io_model("plain_cnn")[0], scheme="last:1", progress=False).save(src)
    assert run_cli("export-c", str(src), f"--output_dir={tmp_path / 'out'}", "--static") != 0
    err = capsys.readouterr().err
    assert "operator 0 (QUANTIZE)" in err and "without --static" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("args, message", [
    (["fit", "MODEL"], "fit needs --data"),
    (["fit", "MODEL", "--data=NOPE.npz"], "NOPE.npz: no such file"),
    (["fit", "MODEL", "--data=TRAIN", "--output=MODEL"], "would overwrite the input model"),
    (["convert", "--input=NET", "--scheme=auto", "--sram_budget=lots"], "give bytes"),
    (["convert", "--input=NET", "--scheme=auto", "--sram_budget=1K"], "sram_budget"),
    (["convert", "--input=NET", "--patch=3x3"], "--patch='3x3'"),
    (["inspect", "NET"], "plain TFLite model"),
    (["export-c", "MODEL", "--output_dir=OUT", "--name=9lives"], "not a C identifier"),
])
def test_errors_name_what_is_wrong(files, tmp_path, capsys, args, message):
    model = files / "net.train.tflite"
    if not model.exists():
        tt.convert_tflite(int8_model("plain_cnn")[0], scheme="last:2").save(model)
    subst = {"MODEL": str(model), "NET": str(files / "net.tflite"), "TRAIN": str(files / "train.npz"),
             "OUT": str(tmp_path)}
    args = [re.sub("|".join(subst), lambda m: subst[m.group(0)], a) for a in args]
    before = model.read_bytes()
    assert run_cli(*args) == 1
    assert message in capsys.readouterr().err
    assert model.read_bytes() == before


def test_bad_npz_contents(files, tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.zeros((3, 16, 16, 1)))
    model = files / "net.train.tflite"
    if not model.exists():
        tt.convert_tflite(int8_model("plain_cnn")[0], scheme="last:2").save(model)
    assert run_cli("fit", str(model), f"--data={tmp_path / 'bad.npz'}") == 1
    assert "needs arrays 'x' and 'y'" in capsys.readouterr().err


def test_console_script_and_module_entry_point():
    exe = shutil.which("tflm-train")
    assert exe, "pip install -e . installs the tflm-train console script"
    r = subprocess.run([exe], capture_output=True, text=True)
    assert r.returncode == 2 and "expected a command" in r.stderr
    r = subprocess.run([sys.executable, "-m", "tflm_train", "bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "got bogus" in r.stderr


def test_help_lists_each_commands_flags():
    exe = shutil.which("tflm-train")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "tflm-train convert" in r.stdout
    assert all(f"flags of {c}:" in r.stdout for c in cli.COMMANDS)
    r = subprocess.run([sys.executable, "-m", "tflm_train", "fit", "-h"], capture_output=True, text=True)
    assert r.returncode == 0 and "--epochs" in r.stdout and "--[no]fast_forward" in r.stdout
    assert "  --sram_budget:" not in r.stdout  # a convert flag
    # Every flag is listed under some command: none is hidden from --help.
    hidden = [f.name for f in cli.FLAGS.get_flags_for_module(cli.__name__) if not cli.flag_commands(f.help)]
    assert hidden == []


def test_real_data_npz_round_trip(tmp_path):
    """The documented .npz format works with real Fashion-MNIST arrays."""
    x, y = fashion_mnist("test")
    np.savez(tmp_path / "f.npz", x=(x[:5] / 255.0).astype(np.float32)[..., None], y=y[:5])
    xs, ys = cli.load_npz(str(tmp_path / "f.npz"))
    assert xs.shape == (5, 28, 28, 1) and list(ys) == list(y[:5])
    assert os.path.getsize(tmp_path / "f.npz") > 0


def test_convert_with_16_bit_updates_and_inspect_says_so(files, capsys):
    d = files
    assert run_cli("convert", f"--input={d / 'net.tflite'}", f"--output={d / 'net16.train.tflite'}",
                   "--scheme=last:2", "--update_precision=int16", "--patch=none") == 0
    capsys.readouterr()
    assert run_cli("inspect", str(d / "net16.train.tflite")) == 0
    out = capsys.readouterr().out
    assert "int16 (residual bytes) weight updates" in out and " resid " in out


def test_convert_with_a_decaying_rate_and_inspect_says_so(files, capsys):
    d = files
    assert run_cli("convert", f"--input={d / 'net.tflite'}", f"--output={d / 'decay.train.tflite'}",
                   "--scheme=last:2", "--learning_rate=0.2", "--decay_steps=300", "--final_learning_rate=0.01",
                   "--patch=none") == 0
    capsys.readouterr()
    assert run_cli("inspect", str(d / "decay.train.tflite")) == 0
    assert "learning rate 0.2 decaying to 0.01 over 300 steps" in capsys.readouterr().out
    assert run_cli("convert", f"--input={d / 'net.tflite'}", f"--output={d / 'bad.train.tflite'}",
                   "--decay_steps=-5") != 0
    assert "decay_steps must be an integer" in capsys.readouterr().err
    assert not (d / "bad.train.tflite").exists()
