"""The bad invocations of the CLI fuzz test (``test_fuzz.py``).

Every case is one ``tfrobust`` argument list that must be refused: non-zero
exit, one ``error: ...`` line on stderr, no traceback, and no file of the
workspace changed (new files only below the case's target path).

Arguments are written against the workspace of tiny fixtures of
``fuzz_workspace.py``: ``{ws}`` stands for its root, ``{out}`` for a fresh
directory ``out/<case id>`` and ``{csv}`` for a fresh file
``csv/<case id>.csv`` (in an existing folder). A case that names ``{out}`` or
``{csv}`` may create files there and nowhere else; a case without one may
create nothing. Most cases are a command's base invocation (``BASES``, known
to pass every check) with one bad option appended (click keeps the last
value of a repeated option). Each keeps its sizes tiny (a handful of images,
one epoch, one PGD step), so that even a case whose check is missing runs in
a second or two instead of training for minutes.
"""
from __future__ import annotations

from tests.cli.fuzz_workspace import BASES, STUDY_FILES, Case

__all__ = ["CASES", "CONTROLS"]

_CASES: list[Case] = []


def _case(case_id: str, *args: str, expect: str | None = None) -> None:
    _CASES.append(Case(case_id, tuple(args), expect))


def _many(prefix: str, base: tuple[str, ...], variants: dict[str, tuple[str, ...]], *,
          expect: dict[str, str] | None = None) -> None:
    """One case per variant: ``base`` followed by the variant's arguments (a later option wins in click).

    With ``expect`` (for bases that cannot succeed in the fixtures), a variant's
    error line must contain ``expect[name]``, by default its last option name.
    """
    for name, extra in variants.items():
        fragment = None
        if expect is not None:
            fragment = expect.get(name) or [a for a in extra if a.startswith("--")][-1]
        _case(f"{prefix}-{name}", *base, *extra, expect=fragment)


NON_FINITE = {"nan": "nan", "inf": "inf", "neg-inf": "-inf", "1e39": "1e39", "1e300": "1e300"}

# --- tfrobust (root) and the groups
_case("root-unknown-command", "trian")
_case("root-unknown-option", "--bogus")
_case("root-empty-command", "")
_case("root-help-typo", "--hepl")
for _group, _sub in (("data", "inof"), ("theory", "tsipra"), ("manifold", "distanse"), ("study", "rn")):
    _case(f"{_group}-unknown-subcommand", _group, _sub)
    _case(f"{_group}-unknown-option", _group, "--bogus")
    _case(f"{_group}-option-before-subcommand", _group, "--out", "{ws}/out/x", _sub)

# --- data info
_many("data-info", ("data", "info"), {
    "unknown-dataset": ("--dataset", "imagenet"),
    "data-dir-missing": ("--dataset", "mnist", "--data-dir", "{ws}/nowhere"),
    "data-dir-is-file": ("--dataset", "mnist", "--data-dir", "{ws}/files/notes.txt"),
    "data-dir-empty": ("--dataset", "mnist", "--data-dir", "{ws}/emptydir"),
    "data-cut-gzip": ("--dataset", "mnist", "--data-dir", "{ws}/mnist_cut"),
    "data-short-payload": ("--dataset", "mnist", "--data-dir", "{ws}/mnist_short"),
    "extra-argument": ("extra",),
    "flag-with-value": ("--json", "yes"),
})

# --- list
_case("list-unknown-registry", "list", "attackz")
_case("list-singular-name", "list", "method")
_case("list-two-registries", "list", "methods", "kinds")
_case("list-unknown-option", "list", "--verbose")

