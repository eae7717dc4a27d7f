#!/usr/bin/env python3
"""sglang's Wan VAE decode as its pipeline runs it after denoising, one variant per process (fluxfix must be
on or off before sglang is imported):

    python benchmarks/bench_sglang_vae.py --variant eager|compiled|compiled-fluxfix --out results.jsonl
        [--folder DIR] [--vae small|full] [--device cpu|cuda] [--videos 81x480x832,81x832x480,49x480x480]

sglang's own objects throughout: ServerArgs for a Wan2.1-T2V-1.3B folder (tests/model_folder.py; with
--vae full its VAE at the published size, random weights), the VAE loaded by sglang's VAELoader,
`DecodingStage.decode` in the precision sglang resolves for it (bf16 for Wan 2.1 on 0.5.23), `--enable-torch-compile`
for the compiled variants (the stage compiles the decode itself, before its first call, in the mode
sglang picks). Requests: seven videos at the three --videos sizes in a mixed order (the first one's
compile is inside the first request), new latents each time. Measured per request: seconds, the graphs dynamo
compiled meanwhile, breaks; first request, steady state (median of the requests after each size's first),
recompile-limit hits. Wan's DiT is not run: on a CPU it needs sgl-kernel's CPU build, and the decode is
what this measures.

Variants: eager (no compile, fluxfix off); compiled (sglang's compile, fluxfix off); compiled-fluxfix
(sglang's compile, FLUXFIX=1 and fluxfix imported first).
"""
from __future__ import annotations

import argparse
import logging
import os
import pathlib
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]
log = logging.getLogger("bench_sglang_vae")
VARIANTS = ("eager", "compiled", "compiled-fluxfix")


def latent_shapes(videos: str) -> list[tuple]:
    """Wan's latents (4x in time, 8x in space) for three videos "FxHxW,FxHxW,FxHxW", in the mixed order
    first, first, second, first, third, second, third."""
    sizes = [tuple(map(int, v.split("x"))) for v in videos.split(",")]
    if len(sizes) != 3:
        raise SystemExit(f"--videos {videos!r}: give three sizes, FRAMESxHEIGHTxWIDTH each")
    latents = [(1, 16, (f - 1) // 4 + 1, h // 8, w // 8) for f, h, w in sizes]
    return [latents[i] for i in (0, 0, 1, 0, 2, 1, 2)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--out", default="-")
    parser.add_argument("--folder", default=str(REPO / ".bench" / "sglang-vae"))
    parser.add_argument("--vae", choices=("small", "full"), default="full")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--videos", default="9x64x64,9x64x96,5x96x64", help="three video sizes, FRAMESxHEIGHTxWIDTH")
    return parser.parse_args(argv)


def model_folder(args) -> pathlib.Path:
    """A small Wan folder (configs and tokenizers sglang's ServerArgs reads) with its VAE at --vae size."""
    import model_folder as folders

    root = pathlib.Path(args.folder) / args.vae
    folder = root / "Wan2.1-T2V-1.3B"
    if not (folder / "model_index.json").exists():
        folders.make("Wan2.1-T2V-1.3B", root)
        if args.vae == "full":
            folders.write_component(folder, "Wan2.1-T2V-1.3B", "vae", "full")
    return folder


def run(args, res: dict) -> None:
    import torch
    from torch._dynamo.utils import counters

    folder = model_folder(args)
    from sglang.multimodal_gen.runtime.loader.component_loaders.vae_loader import VAELoader
    from sglang.multimodal_gen.runtime.pipelines_core.stages.decoding import DecodingStage
    from sglang.multimodal_gen.runtime.server_args import ServerArgs, set_global_server_args
    from sglang.multimodal_gen.runtime.utils.precision import resolve_decode_precision

    server_args = ServerArgs.from_kwargs(model_path=str(folder), enable_torch_compile=args.variant != "eager")
    set_global_server_args(server_args)
    vae, _ = VAELoader().load(str(folder / "vae"), server_args, "vae", "diffusers")
    vae = vae.to(args.device)
    stage, dtype = DecodingStage(vae), resolve_decode_precision(server_args, "vae")
    res.update(vae_parameters=sum(p.numel() for p in vae.parameters()), dtype=str(dtype).removeprefix("torch."))
    generator, shapes = torch.Generator().manual_seed(0), latent_shapes(args.videos)
    for n, shape in enumerate(shapes):
        latents = torch.randn(shape, generator=generator).to(args.device)
        graphs, breaks = counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())
        start = time.perf_counter()
        video = stage.decode(latents, server_args, vae_dtype=dtype)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        res["requests"].append({"latent": list(shape), "video": list(video.shape), "seconds": round(seconds, 3),
                                "graphs": counters["stats"]["unique_graphs"] - graphs,
                                "breaks": sum(counters["graph_break"].values()) - breaks})
        log.info("request %d/%d %s: %.2f s, %d graphs", n + 1, len(shapes), list(video.shape), seconds, res["requests"][-1]["graphs"])
    if args.device.startswith("cuda"):
        res["peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)


def totals(res: dict) -> None:
    """First video, each later size's first video (a new size: compiles where the graphs are not dynamic yet), and
    the steady state: the median of the videos at a size already seen."""
    requests, seen, first_at_size, repeated = res["requests"], set(), [], []
    for r in requests:
        size = tuple(r["latent"])
        (repeated if size in seen else first_at_size).append(r["seconds"])
        seen.add(size)
    res.update(first_s=first_at_size[0] if first_at_size else None, new_size_s=first_at_size[1:],
               steady_s=statistics.median(repeated) if repeated else None, graphs=sum(r["graphs"] for r in requests),
               breaks=sum(r["breaks"] for r in requests), complete=len(requests) == 7)


def summary(res: dict) -> str:
    return (f"{res['variant']:17} first {res.get('first_s')} s, steady {res.get('steady_s')} s, new sizes {res.get('new_size_s')}, "
            f"{res.get('graphs')} graphs, {res.get('breaks')} breaks, {len(res['limit_hits'])} limit hits")


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=f"[bench_sglang_vae {args.variant} %(relativeCreated)6.0f ms] %(message)s")
    os.environ["FLUXFIX"] = "1" if args.variant == "compiled-fluxfix" else "0"
    if args.variant == "compiled-fluxfix":
        import fluxfix  # noqa: F401  (before sglang)
    import torch

    from bench_pipeline import record
    from patches.diffusers.group_offloading import dynamo_messages, limit_hits

    res = {"variant": args.variant, "vae": args.vae, "device": args.device, "videos": args.videos,
           "torch": torch.__version__, "fluxfix_loaded": "fluxfix" in sys.modules, "requests": [], "limit_hits": [], "complete": False}

    def work():
        res["limit_hits"] = limit_hits(dynamo_messages(lambda: run(args, res)))

    record(work, lambda: totals(res), res, args.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
