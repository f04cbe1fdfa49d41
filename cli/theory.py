"""``tfrobust theory``: the papers' explanatory experiments (Tsipras eq. 3, linear features, Kim's toy)."""

from __future__ import annotations

import click

from cli.options import SummaryGroup
from cli.theory_linear import linear
from cli.theory_toy import toy
from cli.theory_tsipras import tsipras


@click.group(cls=SummaryGroup,
             short_help="Theory and small explanatory experiments (Tsipras et al. 2019, Kim et al. 2019).")
def theory() -> None:
    """Theory and small explanatory experiments (Tsipras et al. 2019, Kim et al. 2019)."""


theory.add_command(tsipras)
theory.add_command(linear)
theory.add_command(toy)