# --- train
TRAIN = BASES["train"]
ADV = ("--method", "adversarial", "--norm", "linf", "--eps", "0.1", "--steps", "1")
_case("train-missing-out", *TRAIN)
_many("train", (*TRAIN, "--out", "{out}"), {
    "unknown-dataset": ("--dataset", "imagenet"),
    "unknown-arch": ("--arch", "resnet9000"),
    "unknown-method": ("--method", "magic"),
    "unknown-optimizer": ("--optimizer", "rmsprop"),
    "unknown-norm": (*ADV, "--norm", "l3"),
    "unknown-objective": (*ADV, "--option", "attack.objective=hinge"),
    "unknown-attack": (*ADV, "--option", "attack.name=magic"),
    "epochs-zero": ("--epochs", "0"),
    "epochs-negative": ("--epochs", "-2"),
    "epochs-not-int": ("--epochs", "two"),
    "epochs-float": ("--epochs", "1.5"),
    "batch-size-zero": ("--batch-size", "0"),
    "limit-zero": ("--limit", "0"),
    "limit-negative": ("--limit", "-5"),
    "seed-negative": ("--seed", "-1"),
    **{f"lr-{k}": ("--lr", v) for k, v in NON_FINITE.items()},
    "lr-zero": ("--lr", "0"),
    "lr-negative": ("--lr", "-0.01"),
    "lr-text": ("--lr", "fast"),
    "lr-div-zero": ("--lr", "1/0"),
    **{f"eps-{k}": (*ADV, "--eps", v) for k, v in NON_FINITE.items()},
    "eps-negative": (*ADV, "--eps", "-0.1"),
    "step-size-nan": (*ADV, "--option", "attack.step_size=nan"),
    "step-size-negative": (*ADV, "--option", "attack.step_size=-0.01"),
    "step-size-1e39": (*ADV, "--option", "attack.step_size=1e39"),
    "steps-negative": (*ADV, "--steps", "-1"),
    "adv-fraction-above-one": (*ADV, "--option", "adversarial_fraction=2"),
    "adv-fraction-nan": (*ADV, "--option", "adversarial_fraction=nan"),
    "option-malformed": ("--option", "lambda_j"),
    "option-empty-key": ("--option", "=1"),
    "option-empty-part": ("--option", "attack..eps=1"),
    "option-unknown": ("--method", "jr", "--option", "bogus=1"),
    "option-ill-typed": ("--method", "jr", "--option", "exact_batchnorm=maybe"),
    "option-list-for-number": ("--method", "jr", "--option", "lambda_j=1,2"),
    "option-twice": ("--method", "jr", "--option", "lambda_j=1", "--option", "lambda_j=2"),
    "option-value-and-group": (*ADV, "--option", "attack=1", "--option", "attack.steps=2"),
    "option-attack-not-mapping": (*ADV, "--option", "attack=pgd"),
    "option-attack-unknown": (*ADV, "--option", "attack.bogus=1"),
    "option-bad-yaml": ("--method", "jr", "--option", "lambda_j=[1, 2"),
    "norm-for-jr": ("--method", "jr", "--norm", "linf", "--eps", "0.1"),
    "robust-eval-zero": (*ADV, "--robust-eval", "0"),
    "adversarial-without-eps": ("--method", "adversarial", "--norm", "l2"),
    "eps-without-adversarial": ("--eps", "0.1"),
    "classes-empty-item": ("--classes", "5,,7"),
    "classes-letters": ("--classes", "a,b"),
    "classes-out-of-range": ("--classes", "5,99"),
    "classes-duplicate": ("--classes", "5,5"),
    "bounds-reversed": ("--bounds", "1,0"),
    "bounds-one-number": ("--bounds", "1"),
    "bounds-nan": ("--bounds", "nan,1"),
    "bounds-inf": ("--bounds", "-inf,inf"),
    "config-missing": ("--config", "{ws}/nowhere.yaml"),
    "config-is-dir": ("--config", "{ws}/emptydir"),
    "config-syntax-error": ("--config", "{ws}/configs/syntax.yaml"),
    "config-unknown-keys": ("--config", "{ws}/configs/unknown_keys.yaml"),
    "config-wrong-types": ("--config", "{ws}/configs/wrong_types.yaml"),
    "config-not-mapping": ("--config", "{ws}/configs/not_mapping.yaml"),
    "config-binary": ("--config", "{ws}/configs/binary.yaml"),
    "config-empty": ("--config", "{ws}/configs/empty.yaml"),
    "data-dir-missing": ("--data-dir", "{ws}/nowhere"),
    "data-dir-is-file": ("--data-dir", "{ws}/files/notes.txt"),
    "data-dir-empty": ("--data-dir", "{ws}/emptydir"),
    "data-cut-gzip": ("--data-dir", "{ws}/mnist_cut"),
    "data-short-payload": ("--data-dir", "{ws}/mnist_short"),
    "ir-without-targets": ("--method", "ir"),
    "targets-missing": ("--method", "ir", "--option", "targets={ws}/nowhere"),
    "targets-nan": ("--method", "ir", "--option", "targets={ws}/targets_nan"),
    "targets-wrong-shape": ("--method", "ir", "--option", "targets={ws}/targets_shape"),
    "targets-text-file": ("--method", "ir", "--option", "targets={ws}/files/notes.txt"),
    "targets-other-data": ("--method", "ir", "--option", "targets={ws}/targets", "--limit", "8"),
    "targets-number": ("--method", "ir", "--option", "targets=5"),
    "lambda-d-nan": ("--method", "ir", "--option", "targets={ws}/targets", "--option", "lambda_d=nan"),
    "lambda-m-negative": ("--method", "ir", "--option", "targets={ws}/targets", "--option", "lambda_m=-1"),
    "lambda-d-without-ir": ("--option", "lambda_d=1"),
    "lambda-j-nan": ("--method", "jr", "--option", "lambda_j=nan"),
    "lambda-j-negative": ("--method", "jr", "--option", "lambda_j=-1"),
    "lambda-j-1e39": ("--method", "jr", "--option", "lambda_j=1e39"),
    "n-proj-zero": ("--method", "jr", "--option", "n_proj=0"),
    "n-proj-text": ("--method", "jr", "--option", "n_proj=many"),
    "jacobian-eval-negative": ("--jacobian-eval", "-1"),
    "snapshot-zero": ("--snapshot", "0"),
    "extra-argument": ("extra",),
})
_case("train-out-is-file", *TRAIN, "--out", "{ws}/files/notes.txt")
_case("train-out-other-run", *TRAIN, "--out", "{ws}/run", "--arch", "kim_mnist_cnn")
_case("train-out-unrelated-folder", *TRAIN, "--out", "{ws}/existing")

