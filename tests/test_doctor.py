"""fluxfix doctor on real sglang and diffusers releases on CPU: the known breaks before, the patch
that removes each, none left after; its JSON validates against the documented schema."""
import json
import subprocess
import sys
from importlib.resources import files

import jsonschema
import pytest

from hostenv import host_env

SCHEMA = json.loads(files("fluxfix").joinpath("doctor_schema.json").read_text())


def doctor(tmp_path, version, *args, **env):
    out = tmp_path / "doctor.json"
    base = {k: v for k, v in host_env("sglang", version).items() if not k.startswith(("FLUXFIX", "SGLANG_PLUGINS"))}
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "fluxfix.cli", "doctor", "--json", str(out), *args],
                          env={**base, **env}, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert out.exists(), proc.stderr[-3000:]
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    return proc, data


def rows(data, case):
    (found,) = [c for c in data["cases"] if c["name"] == case]
    return found


def test_components_on_0_5_10_known_breaks_removed(tmp_path):
    proc, data = doctor(tmp_path, "0.5.10")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert any("cannot be built on this machine" in n for n in data["notes"])  # it says it fell back
    linear = rows(data, "linear layer")
    assert linear["without"]["frames_abandoned"] >= 1 and linear["with"]["graphs"] == 1
    (site,) = [b for b in linear["breaks"] if b["where"].endswith("layers/linear.py:159")]
    assert "is_amp_supported" in site["code"] and site["before"] >= 1 and site["after"] == 0
    assert site["fixed_by"] == "removed by sglang-platform-checks"
    for kernel in ("timestep embedding kernel", "in-place QK-norm kernel"):
        case = rows(data, kernel)
        assert case["without"]["breaks"] > 0 and case["with"]["breaks"] == 0 and case["with"]["error"] is None
        assert {b["fixed_by"] for b in case["breaks"]} == {"removed by sglang-jit-kernel-ops"}
    norm = rows(data, "fused norm")
    assert any(b["fixed_by"] == "removed by sglang-norm-fallback-warnings" and "warnings.warn(" in b["code"] for b in norm["breaks"])
    assert data["unremoved"] == 0
    assert "removed by sglang-platform-checks" in proc.stdout  # the human table says the same


def test_a_disabled_patch_leaves_its_break_and_fails_the_exit_status(tmp_path):
    proc, data = doctor(tmp_path, "0.5.10", "--model", "components", FLUXFIX_DISABLE="sglang-platform-checks")
    assert proc.returncode == 1
    (site,) = [b for b in rows(data, "linear layer")["breaks"] if b["where"].endswith("layers/linear.py:159")]
    assert site["after"] >= 1 and site["fixed_by"].startswith("sglang-platform-checks: disabled")
    assert data["unremoved"] >= 1
    assert data["env"]["FLUXFIX_DISABLE"] == "sglang-platform-checks"  # the run records what chose its paths


@pytest.mark.parametrize("host,model,name", [
    ("sglang", "flux", "FLUX.1-dev transformer"),
])
def test_full_width_models_on_cpu(tmp_path, host, model, name):
    # sglang 0.5.23 builds its FLUX.1 transformer on CPU (0.5.10's CPU platform cannot); on CPU its
    # GPU paths (JIT kernels, Triton) are not taken, so the CPU graph has no breaks to begin with.
    # diffusers' own models: the Wan doctor run below and test_diffusers.py (every kind, small). sglang's FLUX.2
    # data-pointer break: test_data_pointers.py on 0.5.23 (the same helper) and the contract.
    proc, data = doctor(tmp_path, "0.5.23", "--host", host, "--model", model)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (case,) = data["cases"]
    assert case["name"] == name and "full width" in case["what"]
    assert case["without"]["graphs"] == case["with"]["graphs"] == 1 and case["with"]["breaks"] == 0
    # every diffusers patch is active in this process too (sglang imports diffusers; 0.5.23 pins 0.37.0)
    assert {"diffusers-cache-logging", "diffusers-layerwise-casting"} <= set(data["applied"]), data["applied"]


@pytest.mark.parametrize("device,said", [("cuda", "no cuda device is available"), ("tpu", "'tpu' is not a torch device")])
def test_a_device_this_machine_lacks_is_one_line_and_exit_2(tmp_path, device, said):
    proc = subprocess.run([sys.executable, "-m", "fluxfix", "doctor", "--device", device], capture_output=True, text=True,
                          env={**host_env("diffusers", "0.42.1"), "FLUXFIX": "1"}, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "building" not in proc.stderr  # checked before anything is built


def test_without_sglang_doctor_uses_the_host_that_is_there(tmp_path):
    # diffusers alone on the path: plain `fluxfix doctor` runs diffusers' model (Wan 2.1's: the smallest at full
    # width), here with layerwise fp8 casting on: the breaks of diffusers-layerwise-casting
    out = tmp_path / "doctor.json"
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "fluxfix", "doctor", "--model", "wan", "--feature", "layerwise-fp8",
                           "--json", str(out)],
                          capture_output=True, text=True, env={**host_env("diffusers", "0.42.1"), "FLUXFIX": "1"}, cwd=tmp_path,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    (case,) = data["cases"]
    assert data["host"] == "diffusers" and data["features"] == ["layerwise-fp8"]
    assert case["without"]["breaks"] > 0 and case["with"]["graphs"] == 1 and case["with"]["breaks"] == 0
    assert {b["fixed_by"] for b in case["breaks"]} == {"removed by diffusers-layerwise-casting"}
    assert case["with"]["recompiles"] == 0  # the next step's timestep reuses the graph
