"""fluxfix's built-in patches: one folder per host (its patches and its host support), each module
registered through the `fluxfix.patches` entry-point group as a third-party plugin would be."""
import fluxfix  # noqa: F401  first: its activation loads these modules through their entry points
