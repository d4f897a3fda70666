// swift-tools-version:6.0
import PackageDescription

/// Hot numeric code is compiled with bounds checks off in release builds.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "moonlab",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "moonlab", targets: ["moonlab"]),
        .library(name: "MoonLua", targets: ["MoonLua"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C system libraries
        .systemLibrary(name: "CLua", path: "Sources/CLua", pkgConfig: "lua5.4",
                       providers: [.apt(["liblua5.4-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CReadline", path: "Sources/CReadline", pkgConfig: "readline",
                       providers: [.apt(["libreadline-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // Lua macro shims, the error trampoline, the panic handler, the interrupt hook
        .target(name: "CLuaShim", dependencies: ["CLua", "CReadline"]),
        // Small-M matrix kernels of the decode loop (AVX-512 / AVX2 / portable, chosen at run time)
        .target(name: "CDecodeKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // Layers (each imports only the ones below it)
        .target(name: "MoonTensor", dependencies: ["CBLAS"], swiftSettings: fast),
        .target(name: "MoonCheckpoint", dependencies: ["MoonTensor"], swiftSettings: fast),
        .target(name: "MoonModels", dependencies: ["MoonTensor", "MoonCheckpoint", "MoonEnvs", "CDecodeKernels"], swiftSettings: fast),
        .target(name: "MoonImage", dependencies: ["CPNG", "MoonTensor"], swiftSettings: fast),
        .target(name: "MoonEnvs", dependencies: ["MoonTensor", "MoonImage", "MoonCheckpoint"], swiftSettings: fast),
        .target(name: "MoonTrain", dependencies: ["MoonTensor", "MoonImage", "MoonCheckpoint"], swiftSettings: fast),
        .target(name: "MoonDist", dependencies: ["CMPI", "MoonTensor"], swiftSettings: fast),
        .target(name: "MoonLua",
                dependencies: ["CLua", "CLuaShim", "CReadline", "MoonTensor", "MoonCheckpoint", "MoonModels", "MoonEnvs",
                               "MoonTrain", "MoonDist"]),
        .executableTarget(name: "moonlab",
                          dependencies: ["MoonLua", "MoonDist", "MoonCheckpoint", "MoonTrain", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Tests
        .testTarget(name: "MoonTensorTests", dependencies: ["MoonTensor"]),
        .testTarget(name: "MoonCheckpointTests", dependencies: ["MoonCheckpoint", "MoonModels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MoonModelsTests", dependencies: ["MoonModels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MoonImageTests", dependencies: ["MoonImage"]),
        .testTarget(name: "MoonEnvsTests", dependencies: ["MoonEnvs"]),
        .testTarget(name: "MoonTrainTests", dependencies: ["MoonTrain"]),
        .testTarget(name: "MoonDistTests", dependencies: ["MoonDist", "MoonTensor"]),
        .testTarget(name: "MoonLuaTests", dependencies: ["MoonLua", "CLua", "CLuaShim"]),
    ],
    swiftLanguageModes: [.v5]
)