# --- export
_case("export-missing-model", "export", "--out", "{out}")
_case("export-missing-out", "export", "--model", "{ws}/run")
_many("export", ("export", "--out", "{out}"), {
    "model-missing": ("--model", "{ws}/nowhere"),
    "model-empty-dir": ("--model", "{ws}/emptydir"),
    "model-text-keras": ("--model", "{ws}/textmodel"),
    "model-truncated-keras": ("--model", "{ws}/truncated/model.keras"),
    "model-empty-keras": ("--model", "{ws}/files/empty.keras"),
    "model-text-file": ("--model", "{ws}/files/notes.txt"),
    "model-is-yaml": ("--model", "{ws}/run/config.yaml"),
    "extra-argument": ("--model", "{ws}/run", "extra"),
})
_case("export-out-unrelated-folder", "export", "--model", "{ws}/run", "--out", "{ws}/existing")
_case("export-out-is-file", "export", "--model", "{ws}/run", "--out", "{ws}/files/notes.txt")
_case("export-out-is-model-run", "export", "--model", "{ws}/run", "--out", "{ws}/run")
_case("export-out-is-data-dir", "export", "--model", "{ws}/run", "--out", "{ws}/mnist")

# --- attack
ATTACK = BASES["attack"]
_case("attack-missing-model", "attack", "--norm", "linf", "--eps", "0.1", "--out", "{csv}")
_case("attack-missing-norm", "attack", "--model", "{ws}/run", "--eps", "0.1", "--out", "{csv}")
_case("attack-missing-eps", "attack", "--model", "{ws}/run", "--norm", "linf", "--out", "{csv}")
_many("attack", (*ATTACK, "--out", "{csv}"), {
    "unknown-norm": ("--norm", "l3"),
    "unknown-objective": ("--objective", "hinge"),
    "unknown-split": ("--split", "val"),
    "unknown-dataset": ("--dataset", "imagenet"),
    "unknown-l2-step": ("--l2-step", "sideways"),
    "dataset-shape-mismatch": ("--dataset", "toy2d"),
    **{f"eps-{k}": ("--eps", v) for k, v in NON_FINITE.items()},
    "eps-negative": ("--eps", "-0.1"),
    "eps-text": ("--eps", "small"),
    "eps-empty-list": ("--eps", ",,"),
    "eps-unknown-norm-key": ("--eps", "l1=0.1"),
    "eps-div-zero": ("--eps", "1/0"),
    **{f"step-size-{k}": ("--step-size", v) for k, v in NON_FINITE.items() if k in ("nan", "inf", "1e39")},
    "step-size-negative": ("--step-size", "-0.01"),
    "steps-negative": ("--steps", "-1"),
    "restarts-zero": ("--restarts", "0"),
    "batch-size-zero": ("--batch-size", "0"),
    "limit-zero": ("--limit", "0"),
    "limit-negative": ("--limit", "-4"),
    "seed-negative": ("--seed", "-1"),
    "bounds-reversed": ("--bounds", "1,0"),
    "bounds-nan": ("--bounds", "nan,1"),
    "model-missing": ("--model", "{ws}/nowhere"),
    "model-text-keras": ("--model", "{ws}/textmodel"),
    "model-truncated-keras": ("--model", "{ws}/truncated"),
    "model-empty-keras": ("--model", "{ws}/files/empty.keras"),
    "data-dir-missing": ("--dataset", "mnist", "--data-dir", "{ws}/nowhere"),
    "data-short-payload": ("--data-dir", "{ws}/mnist_short"),
    "unknown-attack": ("--attack", "magic"),
    "option-malformed": ("--option", "momentum"),
    "option-empty-key": ("--option", "=0.5"),
    "option-unknown": ("--option", "bogus=1"),
    "option-ill-typed": ("--option", "random_start=maybe"),
    "option-unknown-update": ("--option", "update=sideways"),
    "option-twice": ("--option", "kappa=1", "--option", "kappa=2"),
    "option-and-shorthand": ("--option", "steps=2"),
    "option-for-other-attack": ("--attack", "fgsm", "--option", "momentum=0.9"),
})
# --out is a results directory: one holding an unrelated robust_accuracy.csv is refused
_case("attack-out-dir-holds-unrelated-table", *ATTACK, "--out", "{ws}/existing", expect="not a table written by")
_case("attack-out-unrelated-file", *ATTACK, "--out", "{ws}/files/notes.txt")
_case("attack-out-unrelated-csv", *ATTACK, "--out", "{ws}/existing/sub/data.csv")
_case("attack-out-parent-is-file", *ATTACK, "--out", "{ws}/files/notes.txt/robust.csv")

