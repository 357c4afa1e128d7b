"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks():
    if not README.exists():
        pytest.skip("README.md not found beside the tests")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python examples"
    return blocks


_GPU = "# needs a GPU"


def test_readme_python_blocks_run(capsys):
    blocks = [b for b in _blocks() if not b.startswith(_GPU)]
    exec(compile("\n".join(blocks), str(README), "exec"), {})
    assert "version" in capsys.readouterr().out


@pytest.mark.gpu
def test_readme_gpu_blocks_run():
    blocks = _blocks()  # the GPU example uses names of the earlier ones
    assert any(b.startswith(_GPU) for b in blocks), "README has no GPU example"
    exec(compile("\n".join(blocks), str(README), "exec"), {})


def test_cli_demo_runs(capsys, tmp_path):
    from chronoscale.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--epochs", "1", "--only", "forecast", "--no-plots", "-q",
                 "--out", str(out)]) == 0
    assert "Open Bandit" in capsys.readouterr().out
    assert (out / "forecast" / "report.json").is_file()
    assert main(["demo", "--scales", "0h", "--out", str(out)]) == 2
    assert "error" in capsys.readouterr().err
