"""Benchmark: the evaluation attacks (``autoattack`` suite, ``apgd``, early-exit tables) against ART.

Measures, in one run on the same models, test images and radii (Fashion-MNIST
in [-1, 1]; ``tf_tutorial_mnist_cnn`` trained here, standard and briefly
adversarially fine-tuned; ``kim_mnist_cnn`` costs 3.4x the multiply-adds, too
much for ART's suite on 2 CPU cores), 200 images in (a), 500 in (b):

(a) our ``autoattack`` suite (APGD-CE, then APGD-T with the targeted DLR
    loss, then Square, each member on the points still standing; the
    ``fast`` numbers by default: 50 APGD steps, 3 target classes, 1,000
    Square queries) against ART's ``AutoAttack`` with the same members and
    budgets (see "ART's suite" below), and our ``apgd`` (cross-entropy)
    against ART's ``AutoProjectedGradientDescent`` alone; one linf and one l2
    radius. Targets: ours at least 3x faster, robust accuracy equal or lower
    (ours <= ART + 0.5 points).
(b) a robust-accuracy table over six linf radii, PGD-K (K = 20, step
    ``2.5 * eps / K``, one random start): ``robust_accuracy_table(...,
    checks="none")`` (which attacks only the points still standing: clean
    errors and points broken at a smaller radius are skipped, and PGD stops on
    a point at its first misclassifying iterate) against ART's
    ``ProjectedGradientDescent`` at every radius over all images. Target:
    throughput ratio >= 3 at equal or lower accuracy. For what the early exit
    buys, our table is also timed without it: ``attacked_correct`` at every
    radius without ``standing`` (PGD still stops on broken points), and with
    ``early_exit=False`` too (every correctly classified point, K steps, at
    every radius).
(c) PGD-K against K compiled input gradients is measured by
    ``benchmarks/loop_form.py`` (``results/loop_form.json``); not repeated here.

ART's suite: ART's ``AutoAttack(attacks=[...], targeted=False)`` runs its
list in order, each attack on the points still standing, and turns every
attack untargeted in that phase (its ``targeted=True`` phase would run every
member against all K-1 classes in index order). So the APGD-T member is a
small adapter, :class:`ArtTopTargets`, that runs ART's
``AutoProjectedGradientDescent(loss_type="difference_logits_ratio",
targeted=True)`` against the 2nd, 3rd, ... most likely clean classes, each on
the points still standing, as ours does. ART's members: APGD with
``eps_step = 2 * eps`` (the first step size of APGD), one random start,
``max_iter = steps``; ``SquareAttack(max_iter=queries, p_init=0.8,
nb_restarts=1)``. Known differences: ART's APGD keeps a point's last
iterate (ours: the first misclassifying iterate found), and ART's targeted
"DLR" is its untargeted DLR with the target as label and the gradient
negated (denominator ``z_1 - z_3``; Croce & Hein's targeted DLR uses
``z_pi1 - (z_pi3 + z_pi4) / 2``); ART's Square predicts every point once
more per iteration and draws one window position per batch.

Times are medians over ``--repeats`` runs after a warm-up on a few images
(tracing); ours and ART's are interleaved within each repeat. The machine
is shared with other jobs (recorded in the JSON). Benchmarks are not tests
(docs/architecture.md): nothing is asserted. ART is not a dependency of
tfrobust: ``make bench-autoattack`` installs it (and ``multiprocess``, which
ART's AutoAttack imports) into ``benchmarks/.art``.

Usage: ``make bench-autoattack``, or ``PYTHONPATH=benchmarks/.art .venv/bin/python
benchmarks/autoattack.py --out benchmarks/results`` (``--quick``: a smoke run). Writes
``<out>/autoattack.json`` and ``<out>/autoattack.md`` (atomically) and prints the tables.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench_common import (  # noqa: E402
    BOUNDS,
    INPUT_SHAPE,
    NUM_CLASSES,
    compile_classifier,
    import_art,
    make_predict,
    median,
    timed,
    train_standard,
)

from tfrobust.attacks import Attack  # noqa: E402
from tfrobust.attacks.autoattack import VERSIONS  # noqa: E402
from tfrobust.data import load_dataset  # noqa: E402
from tfrobust.evaluation import robust_accuracy_table  # noqa: E402
from tfrobust.models import build_model  # noqa: E402
from tfrobust.training import AdversarialModel, atomic_json, library_versions  # noqa: E402
from tfrobust.training.callbacks import attack_outcomes, attacked_correct  # noqa: E402

TARGET_SPEEDUP = 3.0
TARGET_ACCURACY_SLACK = 0.005  # ours may be at most 0.5 points above ART
SUITE_LABELS = ("apgd-ce", "apgd-t", "square")
MACHINE = "2 CPU cores, shared with other jobs (other helpers' builds and tests) while measured"


def as_dataset(x: np.ndarray, y: np.ndarray, batch: int) -> tf.data.Dataset:
    """``(x, y)`` batches without tf.data's autotuning.

    Passed to the evaluation layer instead of the pair of arrays: iterating
    the autotuned Dataset that ``batches()`` makes of arrays costs a wait at
    the iterator's end that rounds a call's time up to about 10 ms x 2^k
    (measured here: 1.35 s of work took 2.56 s); part (a) times APGD both
    ways (``ours_apgd_arrays``).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).with_options(options)


