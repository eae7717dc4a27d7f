# Sourced by the diffusers GPU runners: installs, over the machine's torch, the carried wheels (.whl/diffusers:
# diffusers, accelerate, importlib_metadata, ...) once per machine, and fluxfix from this checkout every call,
# each `--no-deps --target` into its own folder; sets PYTHONPATH to both.
SITE=/tmp/bench-site
FLUXFIX_SITE=/tmp/bench-fluxfix
[ -d "$SITE" ] || python -m pip install -q --no-index --no-deps --target "$SITE" .whl/diffusers/*.whl || exit 1
rm -rf "$FLUXFIX_SITE"; python -m pip install -q --no-index --no-deps --no-build-isolation --target "$FLUXFIX_SITE" . || exit 1
export PYTHONPATH="$SITE:$FLUXFIX_SITE" PYTHONUNBUFFERED=1