# --- roar
ROAR = BASES["roar"]
_case("roar-missing-model", "roar", "--method", "random", "--out", "{out}")
_case("roar-missing-method", "roar", "--model", "{ws}/run", "--out", "{out}")
_case("roar-missing-out", *ROAR)
_many("roar", (*ROAR, "--out", "{out}"), {
    "unknown-method": ("--method", "magic"),
    "method-duplicate": ("--method", "random,random"),
    "method-empty": ("--method", ","),
    "unknown-arch": ("--arch", "resnet9000"),
    "unknown-dataset": ("--dataset", "imagenet"),
    "fractions-above-one": ("--fractions", "0.5,1.5"),
    "fractions-negative": ("--fractions", "-0.1"),
    "fractions-nan": ("--fractions", "nan"),
    "fractions-inf": ("--fractions", "inf"),
    "fractions-malformed": ("--fractions", "0.5,,a"),
    "fractions-empty": ("--fractions", ""),
    "repeats-zero": ("--repeats", "0"),
    "epochs-zero": ("--epochs", "0"),
    "batch-size-zero": ("--batch-size", "0"),
    "group-size-zero": ("--group-size", "0"),
    "limit-zero": ("--limit", "0"),
    "test-limit-negative": ("--test-limit", "-3"),
    "seed-negative": ("--seed", "-1"),
    **{f"lr-{k}": ("--lr", v) for k, v in NON_FINITE.items()},
    "lr-zero": ("--lr", "0"),
    "lr-negative": ("--lr", "-1e-3"),
    "fill-nan": ("--fill", "nan"),
    "fill-inf": ("--fill", "inf"),
    "fill-text": ("--fill", "median"),
    "fill-outside-bounds": ("--fill", "7"),
    "bounds-reversed": ("--bounds", "1,0"),
    "bounds-nan": ("--bounds", "nan,1"),
    "model-missing": ("--model", "{ws}/nowhere"),
    "model-text-keras": ("--model", "{ws}/textmodel"),
    "model-truncated-keras": ("--model", "{ws}/truncated"),
    "model-is-yaml": ("--model", "{ws}/run/config.yaml"),
    "data-dir-empty": ("--dataset", "mnist", "--data-dir", "{ws}/emptydir"),
    "label-unknown": ("--label", "guessed"),
    "label-empty": ("--label", ""),
    "ties-unknown": ("--ties", "first"),
    "end-point-unknown": ("--end-point", "zero"),
    "end-point-number": ("--end-point", "0.1"),
    "option-malformed": ("--option", "seed"),
    "option-unknown": ("--option", "samples=3"),
    "option-ill-typed": ("--option", "seed=abc"),
    "option-group-not-chosen": ("--option", "smoothgrad.samples=3"),
    "option-group-unknown-key": ("--option", "random.samples=3"),
    "option-twice": ("--option", "seed=1", "--option", "seed=2"),
})
_case("roar-out-is-file", *ROAR, "--out", "{ws}/files/notes.txt")