def perturbation(x_adv: np.ndarray, x: np.ndarray, norm: str) -> float:
    """The largest perturbation in ``norm`` over the batch."""
    delta = (x_adv - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta.astype(np.float64) ** 2).sum(axis=1))
    return float(size.max()) if size.size else 0.0


# -------------------------------------------------------------------- models
def train_models(args: argparse.Namespace) -> dict[str, tuple[keras.Model, str]]:
    """A standard model, and (``--adv-epochs`` > 0) one fine-tuned from it with PGD adversarial training."""
    base, seconds, images = train_standard(args.arch, images=args.train_images, epochs=args.epochs,
                                           data_dir=args.data_dir)
    models = {"standard": (base, f"{args.arch}, standard training: {args.epochs} epoch(s) on {images} "
                                 f"images, Adam 1e-3, batch 128 ({seconds:.0f} s)")}
    if args.adv_epochs > 0:
        robust_base = build_model(args.arch, input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES)
        robust_base.set_weights(base.get_weights())
        attack = {"name": "pgd", "norm": "linf", "eps": args.adv_eps, "steps": args.adv_steps, "bounds": BOUNDS}
        adversarial = AdversarialModel(robust_base, attack=attack, track_clean=False)
        compile_classifier(adversarial)
        subset = load_dataset("fashion_mnist", "train", bounds=BOUNDS, limit=args.adv_images, data_dir=args.data_dir)
        print(f"adversarial fine-tuning: {args.adv_epochs} epoch(s) of PGD-{args.adv_steps} linf eps "
              f"{args.adv_eps:g} on {len(subset.y)} images", flush=True)
        seconds, _ = timed(lambda: adversarial.fit(subset.pipeline(128, shuffle=True, seed=1),
                                                   epochs=args.adv_epochs, verbose=2))
        models["adversarial"] = (robust_base, f"the standard model fine-tuned with PGD-{args.adv_steps} linf eps "
                                              f"{args.adv_eps:g} adversarial training: {args.adv_epochs} epoch(s) on "
                                              f"{len(subset.y)} images ({seconds:.0f} s)")
    return models


# ----------------------------------------------------------------------- ART
def art_classifier(model: keras.Model) -> Any:
    from art.estimators.classification import TensorFlowV2Classifier

    return TensorFlowV2Classifier(model=model, nb_classes=NUM_CLASSES, input_shape=INPUT_SHAPE,
                                  loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                  clip_values=BOUNDS)


