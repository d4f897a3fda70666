import Foundation
import Synchronization

/// A two-way fork-join helper for the decode loop. A decode step issues ~20 small jobs tens of microseconds apart,
/// too short for a thread wake-up, so one helper thread spins briefly between jobs (then parks on a semaphore).
///
/// Protocol per job (epoch E): the caller publishes the job and E, runs part 0, then tries to claim part 1 with a
/// compare-and-swap on `taken` (E-1 → E); the helper tries the same CAS when it sees E. Whoever wins runs part 1,
/// so a slow or descheduled helper never blocks a job it has not claimed, and the job closure is only read by a
/// helper that owns part 1 of the current epoch (the caller cannot start E+1 before that part is done).
final class SpinPool: @unchecked Sendable {
    private let epoch = Atomic<Int>(0)
    private let taken = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let stopFlag = Atomic<Bool>(false)
    private let parked = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)
    private nonisolated(unsafe) var job: ((Int) -> Void)?
    private let spinLimit: Int

    init(spinLimit: Int = 50_000) {
        self.spinLimit = spinLimit
        let t = Thread { [unowned self] in self.helperLoop() }
        t.start()
    }

    /// Stops the helper thread and waits for it to exit. Must be called once, after the last `run`.
    func shutdown() {
        stopFlag.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        exited.wait()
    }

    /// Runs `body(0)` and `body(1)`, possibly concurrently; returns when both are done.
    func run(_ body: @escaping (Int) -> Void) {
        let e = epoch.load(ordering: .relaxed) + 1
        job = body
        epoch.store(e, ordering: .sequentiallyConsistent)
        if parked.load(ordering: .sequentiallyConsistent) { wake.signal() }
        body(0)
        if taken.compareExchange(expected: e - 1, desired: e, ordering: .sequentiallyConsistent).exchanged {
            body(1)
        } else {
            // The helper owns part 1. Spin briefly, then yield: on an oversubscribed machine the helper may be waiting
            // for a core, and spinning would hold the core it needs.
            var spins = 0
            while done.load(ordering: .acquiring) != e {
                spins += 1
                if spins > 2_000 { sched_yield() }
            }
        }
        job = nil
    }

    private func helperLoop() {
        var seen = 0
        while true {
            var spins = 0
            var e = epoch.load(ordering: .acquiring)
            while e == seen {
                if stopFlag.load(ordering: .relaxed) { exited.signal(); return }
                spins += 1
                if spins >= spinLimit {
                    parked.store(true, ordering: .sequentiallyConsistent)
                    if epoch.load(ordering: .sequentiallyConsistent) == seen && !stopFlag.load(ordering: .sequentiallyConsistent) {
                        wake.wait()
                    }
                    parked.store(false, ordering: .sequentiallyConsistent)
                    spins = 0
                }
                e = epoch.load(ordering: .acquiring)
            }
            seen = e
            if taken.compareExchange(expected: e - 1, desired: e, ordering: .sequentiallyConsistent).exchanged {
                job?(1)
                done.store(e, ordering: .releasing)
            }
        }
    }
}