# --- saliency
SALIENCY = BASES["saliency"]
_case("saliency-missing-model", "saliency", "--dataset", "mnist", "--method", "gradient", "--out", "{out}")
_case("saliency-missing-method", "saliency", "--model", "{ws}/run", "--dataset", "mnist", "--out", "{out}")
_case("saliency-missing-out", *SALIENCY)
SMOOTH = ("--method", "smoothgrad", "--option", "samples=2")
_many("saliency", (*SALIENCY, "--out", "{out}"), {
    "unknown-method": ("--method", "lime"),
    "unknown-dataset": ("--dataset", "imagenet"),
    "unknown-split": ("--split", "val"),
    "unknown-base": (*SMOOTH, "--option", "base=occlusion"),
    "threshold-nan": ("--threshold", "nan"),
    "threshold-inf": ("--threshold", "inf"),
    "threshold-negative": ("--threshold", "-1"),
    "permute-above-one": ("--permute", "1.5"),
    "permute-negative": ("--permute", "-0.1"),
    "permute-nan": ("--permute", "nan"),
    "samples-zero": ("--method", "smoothgrad", "--option", "samples=0"),
    "samples-float": ("--method", "smoothgrad", "--option", "samples=2.5"),
    "samples-without-smoothgrad": ("--option", "samples=3"),
    **{f"sigma-{k}": (*SMOOTH, "--option", f"sigma={v}") for k, v in NON_FINITE.items()},
    "sigma-negative": (*SMOOTH, "--option", "sigma=-0.1"),
    "clip-without-smoothgrad": ("--option", "clip=true"),
    "include-clean-without-smoothgrad": ("--option", "include_clean=true"),
    "include-clean-not-bool": (*SMOOTH, "--option", "include_clean=maybe"),
    "option-malformed": ("--option", "samples"),
    "option-empty-value-key": ("--option", "=3"),
    "option-unknown": (*SMOOTH, "--option", "bogus=1"),
    "option-group-not-chosen": ("--option", "smoothgrad.samples=2"),
    "option-group-unknown-key": (*SMOOTH, "--option", "smoothgrad.bogus=2"),
    "option-twice": (*SMOOTH, "--option", "samples=3"),
    "threshold-mode-unknown": ("--threshold", "1", "--threshold-mode", "lower"),
    "threshold-mode-without-threshold": ("--threshold-mode", "upper"),
    "batch-size-zero": ("--batch-size", "0"),
    "grid-negative": ("--grid", "-1"),
    "limit-zero": ("--limit", "0"),
    "limit-negative": ("--limit", "-3"),
    "seed-negative": ("--seed", "-1"),
    "classes-empty-item": ("--classes", "5,,7"),
    "classes-letters": ("--classes", "a,b"),
    "classes-duplicate": ("--classes", "5,5"),
    "bounds-reversed": ("--bounds", "1,0"),
    "bounds-nan": ("--bounds", "nan,1"),
    "model-missing": ("--model", "{ws}/nowhere"),
    "model-text-keras": ("--model", "{ws}/textmodel"),
    "model-truncated-keras": ("--model", "{ws}/truncated"),
    "dataset-shape-mismatch": ("--dataset", "toy2d"),
})
_case("saliency-out-is-file", *SALIENCY, "--out", "{ws}/files/notes.txt")

# --- theory tsipras
TSIPRAS = BASES["theory tsipras"]
_case("theory-tsipras-missing-out", *TSIPRAS)
_many("theory-tsipras", (*TSIPRAS, "--out", "{out}"), {
    "d-zero": ("--d", "0"),
    "d-negative": ("--d", "-3"),
    "d-text": ("--d", "many"),
    **{f"eta-{k}": ("--eta", v) for k, v in NON_FINITE.items()},
    "eta-zero": ("--eta", "0"),
    "eta-negative": ("--eta", "-1"),
    "p-half": ("--p", "0.5"),
    "p-one": ("--p", "1"),
    "p-nan": ("--p", "nan"),
    "p-above-one": ("--p", "2"),
    "p-text": ("--p", "likely"),
    **{f"eps-{k}": ("--eps", v) for k, v in NON_FINITE.items()},
    "eps-negative": ("--eps", "-0.1"),
    "n-train-zero": ("--n-train", "0"),
    "n-test-negative": ("--n-test", "-1"),
    "epochs-zero": ("--epochs", "0"),
    "batch-size-zero": ("--batch-size", "0"),
    "attack-steps-zero": ("--attack-steps", "0"),
    "seed-negative": ("--seed", "-1"),
})
_case("theory-tsipras-out-is-file", *TSIPRAS, "--out", "{ws}/files/notes.txt")

# --- theory linear
LINEAR = BASES["theory linear"]
_case("theory-linear-missing-out", *LINEAR)
_many("theory-linear", (*LINEAR, "--out", "{out}"), {
    "unknown-dataset": ("--dataset", "toy2d"),
    "unknown-attack": ("--attack", "fgsm"),
    "classes-empty-item": ("--classes", "5,,7"),
    "classes-letters": ("--classes", "a,b"),
    "classes-duplicate": ("--classes", "5,5"),
    "classes-one": ("--classes", "5"),
    "classes-out-of-range": ("--classes", "5,99"),
    "classes-negative": ("--classes", "-1,5"),
    **{f"eps-train-{k}": ("--eps-train", v) for k, v in NON_FINITE.items()},
    "eps-train-negative": ("--eps-train", "-0.1"),
    "eps-train-letters": ("--eps-train", "a,b"),
    "eps-test-inf": ("--eps-test", "inf"),
    "eps-test-1e39": ("--eps-test", "1e39"),
    "eps-test-empty": ("--eps-test", ""),
    "top-k-zero": ("--top-k", "0"),
    "top-k-letters": ("--top-k", "a"),
    "sizes-negative": ("--sizes", "-5"),
    "sizes-empty": ("--sizes", ","),
    "epochs-zero": ("--epochs", "0"),
    "batch-size-zero": ("--batch-size", "0"),
    "limit-negative": ("--limit", "-1"),
    "seed-negative": ("--seed", "-1"),
    **{f"lr-{k}": ("--lr", v) for k, v in NON_FINITE.items()},
    "lr-zero": ("--lr", "0"),
    "lr-negative": ("--lr", "-0.01"),
    "data-dir-missing": ("--data-dir", "{ws}/nowhere"),
    "data-dir-is-file": ("--data-dir", "{ws}/files/notes.txt"),
    "data-cut-gzip": ("--data-dir", "{ws}/mnist_cut"),
    "data-short-payload": ("--data-dir", "{ws}/mnist_short"),
})
_case("theory-linear-out-is-file", *LINEAR, "--out", "{ws}/files/notes.txt")

