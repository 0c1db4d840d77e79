"""The package installs anywhere: renderers stands alone, and a built wheel carries (and finds)
the data the code reads at run time, so an installed copy runs from any directory."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, cli, decoded, read_shards, shard_bytes

# repo file (relative to REPO) → where the wheel must hold it. Derived from the repository, so a
# new prompt set, vocabulary or sample image must ship too.
SHIPPED = {
    "mmsynth/sample.schema.json": "mmsynth/sample.schema.json",
    **{str(p.relative_to(REPO)): "mmsynth/" + str(p.relative_to(REPO))
       for folder in ("prompts", "grounding")
       for p in sorted((REPO / "configs" / folder).glob("*.yaml"))},
    **{str(p.relative_to(REPO)): str(p.relative_to(REPO))
       for p in sorted((REPO / "mmsynth" / "preview").glob("*.j2"))},
    **{str(p.relative_to(REPO)): "mmsynth/" + str(p.relative_to(REPO))
       for pattern in ("LICENSES.md", "README.md", "annotations/*.json", "images/*.jpg")
       for p in sorted((REPO / "assets" / "coco_sample").glob(pattern))},
    **{str(p.relative_to(REPO)): "mmsynth/" + str(p.relative_to(REPO))
       for p in sorted((REPO / "assets" / "personas").glob("*.txt"))},
    **{f"assets/vocab/{p.name}": f"renderers/charts/vocab/{p.name}"
       for p in sorted((REPO / "assets" / "vocab").glob("*.txt"))},
}
# What the run time does not read: never in the wheel.
NOT_SHIPPED = ("assets/clip/mmsynth-tiny-clip.safetensors", "assets/coco_sample/make_sample.py",
               "configs/chart.yaml", "configs/geometry.yaml")


# ---------------------------------------------------------------------------------------------
# renderers never imports mmsynth


def mmsynth_imports(source: str) -> list[str]:
    """The mmsynth modules ``source`` imports: import statements, and import_module /
    __import__ calls with a literal name."""
    def is_mmsynth(name: str) -> bool:
        return name == "mmsynth" or name.startswith("mmsynth.")

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if is_mmsynth(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module] if is_mmsynth(node.module) else []
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if name in ("import_module", "__import__") and isinstance(arg, ast.Constant) \
                    and isinstance(arg.value, str) and is_mmsynth(arg.value):
                found.append(arg.value)
    return found


def test_the_import_checker_sees_every_way_of_importing_mmsynth():
    source = ("import os\nimport mmsynth.errors as e\nfrom mmsynth.registry import Registry\n"
              "from . import qa\nfrom mmsynthetic import x\n"
              "def f():\n    import importlib\n    return importlib.import_module('mmsynth')\n")
    assert mmsynth_imports(source) == ["mmsynth.errors", "mmsynth.registry", "mmsynth"]


def test_no_module_under_renderers_imports_mmsynth():
    files = sorted((REPO / "renderers").rglob("*.py"))
    assert len(files) > 20  # the whole library, not an empty glob
    offenders = {str(f.relative_to(REPO)): names for f in files
                 if (names := mmsynth_imports(f.read_text(encoding="utf-8")))}
    assert offenders == {}


# ---------------------------------------------------------------------------------------------
# the package list in pyproject.toml


def test_pyproject_lists_every_code_package_and_maps_the_data_packages():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11's tomllib reads pyproject.toml")
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    mapped = setuptools["package-dir"]
    code = {".".join(p.parent.relative_to(REPO).parts)
            for top in ("mmsynth", "renderers") for p in (REPO / top).rglob("__init__.py")}
    assert code - listed == set(), "a code package the wheel would leave out"
    assert mapped == {"mmsynth.configs": "configs", "mmsynth.assets": "assets",
                      "renderers.charts.vocab": "assets/vocab"}
    assert listed == code | set(mapped)
    for folder in mapped.values():  # importable, so importlib.resources gives a real directory
        assert (REPO / folder / "__init__.py").is_file()


def test_the_checkout_reads_its_own_folders():
    from mmsynth.prompts.llava import PROMPT_DIR
    from mmsynth.sources.coco_data import SAMPLE_ROOT
    from renderers.charts.data import VOCAB_DIR

    assert (PROMPT_DIR, SAMPLE_ROOT, VOCAB_DIR) == (
        REPO / "configs" / "prompts", REPO / "assets" / "coco_sample", REPO / "assets" / "vocab")


# ---------------------------------------------------------------------------------------------
# a built wheel, installed elsewhere


def copy_source(dest: Path) -> Path:
    """What a build reads, copied to ``dest``, so building writes nothing into the checkout."""
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("mmsynth", "renderers", "configs", "assets"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


def pip(*args: str, cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"pip {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built offline (setuptools from this environment)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = copy_source(tmp.resolve() / "src")
    pip("wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), cwd=src)
    (built,) = (tmp / "dist").glob("mmsynth-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_the_run_time_data_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for repo_file, in_wheel in SHIPPED.items():
            assert in_wheel in names, f"{repo_file} is not shipped"
            assert z.read(in_wheel) == (REPO / repo_file).read_bytes(), in_wheel
    assert len(SHIPPED) > 30  # prompts, sample files and vocabularies were all found
    code = {n for n in names if n.endswith(".py") and n.split("/")[0] in ("mmsynth", "renderers")}
    meta = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    assert names - set(SHIPPED.values()) - code - meta == set()
    assert not any(n.startswith(("tests/", "tools/", "bench/")) for n in names)
    assert not any(Path(n).name in {Path(p).name for p in NOT_SHIPPED} for n in names)
    # The code files are the checkout's, and all of them (the data packages' markers included).
    checkout_code = {str(p.relative_to(REPO)) for top in ("mmsynth", "renderers")
                     for p in (REPO / top).rglob("*.py")}
    markers = {"mmsynth/configs/__init__.py", "mmsynth/assets/__init__.py",
               "renderers/charts/vocab/__init__.py"}
    assert checkout_code | markers == code


PROBE = """
import json, mmsynth, renderers
from mmsynth.prompts.llava import PROMPT_DIR, load_prompt_set
from mmsynth.sources.coco_data import SAMPLE_ROOT
from renderers.charts.data import VOCAB_DIR
print(json.dumps({"mmsynth": mmsynth.__file__, "renderers": renderers.__file__,
                  "prompts": str(PROMPT_DIR), "sample": str(SAMPLE_ROOT), "vocab": str(VOCAB_DIR),
                  "detail": load_prompt_set("detail").fingerprint}))