class ArtTopTargets:
    """ART's targeted APGD (DLR) against the 2nd..(k+1)-th most likely clean classes, as one untargeted member.

    Duck-types what ART's ``AutoAttack`` uses of a member (``targeted``,
    ``set_params``, ``generate``); each target runs on the points that no
    earlier target broke. ``generate`` returns ART's point where it is
    misclassified, else the input.
    """

    targeted = False

    def __init__(self, classifier: Any, *, norm: Any, eps: float, steps: int, target_classes: int,
                 batch: int) -> None:
        from art.attacks.evasion import AutoProjectedGradientDescent

        self.classifier = classifier
        self.target_classes = min(target_classes, NUM_CLASSES - 1)
        self.apgd = AutoProjectedGradientDescent(classifier, norm=norm, eps=eps, eps_step=2 * eps, max_iter=steps,
                                                 targeted=True, nb_random_init=1, batch_size=batch,
                                                 loss_type="difference_logits_ratio", verbose=False)

    def set_params(self, **kwargs: Any) -> None:
        pass  # always untargeted towards the suite (it picks its own targets)

    def generate(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
        labels = np.argmax(y, axis=1)
        order = np.argsort(-self.classifier.predict(x), axis=1, kind="stable")
        x_adv = x.copy()
        standing = np.ones(len(x), bool)
        for rank in range(1, self.target_classes + 1):
            rows = np.flatnonzero(standing)
            if rows.size == 0:
                break
            target = np.eye(NUM_CLASSES, dtype=np.float32)[order[rows, rank]]
            out = self.apgd.generate(x[rows], target)
            broken = np.argmax(self.classifier.predict(out), axis=1) != labels[rows]
            x_adv[rows[broken]] = out[broken]
            standing[rows[broken]] = False
        return x_adv


def art_suite(classifier: Any, *, norm: str, eps: float, steps: int, target_classes: int, queries: int,
              batch: int) -> tuple[Any, Any]:
    """ART's AutoAttack with the members of ours, and ART's APGD-CE alone."""
    from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent, SquareAttack

    order = np.inf if norm == "linf" else 2
    apgd_ce = AutoProjectedGradientDescent(classifier, norm=order, eps=eps, eps_step=2 * eps, max_iter=steps,
                                           targeted=False, nb_random_init=1, batch_size=batch,
                                           loss_type="cross_entropy", verbose=False)
    apgd_t = ArtTopTargets(classifier, norm=order, eps=eps, steps=steps, target_classes=target_classes, batch=batch)
    square = SquareAttack(classifier, norm=order, eps=eps, max_iter=queries, p_init=0.8, nb_restarts=1,
                          batch_size=batch, verbose=False)
    suite = AutoAttack(classifier, norm=order, eps=eps, eps_step=2 * eps, attacks=[apgd_ce, apgd_t, square],
                       batch_size=batch, targeted=False)
    alone = AutoProjectedGradientDescent(classifier, norm=order, eps=eps, eps_step=2 * eps, max_iter=steps,
                                         targeted=False, nb_random_init=1, batch_size=batch,
                                         loss_type="cross_entropy", verbose=False)
    return suite, alone


def art_pgd(classifier: Any, *, eps: float, steps: int, batch: int) -> Any:
    from art.attacks.evasion import ProjectedGradientDescent

    return ProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=2.5 * eps / steps, max_iter=steps,
                                    targeted=False, num_random_init=1, batch_size=batch, verbose=False)


