"""The workspace of the CLI fuzz test (``test_fuzz.py``): tiny fixtures, the base invocations, command paths.

``{ws}`` in an argument stands for the workspace root, ``{out}`` for a fresh
directory ``out/<case id>`` and ``{csv}`` for a fresh file
``csv/<case id>.csv`` (in an existing folder); see :class:`Case`. The cases
themselves are in ``fuzz_cases.py``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BASES", "CONFIG_FILES", "STUDY_FILES", "Case", "build_workspace", "command_path", "command_paths",
           "run_base"]

#: The sizes of the tiny MNIST-format data set of the workspace.
N_TRAIN, N_TEST = 20, 10


@dataclass(frozen=True)
class Case:
    """One bad invocation.

    Attributes:
        id: short readable name, ``<command>-<what is wrong>``.
        args: the argument list (``{ws}``, ``{out}``, ``{csv}`` placeholders).
        expect: a fragment the error line must contain (case-insensitive), for
            commands whose base invocation cannot run in the fixtures (the
            manifold commands: a VAE-GAN is too slow to train here), so that a
            missing check does not pass as some later error.
    """

    id: str
    args: tuple[str, ...]
    expect: str | None = None

    def target(self) -> str | None:
        """The workspace-relative path this case may create files below (None: nowhere)."""
        text = " ".join(self.args)
        if "{out}" in text:
            return f"out/{self.id}"
        if "{csv}" in text:
            return f"csv/{self.id}.csv"
        return None

    def argv(self, ws: Path) -> list[str]:
        """The arguments with the placeholders filled in."""
        fills = {"{ws}": str(ws), "{out}": str(ws / f"out/{self.id}"), "{csv}": str(ws / f"csv/{self.id}.csv")}
        out = []
        for arg in self.args:
            for key, value in fills.items():
                arg = arg.replace(key, value)
            out.append(arg)
        return out


#: The valid invocation each command's cases start from. ``train`` and ``saliency`` build the
#: workspace; ``test_fuzz`` checks that the others get through all their checks (their work
#: stubbed), so a case fails only by its own fault. (None for the manifold commands: a VAE-GAN
#: takes too long to train here; their cases name the fragment their error must contain.)
BASES: dict[str, tuple[str, ...]] = {
    "train": ("train", "--dataset", "mnist", "--data-dir", "{ws}/mnist", "--arch", "linear", "--epochs", "1",
              "--limit", "16", "--batch-size", "8", "--quiet"),
    "saliency": ("saliency", "--model", "{ws}/run", "--dataset", "mnist", "--method", "gradient", "--limit", "16",
                 "--batch-size", "8", "--grid", "0", "--quiet"),
    "attack": ("attack", "--model", "{ws}/run", "--norm", "linf", "--eps", "0.1", "--steps", "1", "--limit", "4",
               "--batch-size", "4"),
    "roar": ("roar", "--model", "{ws}/run", "--method", "random", "--fractions", "0.5", "--repeats", "1",
             "--epochs", "1", "--limit", "16", "--test-limit", "8", "--batch-size", "8", "--quiet"),
    "theory tsipras": ("theory", "tsipras", "--d", "5", "--n-train", "20", "--n-test", "20", "--epochs", "1",
                       "--batch-size", "10", "--attack-steps", "1"),
    "theory linear": ("theory", "linear", "--dataset", "mnist", "--data-dir", "{ws}/mnist", "--limit", "20",
                      "--epochs", "1", "--batch-size", "8", "--eps-train", "0,0.1", "--eps-test", "0.1",
                      "--top-k", "5", "--sizes", "2"),
    "theory toy": ("theory", "toy", "--n", "20", "--epochs", "1", "--steps", "1", "--eps", "0,0.5"),
    "study run": ("study", "run", "{ws}/studies/tiny.yaml", "--quiet", "--no-report"),
}



# ----------------------------------------------------------------------------- workspace
def _write_idx(path: Path, *, n_train: int = N_TRAIN, n_test: int = N_TEST) -> Path:
    """A tiny MNIST in its original idx.gz format (labels 0..9 cycling)."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        with gzip.open(path / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(np.array([0x803, count, 28, 28], ">u4").tobytes() + images.tobytes())
        with gzip.open(path / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(np.array([0x801, count], ">u4").tobytes() + labels.tobytes())
    return path


def _truncated_copies(source: Path, cut_gzip: Path, short_payload: Path) -> None:
    """Two broken copies of an idx directory: gzip streams cut in half, and whole gzip files too short."""
    cut_gzip.mkdir()
    short_payload.mkdir()
    for file in sorted(source.glob("*.gz")):
        data = file.read_bytes()
        (cut_gzip / file.name).write_bytes(data[: len(data) // 2])
        raw = gzip.decompress(data)
        with gzip.open(short_payload / file.name, "wb") as f:
            f.write(raw[: len(raw) // 2 + 3])


_STUDY_TINY = """\
name: tiny
grid: {seed: [0]}
presets:
  quick: {toy: {epochs: 1}}
stages:
  - {name: toy, kind: toy, params: {eps: [0], n: 10, epochs: 1, steps: 1, seed: "${seed}"}}
"""

STUDY_FILES = {
    "tiny.yaml": _STUDY_TINY,
    "syntax.yaml": "name: broken\nstages: [ {name: toy, kind: toy\n",
    "empty.yaml": "",
    "unknown_keys.yaml": _STUDY_TINY + "stagez: []\n",
    "wrong_types.yaml": "name: tiny\nstages: 5\n",
    "not_mapping.yaml": "- just\n- a list\n",
    "unknown_kind.yaml": "name: tiny\nstages:\n  - {name: s, kind: trian, params: {}}\n",
    "bad_ref.yaml": "name: tiny\nstages:\n  - {name: s, kind: toy, params: {eps: [0], n: 10, seed: '${nokey}'}}\n",
    "bad_param_name.yaml": "name: tiny\nstages:\n  - {name: s, kind: toy, params: {eps: [0], n: 10, epochs: 1, "
                           "steps: 1, bogus: 3}}\n",
    "bad_param_value.yaml": "name: tiny\nstages:\n  - {name: s, kind: toy, params: {eps: [.nan], n: 10, "
                            "epochs: 1, steps: 1}}\n",
    "bad_param_type.yaml": "name: tiny\nstages:\n  - {name: s, kind: toy, params: {eps: [0], n: ten, "
                           "epochs: 1, steps: 1}}\n",
    "bad_needs.yaml": "name: tiny\nstages:\n  - {name: s, kind: toy, needs: [nothere], params: {eps: [0], n: 10}}\n",
}

CONFIG_FILES = {  # training / VAE-GAN YAML configs
    "syntax.yaml": "epochs: [1, 2\ndata: {name: mnist\n",
    "empty.yaml": "",
    "unknown_keys.yaml": "epochs: 1\nbogus_key: 3\n",
    "wrong_types.yaml": "epochs: many\nbatch_size: [8]\n",
    "not_mapping.yaml": "- 1\n- 2\n",
    "binary.yaml": "\x00\x01\x02\xff not yaml \x00",
}


def build_workspace(ws: Path) -> None:
    """Writes the fixtures every case runs against into ``ws`` (tiny; a few seconds).

    ``mnist/`` tiny idx data; ``mnist_cut/``, ``mnist_short/`` broken copies;
    ``run/`` a linear classifier trained one epoch on 16 images (``train``
    base); ``targets/`` its gradient maps of them (``saliency`` base) with
    ``targets_nan/`` (a NaN in them) and ``targets_shape/`` (maps of the wrong
    shape); ``textmodel/model.keras`` a text file; ``truncated/model.keras``
    half a .keras zip; ``configs/`` and ``studies/`` broken YAML files (and
    ``studies/tiny.yaml``, a valid one); ``fakestudy/study.sqlite`` a text file;
    ``schemastudy/study.sqlite`` an unrelated SQLite database; ``emptydir/``;
    ``existing/`` an unrelated folder with files; ``files/notes.txt``;
    ``csv/`` an empty folder for attack CSVs; ``out/`` an empty folder.
    """
    ws.mkdir(parents=True, exist_ok=True)
    data_dir = _write_idx(ws / "mnist")
    _truncated_copies(data_dir, ws / "mnist_cut", ws / "mnist_short")
    (ws / "studies").mkdir()
    for name, text in STUDY_FILES.items():
        (ws / "studies" / name).write_text(text)
    # The fixtures that need the CLI are made by the base invocations themselves.
    run_base(ws, "train", ws / "run")
    run_base(ws, "saliency", ws / "targets")

    (ws / "textmodel").mkdir()
    (ws / "textmodel/model.keras").write_text("this is not a keras archive\n")
    (ws / "truncated").mkdir()
    keras_bytes = (ws / "run/model.keras").read_bytes()
    (ws / "truncated/model.keras").write_bytes(keras_bytes[: len(keras_bytes) // 2])
    shutil.copy(ws / "run/config.yaml", ws / "truncated/config.yaml")

    shutil.copytree(ws / "targets", ws / "targets_nan")
    maps = np.load(ws / "targets_nan/gradient.npy")
    maps[0, 3, 3, 0] = np.nan
    np.save(ws / "targets_nan/gradient.npy", maps)
    shutil.copytree(ws / "targets", ws / "targets_shape")
    np.save(ws / "targets_shape/gradient.npy", np.zeros((16, 14, 14, 1), np.float32))

    (ws / "configs").mkdir()
    for name, text in CONFIG_FILES.items():
        (ws / "configs" / name).write_text(text, encoding="latin-1")
    (ws / "fakestudy").mkdir()
    (ws / "fakestudy/study.sqlite").write_text("not a database\n")
    (ws / "schemastudy").mkdir()
    with sqlite3.connect(ws / "schemastudy/study.sqlite") as conn:
        conn.execute("CREATE TABLE unrelated (a INTEGER)")
    conn.close()
    (ws / "emptydir").mkdir()
    (ws / "existing/sub").mkdir(parents=True)
    (ws / "existing/keep.txt").write_text("unrelated file, keep me\n")
    (ws / "existing/sub/data.csv").write_text("a,b\n1,2\n")
    (ws / "existing/robust_accuracy.csv").write_text("a,b\n1,2\n")  # not an attack table: never replaced
    (ws / "files").mkdir()
    (ws / "files/notes.txt").write_text("a plain text file\n")
    (ws / "files/empty.keras").write_bytes(b"")
    (ws / "csv").mkdir()
    (ws / "out").mkdir()


def run_base(ws: Path, name: str, out: Path) -> tuple[int, str]:
    """Runs ``BASES[name]`` in-process with ``--out out``; (exit status, output); RuntimeError if it fails."""
    from cli.main import main

    argv = [*Case(name, BASES[name]).argv(ws), "--out", str(out)]
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        try:
            main(argv)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    if code != 0:
        raise RuntimeError(f"base invocation failed ({code}): tfrobust {' '.join(argv)}\n{text.getvalue()[-3000:]}")
    return code, text.getvalue()


# ----------------------------------------------------------------------------- command paths
def command_paths(group) -> list[str]:
    """Every group and command of a click group, as space-joined paths (``"theory toy"``; root ``""``)."""
    import click

    paths = [""]

    def walk(command, prefix: str) -> None:
        for name, sub in sorted(command.commands.items()):
            path = f"{prefix} {name}".strip()
            paths.append(path)
            if isinstance(sub, click.Group):
                walk(sub, path)

    walk(group, "")
    return paths


def command_path(group, args: tuple[str, ...] | list[str]) -> str:
    """The group or command an argument list reaches (``"study run"``; ``""`` for the root)."""
    import click

    path: list[str] = []
    command = group
    for arg in args:
        if not isinstance(command, click.Group) or arg not in command.commands:
            break
        command = command.commands[arg]
        path.append(arg)
    return " ".join(path)