# --- theory toy
TOY = BASES["theory toy"]
_case("theory-toy-missing-out", *TOY)
_many("theory-toy", (*TOY, "--out", "{out}"), {
    **{f"eps-{k}": ("--eps", v) for k, v in NON_FINITE.items()},
    "eps-negative": ("--eps", "-0.5"),
    "eps-empty-item": ("--eps", "0,,0.5"),
    "eps-letters": ("--eps", "a"),
    "eps-duplicate": ("--eps", "0,0"),
    **{f"attack-eps-{k}": ("--attack-eps", v) for k, v in NON_FINITE.items()},
    "attack-eps-negative": ("--attack-eps", "-1"),
    "epochs-zero": ("--epochs", "0"),
    "n-zero": ("--n", "0"),
    "n-text": ("--n", "ten"),
    "steps-zero": ("--steps", "0"),
    "seed-negative": ("--seed", "-1"),
    "geometry-unknown": ("--geometry", "round"),
    **{f"step-size-{k}": ("--step-size", v) for k, v in NON_FINITE.items()},
    "step-size-zero": ("--step-size", "0"),
    "step-size-negative": ("--step-size", "-2"),
    "step-size-text": ("--step-size", "big"),
    "random-start-value": ("--random-start", "yes"),
})
_case("theory-toy-out-is-file", *TOY, "--out", "{ws}/files/notes.txt")

# --- manifold train (no base run: each case names the fragment its error must contain)
MTRAIN = ("manifold", "train", "--dataset", "mnist", "--data-dir", "{ws}/mnist", "--limit", "20", "--epochs", "1",
          "--batch-size", "10", "--quiet")
_case("manifold-train-missing-out", *MTRAIN, expect="--out")
_many("manifold-train", (*MTRAIN, "--out", "{out}"), {
    "unknown-dataset": ("--dataset", "imagenet"),
    "dataset-not-images": ("--dataset", "toy2d"),
    "dataset-tsipras": ("--dataset", "tsipras"),
    "epochs-zero": ("--epochs", "0"),
    "epochs-text": ("--epochs", "one"),
    "limit-zero": ("--limit", "0"),
    "batch-size-zero": ("--batch-size", "0"),
    "seed-negative": ("--seed", "-1"),
    "bounds-reversed": ("--bounds", "1,0"),
    "bounds-nan": ("--bounds", "nan,1"),
    "bounds-text": ("--bounds", "a,b"),
    "config-missing": ("--config", "{ws}/nowhere.yaml"),
    "config-is-dir": ("--config", "{ws}/emptydir"),
    "config-syntax-error": ("--config", "{ws}/configs/syntax.yaml"),
    "config-empty": ("--config", "{ws}/configs/empty.yaml"),
    "config-unknown-keys": ("--config", "{ws}/configs/unknown_keys.yaml"),
    "config-wrong-types": ("--config", "{ws}/configs/wrong_types.yaml"),
    "config-not-mapping": ("--config", "{ws}/configs/not_mapping.yaml"),
    "data-dir-missing": ("--data-dir", "{ws}/nowhere"),
    "data-dir-empty": ("--data-dir", "{ws}/emptydir"),
    "data-short-payload": ("--data-dir", "{ws}/mnist_short"),
}, expect={"dataset-not-images": "28x28", "dataset-tsipras": "28x28",
           "bounds-reversed": "bounds", "bounds-nan": "bounds", "bounds-text": "bounds",
           "config-missing": "nowhere.yaml", "config-syntax-error": "syntax.yaml", "config-empty": "empty.yaml",
           "config-unknown-keys": "bogus_key", "config-wrong-types": "epochs",
           "config-not-mapping": "not_mapping.yaml", "data-dir-missing": "nowhere", "data-dir-empty": "emptydir",
           "data-short-payload": "mnist_short"})
_case("manifold-train-out-is-file", *MTRAIN, "--out", "{ws}/files/notes.txt", expect="--out")
_case("manifold-train-out-is-classifier-run", *MTRAIN, "--out", "{ws}/run", expect="VAE-GAN")
_case("manifold-train-out-unrelated-folder", *MTRAIN, "--out", "{ws}/existing", expect="existing")

