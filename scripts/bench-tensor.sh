#!/usr/bin/env bash
# MoonTensor benchmarks without touching Package.swift: builds a throw-away SwiftPM package in a temp dir whose
# MoonTensor/CBLAS targets are symlinks to this checkout, runs scripts/bench-tensor/main.swift in release
# (-Ounchecked, like the real build), then the NumPy reference (scripts/bench_tensor.py) if numpy is installed.
# Usage: scripts/bench-tensor.sh [threads ...]     (default: 1 and the core count)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${BENCH_DIR:-${TMPDIR:-/tmp}/moonlab-bench-tensor}"
mkdir -p "$work/Sources/Bench"
ln -sfn "$root/Sources/MoonTensor" "$work/Sources/MoonTensor"
ln -sfn "$root/Sources/CBLAS" "$work/Sources/CBLAS"
cp "$root/scripts/bench-tensor/main.swift" "$work/Sources/Bench/main.swift"
cat > "$work/Package.swift" <<'PKG'
// swift-tools-version:6.0
import PackageDescription
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]
let package = Package(
    name: "moonlab-bench-tensor",
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas"),
        .target(name: "MoonTensor", dependencies: ["CBLAS"], swiftSettings: fast),
        .executableTarget(name: "Bench", dependencies: ["MoonTensor"], swiftSettings: fast),
    ],
    swiftLanguageModes: [.v5]
)
PKG
(cd "$work" && swift build -c release --product Bench >/dev/null)
threads=("$@")
[ ${#threads[@]} -eq 0 ] && threads=(1 "$(nproc)")
for t in "${threads[@]}"; do "$work/.build/release/Bench" "$t"; echo; done
if python3 -c 'import numpy' 2>/dev/null; then python3 "$root/scripts/bench_tensor.py"; fi
