import NIOPosix

/// Runs blocking work (a wait for a child process, a read of a pipe to its end) on threads of its
/// own, never on the cooperative pool.
///
/// The suite runs in parallel and a 2-core machine has two cooperative threads: two tests blocked
/// in `waitUntilExit()` would stall every other test, and real-time tests fail. The pool is wide
/// because its threads mostly sleep in a wait.
public enum BlockingWork {
    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 32)
        pool.start()
        return pool
    }()

    /// Runs `work` on the blocking pool and returns what it returned.
    public static func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await self.pool.runIfActive(work)
    }

    /// Runs `work`, which does not throw, on the blocking pool.
    public static func run<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
        // The pool is never shut down, so runIfActive cannot throw here.
        try! await self.pool.runIfActive(work)
    }
}