# --- manifold distance (the "VAE-GAN" of the base is a classifier: every check must come before it is loaded)
DISTANCE = ("manifold", "distance", "--vaegan", "{ws}/run/model.keras", "--model", "{ws}/run", "--data-dir",
            "{ws}/mnist", "--steps", "1", "--limit", "4", "--examples", "0", "--batch-size", "4")
_case("manifold-distance-missing-vaegan", "manifold", "distance", "--model", "{ws}/run", "--out", "{out}",
      expect="--vaegan")
_case("manifold-distance-missing-model", "manifold", "distance", "--vaegan", "{ws}/run/model.keras", "--out",
      "{out}", expect="--model")
_case("manifold-distance-missing-out", *DISTANCE, expect="--out")
_case("manifold-distance-vaegan-is-classifier", *DISTANCE, "--out", "{out}", expect="not a VAE-GAN")
_many("manifold-distance", (*DISTANCE, "--out", "{out}"), {
    **{f"eps-{k}": ("--eps", v) for k, v in NON_FINITE.items()},
    "eps-negative": ("--eps", "-1"),
    "eps-text": ("--eps", "twelve"),
    "steps-negative": ("--steps", "-1"),
    "optimize-steps-negative": ("--optimize-steps", "-1"),
    "batch-size-zero": ("--batch-size", "0"),
    "examples-negative": ("--examples", "-1"),
    "seed-negative": ("--seed", "-1"),
    "limit-zero": ("--limit", "0"),
    "unknown-objective": ("--objective", "hinge"),
    "unknown-dataset": ("--dataset", "imagenet"),
    "model-empty-list": ("--model", ","),
    "model-twice": ("--model", "{ws}/run,{ws}/run"),
    "model-missing": ("--model", "{ws}/nowhere"),
    "model-empty-dir": ("--model", "{ws}/emptydir"),
    "vaegan-missing": ("--vaegan", "{ws}/nowhere"),
    "vaegan-dir-without-model": ("--vaegan", "{ws}/emptydir"),
    "vaegan-text-keras": ("--vaegan", "{ws}/textmodel/model.keras", "--bounds", "0,1"),
    "vaegan-truncated-keras": ("--vaegan", "{ws}/truncated/model.keras"),
    "bounds-reversed": ("--bounds", "1,0"),
    "bounds-mismatch": ("--bounds", "-1,1"),
    "data-dir-missing": ("--data-dir", "{ws}/nowhere"),
    "data-dir-is-file": ("--data-dir", "{ws}/files/notes.txt"),
    "data-short-payload": ("--data-dir", "{ws}/mnist_short"),
    **{f"step-size-{k}": ("--option", f"step_size={v}") for k, v in NON_FINITE.items()},
    "step-size-negative": ("--option", "step_size=-2"),
    "step-size-text": ("--option", "step_size=two"),
    "step-size-beyond-diameter": ("--steps", "2", "--eps", "1", "--option", "step_size=3"),
    "step-size-flag-removed": ("--step-size", "2"),
    **{f"kappa-{k}": ("--objective", "cw", "--option", f"kappa={v}") for k, v in NON_FINITE.items()},
    "kappa-negative": ("--objective", "cw", "--option", "kappa=-1"),
    "kappa-text": ("--objective", "cw", "--option", "kappa=high"),
    "unknown-projection": ("--projection", "median"),
    "projection-sample-and-optimize": ("--projection", "sample", "--optimize-steps", "5"),
    "random-start-value": ("--option", "random_start=maybe"),
    "unknown-attack": ("--attack", "deepfool"),
    "attack-without-the-option": ("--attack", "fgsm"),   # the base's --steps 1 is PGD's
    "unknown-norm": ("--norm", "l3"),
    "option-unknown": ("--option", "radius=1"),
    "option-without-value": ("--option", "steps"),
    "option-and-shorthand": ("--option", "steps=3"),
}, expect={"model-missing": "nowhere", "model-empty-dir": "emptydir", "vaegan-missing": "nowhere",
           "vaegan-dir-without-model": "emptydir", "vaegan-text-keras": "textmodel",
           "vaegan-truncated-keras": "truncated", "bounds-reversed": "bounds", "bounds-mismatch": "bounds",
           "data-dir-missing": "nowhere", "data-short-payload": "mnist_short",
           "projection-sample-and-optimize": "--projection", "random-start-value": "maybe",
           "attack-without-the-option": "no option 'steps'", "option-unknown": "radius",
           "option-and-shorthand": "given twice"})
_case("manifold-distance-out-is-file", *DISTANCE, "--out", "{ws}/files/notes.txt", expect="--out")

