"""``tfrobust theory``: the papers' explanatory experiments (Tsipras eq. 3, linear features, Kim's toy)."""

from __future__ import annotations

import click

from cli.theory_linear import linear
from cli.theory_toy import toy
from cli.theory_tsipras import tsipras


@click.group()
def theory() -> None:
    """Theory and small explanatory experiments.

    \b
    tsipras  Tsipras et al. 2019 eq. 3 and Theorem 2.1: standard vs adversarial linear classifiers
    linear   Tsipras et al. 2019 sec. 2.3/3: robust and non-robust features of a binary image task
    toy      Kim et al. 2019 sec. 2.2: boundary tilting on the 2-D toy
    """


theory.add_command(tsipras)
theory.add_command(linear)
theory.add_command(toy)
