"""``tfrobust list``: every registered attribution, attack, method, kind, model, norm and objective with its options."""

from __future__ import annotations

import textwrap

import click

__all__ = ["list_entries"]

#: The registries ``tfrobust list`` shows, in this order (names of ``tfrobust.registry.REGISTRIES``).
REGISTRY_NAMES = ("attributions", "attacks", "methods", "kinds", "models", "norms", "objectives")


@click.command("list", short_help="Registered attributions, attacks, methods, kinds, models, norms, objectives; "
                                   "their options.")
@click.argument("registry", required=False, type=click.Choice(REGISTRY_NAMES))
def list_entries(registry: str | None) -> None:
    """List REGISTRY's entries (default: every registry): name, description, options with types and defaults.

    \b
    attributions  fn(model, x, y, *, <options>): maps (saliency, roar --method)
    attacks       fn(model, x, y, *, norm, eps, bounds, seed, <options>) (attack)
    methods       training methods, cls(base, *, <options>) (train --method)
    kinds         study stage kinds, fn(deps, out_dir, *, <options>) (study configs)
    models        architectures, fn(input_shape, num_classes, *, <options>) (--arch)
    norms         threat-model geometries (--norm)
    objectives    attack objectives (--objective)

    Give options as `--option KEY=VALUE`. Entries from installed plugins
    show their distribution in brackets. Reads the registries' source only:
    imports no TensorFlow.
    """
    from tfrobust.registry import REGISTRIES

    names = [registry] if registry else [name for name in REGISTRY_NAMES if name in REGISTRIES]
    for i, name in enumerate(names):
        reg = REGISTRIES[name]
        if i:
            click.echo()
        click.echo(f"{name} ({len(reg)}):")
        text = reg.describe()
        click.echo(textwrap.indent(text, "  ") if text else "  (none registered)")