# --- study run / status / report
_case("study-run-missing-config", "study", "run", "--out", "{out}")
_case("study-run-missing-out", "study", "run", "{ws}/studies/tiny.yaml")
_many("study-run", ("study", "run", "--out", "{out}", "--quiet", "--no-report"), {
    "config-missing": ("{ws}/nowhere.yaml",),
    "config-is-dir": ("{ws}/emptydir",),
    **{f"config-{name[:-5].replace('_', '-')}": (f"{{ws}}/studies/{name}",)
       for name in STUDY_FILES if name != "tiny.yaml"},
    "unknown-preset": ("{ws}/studies/tiny.yaml", "--preset", "paperz"),
    "shard-out-of-range": ("{ws}/studies/tiny.yaml", "--shard", "2/2"),
    "shard-letters": ("{ws}/studies/tiny.yaml", "--shard", "a/b"),
    "shard-zero-count": ("{ws}/studies/tiny.yaml", "--shard", "1/0"),
    "shard-negative": ("{ws}/studies/tiny.yaml", "--shard", "-1/2"),
    "two-configs": ("{ws}/studies/tiny.yaml", "{ws}/studies/tiny.yaml"),
})
_case("study-check-missing-config", "study", "check")
_many("study-check", ("study", "check"), {
    "config-missing": ("{ws}/nowhere.yaml",),
    "config-is-dir": ("{ws}/emptydir",),
    **{f"config-{name[:-5].replace('_', '-')}": (f"{{ws}}/studies/{name}",)
       for name in STUDY_FILES if name != "tiny.yaml"},
    "unknown-preset": ("{ws}/studies/tiny.yaml", "--preset", "paperz"),
    "unknown-option": ("{ws}/studies/tiny.yaml", "--out", "{ws}/out"),
    "two-configs": ("{ws}/studies/tiny.yaml", "{ws}/studies/tiny.yaml"),
})
_case("study-run-out-is-file", "study", "run", "{ws}/studies/tiny.yaml", "--out", "{ws}/files/notes.txt")
_case("study-run-out-corrupt-ledger", "study", "run", "{ws}/studies/tiny.yaml", "--out", "{ws}/fakestudy",
      "--quiet", "--no-report")
_case("study-run-out-foreign-sqlite", "study", "run", "{ws}/studies/tiny.yaml", "--out", "{ws}/schemastudy",
      "--quiet", "--no-report")
for _sub in ("status", "report"):
    _case(f"study-{_sub}-missing-dir", "study", _sub)
    _many(f"study-{_sub}", ("study", _sub), {
        "dir-missing": ("{ws}/nowhere",),
        "dir-is-file": ("{ws}/files/notes.txt",),
        "empty-dir": ("{ws}/emptydir",),
        "text-ledger": ("{ws}/fakestudy",),
        "foreign-sqlite": ("{ws}/schemastudy",),
        "classifier-run": ("{ws}/run",),
        "extra-argument": ("{ws}/fakestudy", "extra"),
    })

# --- an --out below a file, for every command that writes a results directory
for _name, _base in (("train", TRAIN), ("roar", ROAR), ("saliency", SALIENCY), ("theory-tsipras", TSIPRAS),
                     ("theory-linear", LINEAR), ("theory-toy", TOY), ("manifold-distance", DISTANCE)):
    _case(f"{_name}-out-under-file", *_base, "--out", "{ws}/files/notes.txt/sub",
          expect="notes.txt" if _name.startswith("manifold") else None)
_case("export-out-under-file", "export", "--model", "{ws}/run", "--out", "{ws}/files/notes.txt/sub")
_case("study-run-out-under-file", *BASES["study run"], "--out", "{ws}/files/notes.txt/sub")
_case("study-run-out-unrelated-folder", *BASES["study run"], "--out", "{ws}/existing")

CASES: tuple[Case, ...] = tuple(_CASES)

#: The base invocations not already run to build the workspace (``test_fuzz`` stubs their expensive
#: work: they must get through every check up to it).
CONTROLS: tuple[Case, ...] = (
    Case("control-attack", (*BASES["attack"], "--out", "{csv}")),
    Case("control-attack-out-dir", (*BASES["attack"], "--out", "{out}")),
    Case("control-roar", (*BASES["roar"], "--out", "{out}")),
    Case("control-theory-tsipras", (*BASES["theory tsipras"], "--out", "{out}")),
    Case("control-theory-linear", (*BASES["theory linear"], "--out", "{out}")),
    Case("control-theory-toy", (*BASES["theory toy"], "--out", "{out}")),
    Case("control-study-run", (*BASES["study run"], "--out", "{out}")),
    Case("control-study-check", ("study", "check", "{ws}/studies/tiny.yaml")),
    Case("control-data-info", ("data", "info", "--dataset", "mnist", "--data-dir", "{ws}/mnist")),
)
