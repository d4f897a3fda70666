import Foundation
import CBLAS

/// Which OpenBLAS kernels run. OpenBLAS chooses them from the CPU model when the library loads; 0.3.21 (Debian 12)
/// does not know recent Xeons (Sapphire Rapids and later, as a hypervisor reports them) and falls back to its SSE3
/// "Prescott" kernels, whose sgemm is several times slower than the AVX-512 ones on the same core.
public enum BLASCore {
    /// The kernel set OpenBLAS uses (e.g. "SkylakeX", "Haswell", "Prescott").
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The kernel set this CPU should use, from /proc/cpuinfo's flags: "SkylakeX" with AVX-512 (F, BW, VL, DQ),
    /// "Haswell" with AVX2 and FMA, nil otherwise or off Linux.
    public static var native: String? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// When OpenBLAS fell back to Prescott on a CPU that has AVX2 or AVX-512 and OPENBLAS_CORETYPE is unset: sets
    /// it and re-executes this program with the same arguments (the choice is only made at load). Call first thing
    /// in `main`, before any thread starts. Returns (and changes nothing) otherwise, or if the exec fails.
    public static func reexecWithNativeKernelsIfNeeded() {
        #if os(Linux)
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["MOONLAB_BLAS_REEXEC"] == nil, name == "Prescott", let core = native else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("MOONLAB_BLAS_REEXEC", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")  // exec failed: carry on with the kernels we have
        #endif
    }
}
