"""fluxfix's built-in patches, one module each, registered through the `fluxfix.patches` entry points."""
