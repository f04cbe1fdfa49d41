"""Tsipras et al. 2019, sections 2.1-2.2: the robustness / accuracy trade-off on eq. 3.

The distribution D of eq. 3 (labels stored as 0 / 1 by the data layer, read
here as y = -1 / +1)::

    y ~ uniform{-1, +1},   x_1 = +y w.p. p, -y w.p. 1 - p,
    x_2, ..., x_{d+1} ~ N(eta * y, 1) i.i.d.

x_1 is the *robust* feature (an l_inf adversary with eps < 1 cannot flip its
sign); x_2 .. x_{d+1} are the *non-robust* features (an adversary with
eps >= 2 eta turns N(eta y, 1) into N(-eta y, 1)).

Closed forms (Phi is the standard normal CDF):

* robust feature alone, sign(x_1): accuracy p (sec. 2.1), also against any
  l_inf adversary with eps < 1 (Theorem 2.2, second part);
* averaged classifier of eq. 4, sign(sum_{i>=2} x_i / d):
  Pr[N(eta, 1/d) > 0] = Phi(eta sqrt(d)) (> 99% for eta >= 3/sqrt(d)); against
  l_inf eps it is Phi((eta - eps) sqrt(d)), i.e. Phi(-eta sqrt(d)) at
  eps = 2 eta (the paper prints N(eta, 1) for N(eta, 1/d) there);
* any linear classifier sign(w.x + b): :func:`linear_accuracy`;
* Theorem 2.1: standard accuracy >= 1 - delta implies l_inf adversarial
  accuracy <= p / (1 - p) * delta at eps >= 2 eta (7/3 delta at p = 0.7):
  :func:`no_free_lunch_bound`.

:func:`linear_tsipras_experiment` trains a standard and an adversarially
trained linear classifier on samples (Theorem 2.2 with the logistic loss);
:func:`check_theorem_bound` measures Theorem 2.1 on a grid of linear
classifiers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from tfrobust.config import check_int
from tfrobust.data.synthetic import TSIPRAS_D, TSIPRAS_P

__all__ = [
    "TSIPRAS_EXPERIMENT_N",
    "averaged_classifier_accuracy",
    "bayes_accuracy",
    "check_theorem_bound",
    "linear_accuracy",
    "linear_adversarial_example",
    "linear_robust_correct",
    "linear_tsipras_experiment",
    "no_free_lunch_bound",
    "robust_feature_accuracy",
    "theorem_2_2_eta",
    "validate_tsipras_setting",
]

_NORMAL = NormalDist()

#: Default train and test size of the experiment: sec. 2 reasons about the
#: distribution (infinite data); 10,000 samples per split pin accuracies down
#: to about +/-0.5% (one standard error at 70%) and train in seconds on a CPU.
TSIPRAS_EXPERIMENT_N = 10_000


def _phi(z: float) -> float:
    if z == math.inf:
        return 1.0
    if z == -math.inf:
        return 0.0
    return _NORMAL.cdf(z)


#: The largest float32: the data and the models are float32, so larger parameters overflow.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_real(name: str, value: object, *, float32: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if float32 and abs(float(value)) > FLOAT32_MAX:
        raise ValueError(f"{name}: {float(value):g} overflows float32 (the data are float32), at most {FLOAT32_MAX:.4g}")
    return float(value)


def validate_tsipras_setting(
    *, d: int, eta: float | None, p: float, eps: float | None = None
) -> tuple[int, float, float, float]:
    """Checks the theory's parameters and fills the defaults.

    The theory needs 0.5 < p < 1 (sec. 2.1: "any fixed value in (0.5, 1)"),
    eta > 0 and eps >= 0; the data layer alone also accepts the degenerate
    values. eta and eps (also the default 2 eta) must fit in float32, the type
    of the data and the models.

    Args:
        d: number of non-robust features, >= 1.
        eta: their mean shift, > 0; None means :func:`theorem_2_2_eta` (4 / sqrt(d)).
        p: probability that x_1 agrees with y, in (0.5, 1).
        eps: l_inf radius, >= 0; None means 2 * eta (Theorem 2.1).

    Returns:
        ``(d, eta, p, eps)`` as int and floats.

    Raises:
        ValueError: a value out of range; the message names it.
    """
    d = check_int(d, name="d", minimum=1)
    eta = theorem_2_2_eta(d) if eta is None else _check_real("eta", eta, float32=True)
    if eta <= 0:
        raise ValueError(f"eta: expected a number > 0, got {eta!r}")
    p = _check_real("p", p)
    if not 0.5 < p < 1.0:
        raise ValueError(f"p: expected a probability in (0.5, 1), got {p!r}")
    eps = _check_real("eps", 2.0 * eta if eps is None else eps, float32=True)  # default: 2 eta
    if eps < 0:
        raise ValueError(f"eps: expected a number >= 0, got {eps!r}")
    return d, eta, p, eps


# --------------------------------------------------------------------------
# Closed forms.


def theorem_2_2_eta(d: int) -> float:
    """eta = 4 / sqrt(d), the regime of Theorem 2.2 ("For eta >= 4/sqrt(d) ...").

    Ref: Tsipras et al. 2019, Theorem 2.2 and appendix C (z = sum x_i / sqrt(d)
    ~ N(4 y, 1)). Sec. 2.1's eta = 3 / sqrt(d) suffices for the averaged
    classifier (Phi(3) = 99.87%); a classifier *trained* on finite samples
    carries estimation noise in its d weights, and 4 / sqrt(d) keeps it above
    99% standard accuracy.
    """
    return 4.0 / math.sqrt(check_int(d, name="d", minimum=1))


def robust_feature_accuracy(p: float, *, eps: float = 0.0) -> float:
    """Accuracy of sign(x_1) on D, standard or against l_inf radius ``eps``.

    Ref: Tsipras et al. 2019, eq. 3 (x_1 = y w.p. p) and Theorem 2.2 ("standard
    and adversarial accuracy of 70% against any eps < 1"). At eps >= 1 the
    adversary sets x_1 to 0 or beyond, which counts as an error.

    Args:
        p: Pr[x_1 = y], in [0, 1].
        eps: l_inf radius, >= 0.

    Returns:
        p for eps < 1, else 0.
    """
    p = _check_real("p", p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
    eps = _check_real("eps", eps)
    if eps < 0:
        raise ValueError(f"eps: expected a number >= 0, got {eps!r}")
    return p if eps < 1.0 else 0.0


def averaged_classifier_accuracy(d: int, eta: float, *, eps: float = 0.0) -> float:
    """Accuracy of f_avg(x) = sign(w_unif.x), w_unif = [0, 1/d, ..., 1/d] (eq. 4).

    Ref: Tsipras et al. 2019, sec. 2.1::

        Pr[f_avg(x) = y] = Pr[(y/d) sum_i N(eta y, 1) > 0] = Pr[N(eta, 1/d) > 0]
                         = Phi(eta sqrt(d))

    and, against the l_inf adversary that shifts every x_i by -eps y,
    Pr[N(eta - eps, 1/d) > 0] = Phi((eta - eps) sqrt(d)); at eps = 2 eta this is
    Phi(-eta sqrt(d)) (< 1% for eta >= 3/sqrt(d)).

    Args:
        d: number of non-robust features, >= 1.
        eta: their mean shift.
        eps: l_inf radius, >= 0 (0: standard accuracy).

    Returns:
        The accuracy in [0, 1].
    """
    d = check_int(d, name="d", minimum=1)
    eta = _check_real("eta", eta)
    eps = _check_real("eps", eps)
    if eps < 0:
        raise ValueError(f"eps: expected a number >= 0, got {eps!r}")
    return _phi((eta - eps) * math.sqrt(d))


def bayes_accuracy(d: int, eta: float, p: float) -> float:
    """Accuracy of the Bayes-optimal classifier of D (a linear one).

    The log-likelihood ratio of eq. 3 is ``log(p / (1 - p)) x_1 + 2 eta sum_{i>=2} x_i``,
    so with z = sum_{i>=2} x_i / sqrt(d) ~ N(eta sqrt(d) y, 1) and
    c = log(p / (1 - p)) / (2 eta sqrt(d))::

        accuracy = p Phi(eta sqrt(d) + c) + (1 - p) Phi(eta sqrt(d) - c).

    Args:
        d: number of non-robust features, >= 1.
        eta: their mean shift, > 0.
        p: Pr[x_1 = y], in (0.5, 1).

    Returns:
        The Bayes accuracy in [0, 1] (an upper bound for every classifier).
    """
    d, eta, p, _ = validate_tsipras_setting(d=d, eta=eta, p=p)
    w = np.full(d + 1, 2.0 * eta)
    w[0] = math.log(p / (1.0 - p))
    return linear_accuracy(w, 0.0, eta=eta, p=p)


def no_free_lunch_bound(delta: float, *, p: float = TSIPRAS_P) -> float:
    """Theorem 2.1's upper bound on l_inf adversarial accuracy at eps >= 2 eta.

    Ref: Tsipras et al. 2019, Theorem 2.1: "Any classifier that attains at
    least 1 - delta standard accuracy on D has adversarial accuracy at most
    7/3 delta against an l_inf adversary with eps >= 2 eta" (p = 0.7).
    Appendix B's proof for a general p: with a = 1 - p_{++} + p_{--} >= 0 and
    b = 1 - p_{-+} + p_{+-} >= 0::

        standard accuracy    = 1 - (p a + (1 - p) b) / 2 >= 1 - delta
        adversarial accuracy = ((1 - p) a + p b) / 2
                             <= p / (1 - p) * (p a + (1 - p) b) / 2 <= p / (1 - p) * delta,

    using (1 - p) <= p^2 / (1 - p) for p >= 1/2 (the paper's 0.3 <= 0.3 * 49/9).
    The bound is tight at delta = 1 - p (the classifier sign(x_1)); it holds for
    every classifier, including non-linear ones, and exceeds 1 (vacuous) for
    delta > (1 - p) / p.

    Args:
        delta: 1 - standard accuracy, in [0, 1].
        p: Pr[x_1 = y], in (0.5, 1).

    Returns:
        p / (1 - p) * delta (not clipped to 1, exactly as stated).
    """
    delta = _check_real("delta", delta)
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta: expected a number in [0, 1], got {delta!r}")
    p = _check_real("p", p)
    if not 0.5 < p < 1.0:
        raise ValueError(f"p: expected a probability in (0.5, 1), got {p!r}")
    return p / (1.0 - p) * delta


def linear_accuracy(w: Any, b: float = 0.0, *, eta: float, p: float, eps: float = 0.0) -> float:
    """Exact accuracy on D of the linear classifier sign(w.x + b), standard or l_inf robust.

    For y(w.x + b) with s = y x_1 (= +1 w.p. p), S = sum_{i>=2} w_i and
    Q = sum_{i>=2} w_i^2: y(w.x + b) = w_1 s + eta S + y b + sqrt(Q) Z, Z ~ N(0, 1).
    The worst l_inf perturbation of radius eps lowers it by eps ||w||_1
    (x' = x - eps sign(w) y, :func:`linear_adversarial_example`). Hence::

        accuracy = 1/2 sum_{y = +-1} [p Phi(m(+1, y)) + (1 - p) Phi(m(-1, y))],
        m(s, y) = (w_1 s + eta S + y b - eps ||w||_1) / sqrt(Q).

    Ties (score exactly 0) count as errors.

    Args:
        w: (d + 1,) weights; w[0] multiplies the robust feature x_1.
        b: bias.
        eta: mean shift of x_2 .. x_{d+1}.
        p: Pr[x_1 = y], in [0, 1].
        eps: l_inf radius, >= 0 (0: standard accuracy).

    Returns:
        The population accuracy in [0, 1].
    """
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.size < 2:
        raise ValueError(f"w: expected d + 1 >= 2 weights, got shape {w.shape}")
    eta, b, eps, p = (_check_real(n, v) for n, v in (("eta", eta), ("b", b), ("eps", eps), ("p", p)))
    if eps < 0:
        raise ValueError(f"eps: expected a number >= 0, got {eps!r}")
    shift = eta * float(w[1:].sum()) - eps * float(np.abs(w).sum())
    scale = math.sqrt(float(np.square(w[1:]).sum()))
    total = 0.0
    for y in (-1.0, 1.0):
        for s, weight in ((1.0, p), (-1.0, 1.0 - p)):
            mean = float(w[0]) * s + shift + y * b
            if scale > 0:
                total += weight * _phi(mean / scale)
            else:
                total += weight * float(mean > 0)
    return total / 2.0


def _signed(y: Any) -> np.ndarray:
    """Labels 0 / 1 (data layer) as -1.0 / +1.0."""
    return 2.0 * np.asarray(y, dtype=np.float64).reshape(-1) - 1.0


def linear_adversarial_example(x: Any, y: Any, w: Any, *, eps: float) -> np.ndarray:
    """The worst l_inf perturbation of a linear classifier: x' = x - eps sign(w) y.

    Minimises y(w.x' + b) over ||x' - x||_inf <= eps (the minimum is
    y(w.x + b) - eps ||w||_1); PGD-linf on a linear model converges to it.

    Args:
        x: (N, d + 1) inputs.
        y: (N,) labels in {0, 1} (0 means y = -1).
        w: (d + 1,) weights of sign(w.x + b).
        eps: l_inf radius, >= 0.

    Returns:
        (N, d + 1) float32 adversarial inputs.
    """
    x = np.asarray(x, dtype=np.float32)
    step = np.float32(eps) * np.sign(np.asarray(w, dtype=np.float32))[None, :]
    return x - step * _signed(y).astype(np.float32)[:, None]


def linear_robust_correct(x: Any, y: Any, w: Any, b: float = 0.0, *, eps: float = 0.0) -> np.ndarray:
    """Per example: is sign(w.x' + b) = y for every ||x' - x||_inf <= eps? (closed form)

    Args:
        x: (N, d + 1) inputs.
        y: (N,) labels in {0, 1}.
        w: (d + 1,) weights; b: bias.
        eps: l_inf radius, >= 0 (0: plain correctness).

    Returns:
        (N,) bool: y (w.x + b) - eps ||w||_1 > 0.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    margin = _signed(y) * (x @ w + float(b))
    return margin - float(eps) * float(np.abs(w).sum()) > 0


# --------------------------------------------------------------------------
# Theorem 2.1 on a grid of linear classifiers.

_ALPHAS = tuple(float(a) for a in np.linspace(0.0, 1.0, 11))
_BIASES = (-1.0, -0.5, 0.0, 0.5, 1.0)


def check_theorem_bound(
    *,
    d: int = TSIPRAS_D,
    eta: float | None = None,
    p: float = TSIPRAS_P,
    eps: float | None = None,
    n: int = TSIPRAS_EXPERIMENT_N,
    seed: int = 0,
    alphas: Sequence[float] = _ALPHAS,
    biases: Sequence[float] = _BIASES,
    sigmas: float = 4.0,
) -> list[dict[str, Any]]:
    """Measures Theorem 2.1 on linear classifiers from robust-only to averaged.

    Classifier (alpha, b): sign((1 - alpha) x_1 + alpha z + b) with
    z = sum_{i>=2} x_i / sqrt(d), i.e. w = [1 - alpha, alpha / sqrt(d), ...];
    alpha = 0 is sign(x_1) (70% / 70% at p = 0.7), alpha = 1 the averaged
    classifier of eq. 4. For each one the standard and worst-case l_inf
    accuracy at ``eps`` are measured on ``n`` test samples of eq. 3 (closed-form
    worst case, :func:`linear_robust_correct`) and computed exactly
    (:func:`linear_accuracy`), and compared with
    :func:`no_free_lunch_bound` of the matching delta.

    Args:
        d, eta, p: the distribution (eta None: 4 / sqrt(d)).
        eps: l_inf radius, >= 2 eta (the theorem's range); None: 2 eta.
        n: test samples.
        seed: data seed (the test split of ``load_dataset("tsipras", seed=seed)``).
        alphas: weights on the non-robust meta-feature, each in [0, 1].
        biases: thresholds b.
        sigmas: sampling tolerance in standard errors: the sampled check is
            adversarial <= bound + sigmas * (SE(adversarial) + p/(1-p) SE(standard)).

    Returns:
        One dict per (alpha, b): alpha, bias, robust_weight, nonrobust_weight,
        d, eta, p, eps, n, standard_accuracy, adversarial_accuracy,
        theorem_bound, tolerance, holds (sampled, within tolerance),
        population_standard_accuracy, population_adversarial_accuracy,
        population_theorem_bound, population_holds (exact).

    Raises:
        ValueError: a parameter out of range, or eps < 2 eta.
    """
    d, eta, p, eps = validate_tsipras_setting(d=d, eta=eta, p=p, eps=eps)
    if eps < 2.0 * eta * (1 - 1e-12):
        raise ValueError(f"eps: Theorem 2.1 needs eps >= 2 * eta = {2 * eta:.6g}, got {eps:.6g}")
    n = check_int(n, name="n", minimum=1)
    sigmas = _check_real("sigmas", sigmas)
    x, y = _tsipras_split("test", d=d, eta=eta, p=p, n=n, seed=seed)
    # Every grid classifier reads x only through (x_1, z): reduce once.
    reduced = np.stack([x[:, 0].astype(np.float64), x[:, 1:].astype(np.float64).sum(axis=1) / math.sqrt(d)], axis=1)
    ratio = p / (1.0 - p)
    rows = []
    for alpha in alphas:
        alpha = _check_real("alphas", alpha)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alphas: expected values in [0, 1], got {alpha!r}")
        w = np.full(d + 1, alpha / math.sqrt(d))
        w[0] = 1.0 - alpha
        for bias in biases:
            bias = _check_real("biases", bias)
            margin = _signed(y) * (reduced @ np.array([1.0 - alpha, alpha]) + bias)
            std = float(np.mean(margin > 0))
            adv = float(np.mean(margin - eps * float(np.abs(w).sum()) > 0))  # = linear_robust_correct
            bound = no_free_lunch_bound(1.0 - std, p=p)
            tol = sigmas * (math.sqrt(adv * (1 - adv) / n) + ratio * math.sqrt(std * (1 - std) / n)) + 1.0 / n
            pop_std = linear_accuracy(w, bias, eta=eta, p=p)
            pop_adv = linear_accuracy(w, bias, eta=eta, p=p, eps=eps)
            pop_bound = no_free_lunch_bound(min(max(1.0 - pop_std, 0.0), 1.0), p=p)
            rows.append({
                "alpha": alpha, "bias": bias, "robust_weight": float(w[0]), "nonrobust_weight": float(w[1]),
                "d": d, "eta": eta, "p": p, "eps": eps, "n": n,
                "standard_accuracy": std, "adversarial_accuracy": adv, "theorem_bound": bound,
                "tolerance": tol, "holds": adv <= bound + tol,
                "population_standard_accuracy": pop_std, "population_adversarial_accuracy": pop_adv,
                "population_theorem_bound": pop_bound, "population_holds": pop_adv <= pop_bound + 1e-12,
            })
    return rows


# --------------------------------------------------------------------------
# Training a linear classifier, standard and adversarial (Theorem 2.2).


def _tsipras_split(split: str, *, d: int, eta: float, p: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from tfrobust.data import load_dataset

    ds = load_dataset("tsipras", split, seed=seed, d=d, eta=eta, p=p, n=n)
    return np.asarray(ds.x, dtype=np.float32), np.asarray(ds.y, dtype=np.int32)


def _weights(base: Any) -> tuple[np.ndarray, float]:
    """(w, b) of the two-logit linear model: w = W[:, 1] - W[:, 0] (see models.linear)."""
    kernel, bias = (np.asarray(v, dtype=np.float64) for v in base.get_layer("logits").get_weights())
    return kernel[:, 1] - kernel[:, 0], float(bias[1] - bias[0])


def linear_tsipras_experiment(
    *,
    d: int = TSIPRAS_D,
    eta: float | None = None,
    p: float = TSIPRAS_P,
    eps: float | None = None,
    n_train: int = TSIPRAS_EXPERIMENT_N,
    n_test: int = TSIPRAS_EXPERIMENT_N,
    epochs: int = 10,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
    attack_steps: int = 5,
    seed: int = 0,
    trainings: Sequence[str] = ("standard", "adversarial"),
    verbose: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Standard vs adversarially trained linear classifier on eq. 3 (Theorem 2.2).

    Samples train and test splits with ``load_dataset("tsipras", ...)`` (the
    same samples as everywhere else for the same seed), trains the registry's
    ``linear`` model (two logits, softmax cross-entropy: logistic regression
    on w = W[:, 1] - W[:, 0]) from zero weights with Adam, once with standard
    training (:class:`tfrobust.training.RobustModel`) and once with l_inf PGD
    adversarial training at ``eps`` (:class:`tfrobust.training.AdversarialModel`;
    on a linear model PGD reaches the closed-form worst case
    x - eps sign(w) y in one step of length >= 2 eps, so a few steps are exact).

    Robust accuracy is evaluated in closed form on the test samples
    (:func:`linear_robust_correct`) and cross-checked with
    :func:`tfrobust.attacks.pgd`; population accuracies of the learned (w, b)
    come from :func:`linear_accuracy`.

    Ref: Tsipras et al. 2019, Theorem 2.2 (for eta >= 4/sqrt(d): standard
    training > 99% standard and < 1% adversarial accuracy at eps >= 2 eta;
    adversarial training: 70% for both) and appendix C (which shows it for the
    hinge loss and says it adapts to logistic regression).

    Two conditions the theorem leaves implicit:

    * The adversary also moves x_1 by eps, so E[y x_1'] = 2p - 1 - eps:
      adversarial training keeps weight on x_1 only while eps < 2p - 1
      (0.4 at p = 0.7); with eps = 2 eta = 8 / sqrt(d) that needs d > 400.
      Beyond it the robust optimum is w = 0 (50%).
    * Adam leaves the non-robust weights jittering around 0 at the scale of
      the learning rate; their l1 mass d * lr must stay well below
      |w_1| (1 - eps) / eps, hence the small default learning rate.

    Args:
        d: non-robust features (x has d + 1 columns); default 1000.
        eta: their mean shift; default 4 / sqrt(d) (Theorem 2.2).
        p: Pr[x_1 = y]; default 0.7 (eq. 3).
        eps: l_inf radius for adversarial training and evaluation; default 2 eta.
        n_train, n_test: samples per split.
        epochs, batch_size, learning_rate: Adam training of both models.
        attack_steps: PGD steps during adversarial training and for the check
            (step size 2.5 eps / steps, random start).
        seed: data, shuffling and attack seed.
        trainings: which of ``"standard"``, ``"adversarial"`` to run.
        verbose: Keras ``fit`` verbosity.
        progress: called with a one-line message before each training.

    Returns:
        One dict per training: training, d, eta, p, eps, n_train, n_test,
        epochs, standard_accuracy, adversarial_accuracy (test samples, exact
        worst case), adversarial_accuracy_pgd, theorem_bound (Theorem 2.1's
        bound for the row's standard accuracy, NaN if eps < 2 eta),
        population_standard_accuracy, population_adversarial_accuracy,
        robust_weight (w_1), nonrobust_weight_mean, nonrobust_weight_mean_abs,
        robust_weight_share (|w_1| / ||w||_1), bias.

    Raises:
        ValueError: a parameter out of range.
    """
    import keras

    from tfrobust.attacks import PGD, pgd
    from tfrobust.config import OptimizerConfig
    from tfrobust.models import build_model
    from tfrobust.training import AdversarialModel, RobustModel, build_optimizer

    d, eta, p, eps = validate_tsipras_setting(d=d, eta=eta, p=p, eps=eps)
    n_train = check_int(n_train, name="n_train", minimum=1)
    n_test = check_int(n_test, name="n_test", minimum=1)
    epochs = check_int(epochs, name="epochs", minimum=1)
    batch_size = check_int(batch_size, name="batch_size", minimum=1)
    attack_steps = check_int(attack_steps, name="attack_steps", minimum=1)
    seed = check_int(seed, name="seed", minimum=0)
    unknown = [t for t in trainings if t not in ("standard", "adversarial")]
    if unknown or not trainings:
        raise ValueError(f"trainings: choose from standard, adversarial, got {list(trainings)!r}")
    optimizer_config = OptimizerConfig(name="adam", learning_rate=learning_rate)

    from tfrobust.data import load_dataset

    train = load_dataset("tsipras", "train", seed=seed, d=d, eta=eta, p=p, n=n_train)
    x_test, y_test = _tsipras_split("test", d=d, eta=eta, p=p, n=n_test, seed=seed)
    bounds = (-math.inf, math.inf)
    attack = PGD(norm="linf", eps=eps, steps=attack_steps, bounds=bounds)
    steps_per_epoch = math.ceil(n_train / batch_size)
    applies = eps >= 2.0 * eta * (1 - 1e-12)  # Theorem 2.1's range
    rows = []
    for training in trainings:
        if progress is not None:
            progress(f"training {training} linear classifier: {n_train} samples, {epochs} epochs"
                     + (f", PGD-{attack_steps} linf eps={eps:.4g}" if training == "adversarial" else ""))
        keras.utils.set_random_seed(seed)
        base = build_model("linear", input_shape=(d + 1,), num_classes=2)
        layer = base.get_layer("logits")
        layer.set_weights([np.zeros_like(v) for v in layer.get_weights()])  # convex: start at w = 0
        model: RobustModel
        if training == "adversarial":
            model = AdversarialModel(base, attack=attack.to_dict(), track_clean=False, seed=seed)
        else:
            model = RobustModel(base)
        model.compile(optimizer=build_optimizer(optimizer_config, total_steps=epochs * steps_per_epoch),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(train.pipeline(batch_size, shuffle=True, seed=seed), epochs=epochs, shuffle=False,
                  verbose=verbose)
        w, b = _weights(base)
        std = float(linear_robust_correct(x_test, y_test, w, b).mean())
        adv = float(linear_robust_correct(x_test, y_test, w, b, eps=eps).mean())
        x_adv = pgd(base, x_test, y_test, norm="linf", eps=eps, steps=attack_steps, bounds=bounds, seed=seed)
        pred = np.argmax(np.asarray(base.predict(x_adv, batch_size=1000, verbose=0)), axis=-1)
        nonrobust = w[1:]
        pop_std = linear_accuracy(w, b, eta=eta, p=p)
        pop_adv = linear_accuracy(w, b, eta=eta, p=p, eps=eps)
        rows.append({
            "training": training, "d": d, "eta": eta, "p": p, "eps": eps,
            "n_train": n_train, "n_test": n_test, "epochs": epochs,
            "standard_accuracy": std, "adversarial_accuracy": adv,
            "adversarial_accuracy_pgd": float(np.mean(pred == y_test)),
            "theorem_bound": no_free_lunch_bound(1.0 - std, p=p) if applies else math.nan,
            "population_standard_accuracy": pop_std,
            "population_adversarial_accuracy": pop_adv,
            "population_theorem_bound": (no_free_lunch_bound(min(max(1.0 - pop_std, 0.0), 1.0), p=p)
                                         if applies else math.nan),
            "robust_weight": float(w[0]),
            "nonrobust_weight_mean": float(nonrobust.mean()),
            "nonrobust_weight_mean_abs": float(np.abs(nonrobust).mean()),
            "robust_weight_share": float(abs(w[0]) / max(float(np.abs(w).sum()), 1e-300)),
            "robust_to_nonrobust_ratio": float(abs(w[0]) / max(float(np.abs(nonrobust).mean()), 1e-300)),
            "bias": b,
        })
    return rows
