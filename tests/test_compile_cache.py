"""jaxviz's programs go to JAX's persistent compilation cache; the user's own do not."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

# A fresh process: a jaxviz explanation, then a program of the user's. It reports JAX's
# persistent-cache hits and what the user's program added to the cache, and saves the result.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import jax, jax.numpy as jnp, numpy as np
    from jax import monitoring
    import jaxviz as jv

    hits = []
    monitoring.register_event_listener(
        lambda event, **kw: hits.append(event) if event.endswith("cache_hits") else None)

    def entries():
        path = jax.config.jax_compilation_cache_dir
        return sorted(os.listdir(path)) if path and os.path.isdir(path) else []

    w = jnp.linspace(-1.0, 1.0, 40, dtype=jnp.float32).reshape(10, 4)
    model = jv.wrap(lambda x: jnp.tanh(x @ w) * 3.0)
    x = jnp.linspace(-2.0, 2.0, 60, dtype=jnp.float32).reshape(6, 10)
    out = jv.integrated_gradients(model, x, target=1, steps=16)
    after_jaxviz = entries()

    @jax.jit
    def user_program(x):
        return jnp.sin(x) * 3.0

    user_program(x).block_until_ready()
    np.save(sys.argv[1], np.asarray(out))
    print(json.dumps({"hits": len(hits), "cache_dir": jax.config.jax_compilation_cache_dir,
                      "user_program_added": sorted(set(entries()) - set(after_jaxviz))}))
    """
)


def run_fresh_process(tmp_path: Path, out_name: str, **env_overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env.pop("JAXVIZ_NO_COMPILE_CACHE", None)
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), JAX_PLATFORMS="cpu", **env_overrides)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / out_name)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def cache_entries(tmp_path: Path) -> list[str]:
    path = tmp_path / "xdg" / "jaxviz" / "jax"
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


@pytest.mark.slow
def test_second_process_loads_the_program_and_gets_identical_bits(tmp_path):
    first = run_fresh_process(tmp_path, "first.npy")
    entries = cache_entries(tmp_path)
    second = run_fresh_process(tmp_path, "second.npy")

    assert first["cache_dir"] == str(tmp_path / "xdg" / "jaxviz" / "jax")
    assert first["hits"] == 0 and entries
    # The user's own program stays out of jaxviz's cache.
    assert first["user_program_added"] == [] and second["user_program_added"] == []
    assert second["hits"] == len([e for e in entries if not e.endswith("-atime")])
    assert cache_entries(tmp_path) == entries
    a, b = np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy")
    assert a.tobytes() == b.tobytes()


@pytest.mark.slow
def test_environment_variable_turns_the_cache_off(tmp_path):
    run_fresh_process(tmp_path, "first.npy", JAXVIZ_NO_COMPILE_CACHE="1")
    second = run_fresh_process(tmp_path, "second.npy", JAXVIZ_NO_COMPILE_CACHE="1")
    assert second == {"hits": 0, "cache_dir": None, "user_program_added": []}
    assert cache_entries(tmp_path) == []


@pytest.mark.slow
def test_a_cache_directory_the_user_chose_is_left_alone(tmp_path):
    mine = tmp_path / "mine"
    report = run_fresh_process(tmp_path, "first.npy", JAX_COMPILATION_CACHE_DIR=str(mine))
    assert report["cache_dir"] == str(mine)
    assert cache_entries(tmp_path) == []
    assert any(mine.iterdir())


def test_the_minimums_are_lowered_while_a_jaxviz_call_runs_then_restored():
    import jax

    from jaxviz import _compile_cache

    name = "jax_persistent_cache_min_compile_time_secs"
    before = getattr(jax.config, name)
    _compile_cache._lower_minimums()
    _compile_cache._lower_minimums()  # a second call (nested, or in another thread)
    assert getattr(jax.config, name) == 0.0
    assert jax.config.jax_persistent_cache_min_entry_size_bytes == -1
    _compile_cache._restore_minimums()
    assert getattr(jax.config, name) == 0.0  # the other call still runs
    _compile_cache._restore_minimums()
    assert getattr(jax.config, name) == before


def test_jaxviz_imports_only_public_jax_modules():
    package = Path(__file__).parents[1] / "jaxviz"
    private = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "jax._src" in line or "jaxlib." in line
    ]
    assert private == []
