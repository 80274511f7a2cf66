"""``train.amp``: the precision follows the hardware (bf16 only where the CPU computes it natively)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from mgmrn.cli.main import main
from mgmrn.config import load_config, preset_names
from mgmrn.runtime.precision import amp_dtype, cpu_has_native_bf16

# A CPU without native bf16, as this one looks to oneDNN and to mgmrn when capped at AVX2
# (oneDNN runs the matrix products; with the cap, bf16 there is emulated).
AVX2 = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "1"}
PROBE = """
import torch
from mgmrn.runtime.precision import amp_dtype, cpu_has_native_bf16
cpu = torch.device("cpu")
print(cpu_has_native_bf16(), [str(amp_dtype(cpu, amp)) for amp in ("auto", "none", "bf16", "bf16")])
"""


def test_auto_is_bf16_exactly_where_the_cpu_has_it():
    cpu = torch.device("cpu")
    assert amp_dtype(cpu, "auto") == (torch.bfloat16 if cpu_has_native_bf16() else None)
    assert amp_dtype(cpu, "none") is None and amp_dtype(torch.device("meta"), "bf16") is None


def test_without_native_bf16_auto_is_float32_and_bf16_warns_once():
    done = subprocess.run([sys.executable, "-c", PROBE], env=AVX2, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "['None',", "'None',", "'torch.bfloat16',", "'torch.bfloat16']"]
    warnings = [line for line in done.stderr.splitlines() if "bf16" in line]
    assert len(warnings) == 1 and "emulated" in warnings[0] and "train.amp=auto" in warnings[0]


@pytest.mark.parametrize("preset", preset_names())
def test_presets_leave_the_precision_to_the_hardware(preset: str):
    assert load_config(preset).train.amp == "auto"


def test_profile_reports_the_chosen_precision_and_both_step_times(capsys):
    capsys.readouterr()
    argv = ["profile", "demo", "--train", "--iters", "1", "--speed-batch", "2", "--attributes", "16",
            "--word-dim", "8", "--json", "--set", "data.image_size=64"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["precision"] == ("bfloat16" if cpu_has_native_bf16() else "float32")
    assert report["precision_step"] == "heads on stage maps"  # demo: frozen backbone
    assert report["train_float32_img_s"] > 0 and report["train_bfloat16_img_s"] > 0