# ------------------------------------------------------------- (a) the suite
def part_suite(model: keras.Model, classifier: Any, x: np.ndarray, y: np.ndarray, args: argparse.Namespace,
               radii: dict[str, float]) -> dict[str, Any]:
    """Interleaved runs of our suite / APGD-CE and ART's on the same images, per norm."""
    predict = make_predict(model)
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[y]
    numbers = {"steps": args.steps, "target_classes": args.target_classes, "queries": args.queries}
    out: dict[str, Any] = {}
    for norm, eps in radii.items():
        suite = Attack.build("autoattack", norm=norm, eps=eps, bounds=BOUNDS,
                             options={"version": args.version, **numbers})
        apgd = Attack.build("apgd", norm=norm, eps=eps, bounds=BOUNDS, options={"steps": args.steps, "loss": "ce"})
        art_aa = art_alone = None
        if classifier is not None:
            art_aa, art_alone = art_suite(classifier, norm=norm, eps=eps, batch=args.batch, **numbers)

        def ours(attack: Attack, xs: np.ndarray = x, ys: np.ndarray = y, arrays: bool = False) -> Callable[[], Any]:
            data = (xs, ys) if arrays else as_dataset(xs, ys, args.batch)
            return lambda: attack_outcomes(model, data, attack, seed=0, batch_size=args.batch)

        def art(attack: Any, xs: np.ndarray = x, ys: np.ndarray = onehot) -> Callable[[], Any]:
            return lambda: attack.generate(x=xs, y=ys)

        methods = {"ours_suite": ours(suite), "art_suite": art(art_aa), "ours_apgd": ours(apgd),
                   "art_apgd": art(art_alone), "ours_apgd_arrays": ours(apgd, arrays=True)}
        if classifier is None:
            methods = {k: v for k, v in methods.items() if k.startswith("ours")}
        print(f"  [{norm} eps={eps:g}] warm-up on {args.warmup} images ...", flush=True)
        w = args.warmup
        warm = {"ours_suite": ours(suite, x[:w], y[:w]), "ours_apgd": ours(apgd, x[:w], y[:w])}
        if classifier is not None:
            warm.update(art_suite=art(art_aa, x[:w], onehot[:w]), art_apgd=art(art_alone, x[:w], onehot[:w]))
        warmup = {name: round(timed(fn)[0], 2) for name, fn in warm.items()}
        times: dict[str, list[float]] = {name: [] for name in methods}
        acc: dict[str, list[float]] = {name: [] for name in methods}
        breaks: dict[str, dict[str, int]] = {}
        largest: dict[str, float] = {}
        for r in range(args.repeats):
            for name, fn in methods.items():
                np.random.seed(r)  # ART draws from numpy's global generator
                seconds, result = timed(fn)
                times[name].append(seconds)
                if name.startswith("ours"):
                    correct, codes = result
                    acc[name].append(float(correct.mean()))
                    if name == "ours_suite":
                        breaks[name] = {label: int((codes == i).sum()) for i, label in enumerate(SUITE_LABELS)}
                else:
                    acc[name].append(float((predict(result) == y).mean()))
                    largest[name] = perturbation(result, x, norm)
                    if name == "art_suite":
                        codes = np.asarray(art_aa.best_attacks)
                        breaks[name] = {label: int((codes == i).sum()) for i, label in enumerate(SUITE_LABELS)}
                print(f"    repeat {r + 1}/{args.repeats} {name:<11} {seconds:8.2f} s  robust acc "
                      f"{acc[name][-1]:.4f}", flush=True)
        row: dict[str, Any] = {
            "eps": eps, "warmup_seconds": warmup,
            "seconds": {k: {"median": median(v), "all": [round(s, 3) for s in v]} for k, v in times.items()},
            "robust_accuracy": {k: v[0] for k, v in acc.items()},
            "robust_accuracy_all_repeats": acc, "points_broken_by_member": breaks,
            "art_largest_perturbation": largest,
            "ours_apgd_arrays_over_dataset": median(times["ours_apgd_arrays"]) / median(times["ours_apgd"]),
        }
        for what in ("suite", "apgd"):
            if f"art_{what}" in times:
                ours_acc, art_acc = acc[f"ours_{what}"][0], median(acc[f"art_{what}"])
                speedup = median(times[f"art_{what}"]) / median(times[f"ours_{what}"])
                row[what] = {"speedup_ours_over_art": speedup, "accuracy_ours_minus_art": ours_acc - art_acc,
                             "speedup_met": speedup >= TARGET_SPEEDUP,
                             "accuracy_met": ours_acc <= art_acc + TARGET_ACCURACY_SLACK}
        out[norm] = row
    return out


