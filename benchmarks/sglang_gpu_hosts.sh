# Sourced by the sglang GPU runners: installs, over the machine's torch, each wanted release from the carried
# wheels (.whl/RELEASE), sglang's import-time dependencies the machine's image lacks (.whl/common) and fluxfix
# from this checkout (every call), each `--no-deps --target` into its own folder under $HOSTS.
#   source benchmarks/sglang_gpu_hosts.sh; install_hosts 0.5.10 0.5.23
HOSTS=/tmp/sglang-hosts
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pipi() { python3 -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$@" 2>&1 | grep -vi warning; }
install_hosts() {
  [ -d "$HOSTS/common" ] || pipi "$HOSTS/common" "$ROOT"/.whl/common/*.whl
  if [ ! -d "$HOSTS/video" ] && ls "$ROOT"/.whl/video/*.whl >/dev/null 2>&1; then pipi "$HOSTS/video" "$ROOT"/.whl/video/*.whl; fi
  rm -rf "$HOSTS/fluxfix"; pipi "$HOSTS/fluxfix" --no-build-isolation "$ROOT"
  local release; for release in "$@"; do [ -d "$HOSTS/$release" ] || pipi "$HOSTS/$release" "$ROOT"/.whl/"$release"/*.whl; done
}
