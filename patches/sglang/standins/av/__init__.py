"""Import-only stand-in for PyAV (see ../README.md): importing works, any use raises."""
FLUXFIX_STANDIN = True


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise RuntimeError(f"av.{name} was used, but av is an import-only stand-in")
