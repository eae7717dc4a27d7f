"""Bad input never crashes fluxfix: random values for every variable give at most one clear
warning per variable, naming the bad value and the valid ones."""
import logging
import subprocess
import sys

from hypothesis import given, settings as hsettings, strategies as st

from conftest import clean_env
from fluxfix import settings

KNOWN = {"sglang-platform-checks", "sglang-rope-warning", "sglang-norm-fallback-warnings", "sglang-flux2-aiter",
         "diffusers-layerwise-casting"}
values = st.one_of(st.text(), st.sampled_from(["", "0", "1", "all", "off", " , ,", "sglang-rope-warning,nope"]))


@given(fluxfix=values, disable=values, strict=values, compile=st.one_of(values, st.sampled_from(["regional", " Whole "])))
def test_random_values_never_raise(fluxfix, disable, strict, compile):
    env = {"FLUXFIX": fluxfix, "FLUXFIX_DISABLE": disable, "FLUXFIX_STRICT": strict, "FLUXFIX_COMPILE": compile}
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger("fluxfix")
    log.addHandler(handler)
    try:
        parsed = settings.read(env)
        settings.warn_unknown(parsed, KNOWN)
    finally:
        log.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert len(messages) <= 4  # one per variable at most
    for variable in ("FLUXFIX=", "FLUXFIX_DISABLE", "FLUXFIX_STRICT", "FLUXFIX_COMPILE"):
        assert sum(m.startswith(f"fluxfix: {variable}") for m in messages) <= 1
    for message in messages:
        assert "valid" in message or "use 1" in message or "use whole" in message
    chosen = compile.strip().lower()
    assert parsed.opted_in == ({f"FLUXFIX_COMPILE={chosen}"} if chosen in ("whole", "regional") else set())
    assert any(m.startswith("fluxfix: FLUXFIX_COMPILE") for m in messages) == (chosen not in ("", "whole", "regional"))
    if parsed.only is not None:
        unknown = parsed.only - KNOWN
        assert bool(unknown) == any(m.startswith("fluxfix: FLUXFIX names") for m in messages)


@hsettings(max_examples=8, deadline=None)
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1).filter(lambda v: "\x00" not in v))
def test_interpreter_start_never_shows_a_traceback(value):
    env = clean_env(FLUXFIX=value, FLUXFIX_DISABLE=value, FLUXFIX_STRICT=value)
    proc = subprocess.run([sys.executable, "-c", "pass"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr


def test_unknown_name_gets_one_clear_warning():
    env = clean_env(FLUXFIX="sglang-platform-checks,speedup")
    proc = subprocess.run([sys.executable, "-c", "pass"], env=env, capture_output=True, text=True, check=True)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "'speedup'" in lines[0] and "sglang-platform-checks" in lines[0] and "valid names" in lines[0]


def test_strict_flag_is_read():
    assert settings.read({"FLUXFIX_STRICT": "1"}).strict is True
    assert settings.read({"FLUXFIX_STRICT": "0"}).strict is False
    assert settings.read({"FLUXFIX": "0"}).enabled is False
    assert settings.read({}).enabled is True  # `import fluxfix` is itself the opt-in
    assert settings.read({"FLUXFIX": "a, b"}).only == {"a", "b"}


def test_no_variable_can_make_fluxfix_import_a_module(tmp_path):
    # A module on the path that leaves a mark when imported, named in every variable fluxfix reads.
    (tmp_path / "planted.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n")
    for value in ("planted", "planted:fluxfix_patches", "fluxfix.patches.planted", "../planted"):
        env = clean_env(PYTHONPATH=str(tmp_path), FLUXFIX=value, FLUXFIX_DISABLE=value, FLUXFIX_STRICT=value)
        proc = subprocess.run([sys.executable, "-c", "import fluxfix"], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert not (tmp_path / "imported").exists(), value
        assert "unknown patch" in proc.stderr and "valid names" in proc.stderr


def test_a_list_that_names_no_patch_is_said(caplog):
    with caplog.at_level(logging.WARNING, logger="fluxfix"):
        parsed = settings.read({"FLUXFIX": " , ,"})
    assert parsed.enabled and parsed.only == frozenset()  # every patch off, as the value says, and said
    assert len(caplog.records) == 1 and "names no patch" in caplog.records[0].getMessage()


def test_the_off_reason_quotes_the_value_set():
    code = "import fluxfix; print({r.name: r.reason for r in fluxfix.status()}['sglang-platform-checks'])"
    for value in ("false", "no", "OFF"):
        out = subprocess.run([sys.executable, "-c", code], env=clean_env(FLUXFIX=value), capture_output=True, text=True, check=True)
        assert out.stdout.strip() == f"fluxfix is off (FLUXFIX={value})", out.stdout
