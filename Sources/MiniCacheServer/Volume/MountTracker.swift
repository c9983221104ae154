import Synchronization

/// Which mount generations are still alive (held by the volume holder or by a response in
/// flight), so chunks freed by the cache store are reused only once no mount can read them.
package final class MountTracker: Sendable {
    private let live = Mutex<[Int: Int]>([:])

    package init() {}

    func opened(_ generation: Int) {
        self.live.withLock { $0[generation, default: 0] += 1 }
    }

    func closed(_ generation: Int) {
        self.live.withLock { live in
            if let count = live[generation], count > 1 { live[generation] = count - 1 } else { live[generation] = nil }
        }
    }

    /// Whether a mount of one of `generations` is alive.
    package func anyAlive(in generations: ClosedRange<Int>) -> Bool {
        self.live.withLock { $0.keys.contains { generations.contains($0) } }
    }

    /// Generations alive now.
    package var liveGenerations: [Int] { self.live.withLock { $0.keys.sorted() } }
}
