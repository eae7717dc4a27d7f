"""diffusers as a fluxfix host: the releases covered (sglang's pins 0.36.0 and 0.37.0, and the
newest) and doctor's models and features."""
from __future__ import annotations

from fluxfix import Host, Patch, hookimpl

RELEASES = ("0.36.0", "0.37.0", "0.40.0", "0.42.1")  # sglang's pins 0.36.0 / 0.37.0, and the newest
FEATURES = ("layerwise-fp8", "group-offload", "faster-cache", "first-block-cache", "taylorseer", "mag-cache", "sea-cache", "lora")  # what `fluxfix doctor --host diffusers --feature` switches on


class DiffusersPatch(Patch):
    host = "diffusers"
    contract_release = "0.42.1"


HOST = Host("diffusers", RELEASES, doctor="patches.diffusers.doctor", features=FEATURES)


@hookimpl
def fluxfix_hosts():
    return [HOST]
