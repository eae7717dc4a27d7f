#!/usr/bin/env python3
"""Repack a wheel without native extension modules the GPU benchmarks never import, so a host
release fits the 64 MiB a device call may carry.

    python3 benchmarks/slim_wheel.py [--lzma] IN.whl OUT.whl [GLOB ...]

Same file name and version; RECORD rewritten without the dropped files. Default GLOBs (sglang
0.5.23): `sglang/srt/rust_extensions/*.so` (server, gRPC, bench and multimodal Rust extensions,
18 MB) and `sglang/srt/mem_cache/rust_tree_core/*.so` (1 MB); none of them is imported on the
import chains of sglang's diffusion models, configs, server args, process groups and forward context.

--lzma stores every file LZMA-compressed (Python's zipfile, and so pip, reads it): imageio-ffmpeg 0.6.0's
wheel goes from 29.5 to 21.0 MB, which lets it travel beside sglang 0.5.23 for Wan's videos.
"""
import argparse
import fnmatch
import zipfile

DEFAULT = ["sglang/srt/rust_extensions/*.so", "sglang/srt/mem_cache/rust_tree_core/*.so"]


def main(src: str, dst: str, *patterns: str, method: int = zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", method) as zout:
        drop = {i.filename for i in zin.infolist() if any(fnmatch.fnmatch(i.filename, p) for p in patterns)}
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(row for row in data.splitlines(keepends=True) if row.split(b",")[0].decode() not in drop)
            zout.writestr(info, data, compress_type=method)
    if drop:
        print("dropped:", *sorted(drop), sep="\n  ")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="the wheel as downloaded")
    parser.add_argument("dst", help="the slimmed wheel to write (keep the file name)")
    parser.add_argument("patterns", nargs="*", help="globs of files to drop (default: sglang 0.5.23's Rust extensions)")
    parser.add_argument("--lzma", action="store_true", help="compress with LZMA instead of deflate")
    args = parser.parse_args()
    patterns = args.patterns or ([] if args.lzma else DEFAULT)
    main(args.src, args.dst, *patterns, method=zipfile.ZIP_LZMA if args.lzma else zipfile.ZIP_DEFLATED)
