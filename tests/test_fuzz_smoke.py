"""The fuzz smoke CI runs: bench/fuzz.sh with a 12-second budget per target (libFuzzer on the C
options reader and checkpoint loader under ASan + UBSan, atheris on the Python loaders). Any crash,
sanitizer report or uncaught exception fails it; crashing inputs are kept under the output folder."""
import os
import re
import subprocess

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def test_fuzz_smoke(tmp_path):
    env = dict(os.environ, SECONDS_PER_TARGET="12", TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run(["bash", os.path.join(ROOT, "bench", "fuzz.sh"), str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=600)
    logs = {t: (tmp_path / f"{t}.log").read_text() if (tmp_path / f"{t}.log").exists() else ""
            for t in ("options", "checkpoint", "loader")}
    assert r.returncode == 0, r.stdout[-2000:] + "".join(v[-3000:] for v in logs.values())
    for target in logs:
        m = re.search(rf"^{target}: (\d+) executions", r.stdout, re.M)
        assert m and int(m.group(1)) > 1000, (target, r.stdout[-1000:])
        assert not os.listdir(tmp_path / target / "crashes"), target
