"""Sessions for the entropic monorepo: `nox` runs the default ones (tests, lint, types, docs)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "tests_core", "lint", "typecheck", "docs"]

ROOT = Path(__file__).parent
PACKAGES = ROOT / "packages"
#: Install order matters only for readability: pip resolves the siblings together.
DISTRIBUTIONS = ["entropic-core", "entropic-dask", "entropic-cli"]
PYTHON = "3.11"

TEST_DEPS = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
    "psycopg[binary]>=3.1",
    "pymysql>=1.1",
    "numpy>=1.26",
    "h5py>=3.10",
]


def _packages() -> list[str]:
    """The distributions that exist in this checkout, as local folders."""
    return [str(PACKAGES / name) for name in DISTRIBUTIONS if (PACKAGES / name).is_dir()]


def _install_local(session: nox.Session, *extra: str, editable: bool = True) -> None:
    """Install every sibling from its folder in one pip call, so none comes from an index.

    The siblings pin each other exactly (entropic-core == X.Y.Z); installing them together lets
    pip satisfy those pins with the folders given here. PyPI's `entropic` and `entropic-core`
    belong to other projects and must never be resolved.
    """
    args: list[str] = []
    for folder in _packages():
        args += ["-e", folder] if editable else [folder]
    session.install(*args, *extra)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every package's tests and the integration tests, on all three packages together."""
    # dask-jobqueue (for the SLURM tests) brings Dask, so it stays out of tests_core's TEST_DEPS.
    _install_local(session, *TEST_DEPS, "tqdm", "pandas>=2.0", "dask-jobqueue>=0.9")
    paths = [str(PACKAGES / name / "tests") for name in DISTRIBUTIONS]
    paths = [p for p in paths if Path(p).is_dir()]
    if (ROOT / "tests-integration").is_dir():
        paths.append(str(ROOT / "tests-integration"))
    session.run("pytest", *paths, *session.posargs)


@nox.session(python=PYTHON)
def tests_core(session: nox.Session) -> None:
    """entropic-core alone, in an environment without Dask, the CLI or tqdm."""
    session.install("-e", str(PACKAGES / "entropic-core"), *TEST_DEPS)
    session.run(
        "python", "-c", "import importlib.util as u, sys; sys.exit(u.find_spec('dask') is not None)"
    )
    session.run("pytest", str(PACKAGES / "entropic-core" / "tests"), *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package, plus the typing tests."""
    _install_local(session, "mypy>=1.10", "pytest>=8", "hypothesis>=6.100", "tqdm")
    sources = [str(PACKAGES / n / "src") for n in DISTRIBUTIONS if (PACKAGES / n).is_dir()]
    session.run("mypy", *sources)
    typing_tests = ROOT / "packages" / "entropic-core" / "tests" / "typing"
    if typing_tests.is_dir():
        session.run("mypy", str(typing_tests))


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site with `mkdocs build --strict`."""
    if not (ROOT / "mkdocs.yml").is_file():
        session.skip("no mkdocs.yml yet")
    # ruff formats the signatures mkdocstrings renders.
    _install_local(
        session,
        "mkdocs-material>=9.5",
        "mkdocstrings[python]>=0.25",
        "mkdocs-click>=0.8",
        "ruff>=0.6",
    )
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: a small Lotka-Volterra sweep, run twice to show every point is cached."""
    _install_local(session, "numpy>=1.26", "h5py>=3.10", "tqdm", editable=False)
    workdir = Path(tempfile.mkdtemp(prefix="entropic-demo-"))
    script = str(ROOT / "examples" / "lotka_volterra.py")
    try:
        with session.chdir(workdir):
            session.log("first sweep: every point runs")
            session.run("python", script)
            session.log("second sweep: every point is a cache hit")
            session.run("python", script, "--expect-cached")
            session.run("python", script, "--summary")
    finally:
        if not os.environ.get("ENTROPIC_KEEP_DEMO"):
            shutil.rmtree(workdir, ignore_errors=True)


#: What the comparison environment holds. entropic 2.3.0 is the published predecessor; its import
#: name is ours, so it lives in an environment of its own, never beside our packages. Dask is
#: pinned, when the environment is made, to the version in the bench session's own environment.
BENCH_LEGACY = ["entropic==2.3.0", "signac~=2.4.0", "joblib>=1.4", "dask[distributed]"]


def _legacy_env(session: nox.Session, pins: dict[str, str]) -> str:
    """Create (or reuse) the separate environment for entropic 2.3.0, signac, joblib and Dask.

    ``pins`` maps a requirement of ``BENCH_LEGACY`` to the exact one to install instead.
    """
    folder = Path(session.virtualenv.location).parent / "bench-entropic-2.3.0"
    python = folder / "bin" / "python"
    marker = folder / "bench-requirements.txt"
    wanted = [pins.get(requirement, requirement) for requirement in BENCH_LEGACY]
    if python.is_file() and marker.is_file() and marker.read_text() == "\n".join(wanted):
        session.log(f"reusing {folder}")
        return str(python)
    shutil.rmtree(folder, ignore_errors=True)
    # run_install: these are installation steps, also taken under `nox --install-only`
    session.run_install("python", "-m", "venv", str(folder), silent=True)
    session.run_install(str(python), "-m", "pip", "install", "--quiet", *wanted, external=True)
    marker.write_text("\n".join(wanted))
    return str(python)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: ours against the raw floor, entropic 2.3.0, signac and joblib.Memory.

    `nox -s bench` takes a few minutes; `nox -s bench -- --quick` is a smoke run, and
    `nox -s bench -- --dask-sizes 2000,20000` adds the long Dask sweeps. The table is printed and
    written to benchmarks/results/latest.md (and latest.json).
    """
    # All three together from their folders: the operating rows time the `entropic` command.
    names = ("entropic-core", "entropic-dask", "entropic-cli")
    folders = [PACKAGES / n for n in names if (PACKAGES / n).is_dir()]
    args: list[str] = []
    for folder in folders:
        args += ["-e", str(folder)]
    session.install(*args, "psycopg[binary]>=3.1")
    version = session.run_install(
        "python",
        "-c",
        "import importlib.metadata as m; print(m.version('distributed'))",
        silent=True,
    )
    pins = {"dask[distributed]": f"dask[distributed]=={str(version).strip()}"} if version else {}
    legacy = _legacy_env(session, pins)
    session.run(
        "python",
        str(ROOT / "benchmarks" / "bench_run.py"),
        "--legacy-python",
        legacy,
        *session.posargs,
    )