# ------------------------------------------------------------- (b) the table
def part_table(model: keras.Model, classifier: Any, x: np.ndarray, y: np.ndarray,
               args: argparse.Namespace) -> dict[str, Any]:
    """Our 6-radius table (early exit), the same without it, and ART's PGD at every radius."""
    radii = sorted(args.table_eps)
    k = args.pgd_steps
    options = {"steps": k, "step_size_factor": 2.5, "random_start": True}
    predict = make_predict(model)
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[y]
    art_attacks = [art_pgd(classifier, eps=e, steps=k, batch=args.batch) for e in radii] if classifier else None

    def table(xs: np.ndarray = x, ys: np.ndarray = y) -> Callable[[], list[float]]:
        def run() -> list[float]:
            frame = robust_accuracy_table(model, as_dataset(xs, ys, args.batch), norms=["linf"], eps=radii,
                                          bounds=BOUNDS, attack="pgd", options=options, checks="none")
            return [float(v) for v in frame["robust_accuracy_mean"]]

        return run

    def per_radius(early_exit: bool | None) -> Callable[[], list[float]]:
        extra = {} if early_exit is None else {"early_exit": early_exit}

        def run() -> list[float]:
            data = as_dataset(x, y, args.batch)
            return [float(attacked_correct(model, data, Attack.build("pgd", norm="linf", eps=e, bounds=BOUNDS,
                                                                       options={**options, **extra}),
                                           seed=0, batch_size=args.batch).mean()) for e in radii]

        return run

    def art(xs: np.ndarray = x, ys: np.ndarray = onehot, labels: np.ndarray = y) -> Callable[[], Any]:
        def run() -> tuple[list[float], list[float]]:
            raw, monotone, alive = [], [], np.ones(len(xs), bool)
            for attack in art_attacks:
                hit = predict(attack.generate(x=xs, y=ys)) == labels
                raw.append(float(hit.mean()))
                alive &= hit
                monotone.append(float(alive.mean()))
            return raw, monotone

        return run

    methods: dict[str, Callable[[], Any]] = {"ours_table": table()}
    if classifier is not None:
        methods["art_pgd"] = art()
    if not args.skip_no_exit:
        methods["ours_no_standing"] = per_radius(None)  # evaluation default: PGD early_exit=True
        methods["ours_no_exit"] = per_radius(False)
    w = args.warmup
    print(f"  warm-up on {w} images ...", flush=True)
    warmup = {"ours_table": round(timed(table(x[:w], y[:w]))[0], 2)}
    if classifier is not None:
        warmup["art_pgd"] = round(timed(art(x[:w], onehot[:w], y[:w]))[0], 2)
    times: dict[str, list[float]] = {name: [] for name in methods}
    acc: dict[str, list[float]] = {}
    art_monotone: list[float] = []
    for r in range(args.repeats):
        for name, fn in methods.items():
            np.random.seed(r)
            seconds, result = timed(fn)
            times[name].append(seconds)
            if name == "art_pgd":
                result, art_monotone = result
            acc.setdefault(name, result)
            print(f"    repeat {r + 1}/{args.repeats} {name:<16} {seconds:8.2f} s  acc "
                  + " ".join(f"{a:.3f}" for a in result), flush=True)
    clean = float((predict(x) == y).mean())
    out: dict[str, Any] = {
        "norm": "linf", "eps": radii, "steps": k, "step_size": "2.5 * eps / steps", "random_start": True,
        "clean_accuracy": clean, "warmup_seconds": warmup,
        "seconds": {k_: {"median": median(v), "all": [round(s, 3) for s in v]} for k_, v in times.items()},
        "robust_accuracy": acc,
    }
    if art_monotone:
        out["robust_accuracy"]["art_pgd_monotone"] = art_monotone
    t_ours = median(times["ours_table"])
    if "art_pgd" in times:
        ratio = median(times["art_pgd"]) / t_ours
        worst_gap = max(o - a for o, a in zip(acc["ours_table"], acc["art_pgd"]))
        out["vs_art"] = {"throughput_ratio": ratio, "speedup_met": ratio >= TARGET_SPEEDUP,
                         "largest_accuracy_ours_minus_art": worst_gap,
                         "accuracy_met": all(o <= a for o, a in zip(acc["ours_table"], acc["art_pgd"]))}
    for name in ("ours_no_standing", "ours_no_exit"):
        if name in times:
            out[f"early_exit_speedup_over_{name[5:]}"] = median(times[name]) / t_ours
    return out


