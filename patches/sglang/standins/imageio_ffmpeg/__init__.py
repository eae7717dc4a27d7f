"""Import-only stand-in for imageio-ffmpeg (its wheel carries a ~30 MB ffmpeg binary): sglang 0.5.2x's
entry points import it at module level to encode videos; image requests never call it. Any attribute
access raises, so a use cannot go unseen."""
FLUXFIX_STANDIN = True


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise RuntimeError(f"imageio_ffmpeg.{name} was used, but imageio_ffmpeg is an import-only stand-in")