"""


@pytest.mark.slow
def test_the_installed_wheel_runs_from_any_directory(wheel, tmp_path):
    from mmsynth.prompts.llava import load_prompt_set

    tmp_path = tmp_path.resolve()
    site, cwd = tmp_path / "site", tmp_path / "elsewhere"
    cwd.mkdir()
    pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=tmp_path)
    # PYTHONPATH precedes the environment's editable finder, so the installed copy is imported.
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, f"{args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    where = json.loads(run("-c", PROBE).stdout)
    assert where == {
        "mmsynth": str(site / "mmsynth" / "__init__.py"),
        "renderers": str(site / "renderers" / "__init__.py"),
        "prompts": str(site / "mmsynth" / "configs" / "prompts"),
        "sample": str(site / "mmsynth" / "assets" / "coco_sample"),
        "vocab": str(site / "renderers" / "charts" / "vocab"),
        "detail": load_prompt_set("detail").fingerprint,  # the same prompt content
    }

    # The labelled dev set is test data: the installed evaluator asks for it by name, and reads
    # it (with its shipped-sample sets) from wherever it is.
    proc = subprocess.run([sys.executable, "-m", "mmsynth.filters.evaluate"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "give PATH" in proc.stderr, proc.stderr
    table = run("-m", "mmsynth.filters.evaluate", str(REPO / "tests/coco/data/grounding_dev.yaml"))
    assert "| **correct kept** |" in table.stdout

    generate = ("-m", "mmsynth.generate", "--noprogress", "--clip_mode", "off")
    run(*generate, "--source", "chart", "--num_samples", "20", "--out", str(cwd / "chart"))
    samples = read_shards(cwd / "chart")
    assert len(samples) == json.loads((cwd / "chart" / "stats.json").read_text())["kept"] > 0
    assert all(decoded(s["json"])["meta"]["source"] == "chart" for s in samples.values())
    # The vocabularies the installed copy read are the checkout's: the same bytes.
    cli("--source", "chart", "--num_samples", "20", "--out", str(tmp_path / "checkout"),
        "--noprogress", "--clip_mode", "off")
    assert shard_bytes(cwd / "chart") == shard_bytes(tmp_path / "checkout")

    # The shipped COCO sample, the shipped prompt set and the embedded model.
    run(*generate, "--source", "coco", "--num_samples", "1", "--types", "detail",
        "--out", str(cwd / "coco"))
    metas = [decoded(s["json"])["meta"] for s in read_shards(cwd / "coco").values()]
    detail = [m for m in metas if m["type"] == "detail"]
    assert len(detail) == 1 and detail[0]["file_name"] == "000000000001.jpg"
    assert detail[0]["prompt"]["prompt_fingerprint"] == where["detail"]


@pytest.mark.slow
def test_an_editable_install_maps_the_data_packages_onto_the_checkout(tmp_path):
    """pip install -e builds this editable wheel; its finder must resolve the data packages."""
    tmp_path = tmp_path.resolve()  # the finder maps resolved paths
    src = copy_source(tmp_path / "src")
    build = ("from setuptools import build_meta as b; import sys; "
             "print(b.build_editable(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=src,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (editable,) = (tmp_path / "dist").glob("mmsynth-*.whl")
    with zipfile.ZipFile(editable) as z:
        z.extractall(tmp_path / "site")
    # Without site (-S), only this install's finder answers; the environment's packages
    # (numpy, matplotlib, ...) come after it as a plain path entry.
    probe = ("import importlib.resources as r, json, site, sys; site.addsitedir(sys.argv[1]); "
             "sys.path.append(sys.argv[2]); import mmsynth, renderers; "
             "print(json.dumps([mmsynth.__file__, renderers.__file__] + [str(r.files(p)) for p in "
             "('mmsynth.configs', 'mmsynth.assets', 'renderers.charts.vocab')]))")
    env_site = next(p for p in sys.path if p.endswith("site-packages"))
    proc = subprocess.run([sys.executable, "-S", "-c", probe, str(tmp_path / "site"), env_site],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        str(src / "mmsynth" / "__init__.py"), str(src / "renderers" / "__init__.py"),
        str(src / "configs"), str(src / "assets"), str(src / "assets" / "vocab")]