# ---------------------------------------------------------------------- main
def yes(flag: Any) -> str:
    return "" if flag is None else ("yes" if flag else "NO")


def report(summary: dict[str, Any]) -> str:
    """The Markdown report (also printed)."""
    s = summary["settings"]
    lines = ["# tfrobust evaluation attacks vs ART", "",
             f"{summary['machine']} (load average at start/end "
             f"{summary['load_average_1_5_15_min']['start'][1]:.1f}/{summary['load_average_1_5_15_min']['end'][1]:.1f}"
             f"); ART {summary['art'].get('version')}; wall {summary['wall_seconds']:.0f} s. "
             f"Times are medians of {s['repeats']} interleaved run(s) after warm-up.", ""]
    for name, res in summary["models"].items():
        lines += [f"## {name} model", "", res["model"], "", f"clean accuracy {res['clean_accuracy']:.4f} "
                  f"on {s['suite_images']} (a) / {s['table_images']} (b) test images", ""]
        if "suite" in res:
            lines += [f"### (a) suite ({s['version']}: APGD {s['steps']} steps, {s['target_classes']} target "
                      f"classes, Square {s['queries']} queries) and APGD-CE alone, {s['suite_images']} images", "",
                      "| norm | eps | attack | ours s | ART s | speedup | ours acc | ART acc | speedup>=3 | acc ok |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for norm, row in res["suite"].items():
                for what in ("suite", "apgd"):
                    sec, acc = row["seconds"], row["robust_accuracy"]
                    art_s = sec.get(f"art_{what}", {}).get("median")
                    cmp = row.get(what, {})
                    lines.append(
                        f"| {norm} | {row['eps']:g} | {what} | {sec[f'ours_{what}']['median']:.1f} | "
                        + (f"{art_s:.1f} | {cmp['speedup_ours_over_art']:.2f} | " if art_s is not None else "- | - | ")
                        + f"{acc[f'ours_{what}']:.4f} | "
                        + (f"{acc[f'art_{what}']:.4f}" if f"art_{what}" in acc else "-")
                        + f" | {yes(cmp.get('speedup_met'))} | {yes(cmp.get('accuracy_met'))} |")
            lines.append("")
            for norm, row in res["suite"].items():
                b = row["points_broken_by_member"]
                lines.append(f"- {norm}: points broken per member: " + "; ".join(
                    f"{who} " + ", ".join(f"{m} {c}" for m, c in v.items()) for who, v in b.items())
                    + f"; our APGD from arrays / from a Dataset without autotune: "
                    f"{row['ours_apgd_arrays_over_dataset']:.2f}x")
            lines.append("")
        if "table" in res:
            t = res["table"]
            lines += [f"### (b) linf table, PGD-{t['steps']}, {s['table_images']} images", "",
                      "| method | seconds | " + " | ".join(f"{e:g}" for e in t["eps"]) + " |",
                      "|---|---|" + "---|" * len(t["eps"])]
            for name, vals in t["robust_accuracy"].items():
                sec = t["seconds"].get(name, {}).get("median")
                lines.append(f"| {name} | {'' if sec is None else f'{sec:.1f}'} | "
                             + " | ".join(f"{v:.4f}" for v in vals) + " |")
            if "vs_art" in t:
                v = t["vs_art"]
                lines.append(f"\nthroughput ours/ART {v['throughput_ratio']:.2f} (>= 3: {yes(v['speedup_met'])}); "
                             f"ours <= ART at every radius: {yes(v['accuracy_met'])} "
                             f"(largest ours - ART {v['largest_accuracy_ours_minus_art']:+.4f})")
            for key in ("early_exit_speedup_over_no_standing", "early_exit_speedup_over_no_exit"):
                if key in t:
                    lines.append(f"{key.replace('_', ' ')}: {t[key]:.2f}x")
            lines.append("")
    lc = summary.get("loop_form")
    lines += ["## (c) PGD-K vs K compiled input gradients", "",
              lc if isinstance(lc, str) else "see benchmarks/results/loop_form.json (benchmarks/loop_form.py)", ""]
    return "\n".join(lines)


def loop_form_summary() -> str | None:
    """One line from helper C's loop-form measurement, when its JSON is there."""
    import json

    path = Path("benchmarks/results/loop_form.json")
    if not path.is_file():
        return None
    rows = json.loads(path.read_text()).get("pgd", [])
    if not rows:
        return None
    best = [min(r["pgd_graph_over_best_grad"], r["pgd_xla_over_best_grad"]) for r in rows]
    return (f"from {path}: PGD-{rows[0]['steps']} over K compiled gradients (best mode), "
            f"{len(rows)} model/batch cells: min {min(best):.3f}, median {median(best):.3f}, max {max(best):.3f}; "
            f"cells <= 1.1: {sum(b <= 1.1 for b in best)}/{len(best)}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results", help="output directory")
    p.add_argument("--quick", action="store_true", help="a ~2-minute smoke run (tiny numbers)")
    p.add_argument("--arch", default="tf_tutorial_mnist_cnn", help="registered model to train")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-images", type=int, default=12000)
    p.add_argument("--adv-epochs", type=int, default=1, help="adversarial fine-tuning epochs (0: no such model)")
    p.add_argument("--adv-images", type=int, default=6000)
    p.add_argument("--adv-steps", type=int, default=5)
    p.add_argument("--adv-eps", type=float, default=0.1)
    p.add_argument("--suite-images", type=int, default=200, help="test images of part (a)")
    p.add_argument("--table-images", type=int, default=500, help="test images of part (b)")
    p.add_argument("--suite-models", default="standard,adversarial", help="models part (a) runs on")
    p.add_argument("--version", default="fast", choices=sorted(VERSIONS))
    p.add_argument("--steps", type=int, default=None, help="APGD steps (default: the version's)")
    p.add_argument("--target-classes", type=int, default=None, help="APGD-T targets (default: the version's)")
    p.add_argument("--queries", type=int, default=None, help="Square queries (default: the version's)")
    p.add_argument("--linf-eps", type=float, default=0.1)
    p.add_argument("--l2-eps", type=float, default=1.5)
    p.add_argument("--table-eps", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.15, 0.2, 0.3])
    p.add_argument("--pgd-steps", type=int, default=20)
    p.add_argument("--skip-no-exit", action="store_true", help="do not time the table without early exit")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=1, help="timed repeats; medians are reported")
    p.add_argument("--warmup", type=int, default=8, help="images of the warm-up (tracing) runs")
    p.add_argument("--skip-art", action="store_true")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    if args.quick:
        args.epochs, args.train_images, args.adv_images, args.adv_steps = 1, 2000, 1000, 2
        args.suite_images, args.table_images, args.steps, args.queries, args.pgd_steps = 32, 64, 5, 50, 5
        args.target_classes, args.suite_models = args.target_classes or 2, "adversarial"
    for name, value in VERSIONS[args.version].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("epochs", "train_images", "adv_images", "adv_steps", "suite_images", "table_images", "steps",
                 "target_classes", "queries", "pgd_steps", "batch", "repeats", "warmup"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be >= 1")
    return args


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    load_start = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    art_info: dict[str, Any] = {"requested": not args.skip_art}
    if args.skip_art:
        art_info.update(available=False, reason="--skip-art")
    else:
        art, reason = import_art("multiprocess", "art.attacks.evasion")  # ART's AutoAttack imports multiprocess
        if art is None:
            art_info.update(available=False, reason=f"cannot import ART ({reason}); run `make bench-autoattack`")
            print(f"ART comparison skipped: {art_info['reason']}", flush=True)
        else:
            art_info.update(available=True, version=art.__version__)
    models = train_models(args)
    n = max(args.suite_images, args.table_images)
    test = load_dataset("fashion_mnist", "test", bounds=BOUNDS, limit=n, data_dir=args.data_dir)
    radii = {"linf": args.linf_eps, "l2": args.l2_eps}
    results: dict[str, Any] = {}
    for name, (model, source) in models.items():
        classifier = art_classifier(model) if art_info.get("available") else None
        predict = make_predict(model)
        res: dict[str, Any] = {"model": source,
                               "clean_accuracy": float((predict(test.x) == test.y).mean())}
        if name in args.suite_models.split(","):
            xs, ys = test.x[:args.suite_images], test.y[:args.suite_images]
            print(f"== [{name}] (a) suite and APGD-CE on {len(ys)} images", flush=True)
            res["suite"] = part_suite(model, classifier, xs, ys, args, radii)
        xs, ys = test.x[:args.table_images], test.y[:args.table_images]
        print(f"== [{name}] (b) {len(args.table_eps)}-radius linf table, PGD-{args.pgd_steps}, {len(ys)} images",
              flush=True)
        res["table"] = part_table(model, classifier, xs, ys, args)
        results[name] = res
    summary = {
        "benchmark": "autoattack",
        "machine": MACHINE,
        "settings": {
            "quick": args.quick, "arch": args.arch, "dataset": "fashion_mnist", "bounds": list(BOUNDS),
            "suite_images": args.suite_images, "table_images": args.table_images, "version": args.version,
            "steps": args.steps, "target_classes": args.target_classes, "queries": args.queries,
            "suite_eps": radii, "table_eps": sorted(args.table_eps), "pgd_steps": args.pgd_steps,
            "batch": args.batch, "repeats": args.repeats, "warmup_images": args.warmup,
            "art_members": "AutoAttack(targeted=False, attacks=[APGD ce, ArtTopTargets(APGD dlr targeted), "
                           "SquareAttack]); APGD eps_step=2*eps, nb_random_init=1; Square p_init=0.8, "
                           "nb_restarts=1, max_iter=queries",
        },
        "targets": {"speedup_over_art_min": TARGET_SPEEDUP,
                    "robust_accuracy": f"ours <= ART + {TARGET_ACCURACY_SLACK} (suite, apgd); ours <= ART (table)"},
        "art": art_info,
        "models": results,
        "loop_form": loop_form_summary(),
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15_min": {"start": list(load_start), "end": list(os.getloadavg())},
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "versions": {**library_versions(), "art": art_info.get("version")},
        "wall_seconds": time.perf_counter() - started,
    }
    path = atomic_json(summary, out / "autoattack.json")
    text = report(summary)
    md = out / "autoattack.md"
    tmp = md.with_name(md.name + ".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, md)
    print("\n" + text)
    print(f"results in {path} and {md}")


if __name__ == "__main__":
    main()
