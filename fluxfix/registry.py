"""Where patches and host declarations come from: pluggy plugins found through one entry-point group.

Built-in patches and third-party ones are registered the same way, so nothing an
environment variable says can make fluxfix import a module that is not an installed
fluxfix plugin: variables only choose among the patches found here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points

import pluggy

from fluxfix.host import Host
from fluxfix.patch import Patch

log = logging.getLogger("fluxfix")

ENTRY_POINT_GROUP = "fluxfix.patches"
hookspec = pluggy.HookspecMarker("fluxfix")
hookimpl = pluggy.HookimplMarker("fluxfix")


class PatchSpec:
    @hookspec
    def fluxfix_patches(self) -> list[Patch]:
        """Return the Patch objects this plugin provides."""

    @hookspec
    def fluxfix_hosts(self) -> list[Host]:
        """Return the host declarations this plugin provides (a host folder's support module)."""


@dataclass
class Found:
    patches: dict[str, Patch]  # by name, in apply order (sorted by name: deterministic)
    hosts: dict[str, Host]


def load() -> Found:
    """Every patch and host of every installed plugin. A broken plugin is logged and skipped."""
    manager = pluggy.PluginManager("fluxfix")
    manager.add_hookspecs(PatchSpec)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if manager.has_plugin(ep.name):
            continue  # the same distribution seen twice on sys.path
        try:
            manager.register(ep.load(), name=ep.name)
        except Exception as exc:  # a third-party plugin must not take the host down
            log.warning("fluxfix: could not load patch plugin %r (%s): %s: %s", ep.name, ep.value, type(exc).__name__, exc)
    patches: dict[str, Patch] = {}
    for provided in manager.hook.fluxfix_patches():
        for patch in provided:
            if patch.name in patches:
                log.warning("fluxfix: two plugins provide a patch named %r; keeping the first", patch.name)
                continue
            patches[patch.name] = patch
    hosts = {host.name: host for provided in manager.hook.fluxfix_hosts() for host in provided}
    if not patches:
        log.warning("fluxfix: no patches found in entry-point group %r; is fluxfix installed (pip install fluxfix)?", ENTRY_POINT_GROUP)
    return Found(dict(sorted(patches.items())), hosts)
