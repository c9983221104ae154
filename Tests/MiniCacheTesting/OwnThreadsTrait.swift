import NIOPosix
import Testing

/// A trait for tests that block or compute for seconds without suspending (product code that
/// waits for child processes, image builds, media packaging): their bodies run on threads of
/// their own, never on the cooperative pool.
///
/// The suite runs in parallel and the cooperative pool of a 2-core machine has two threads: such
/// a test on it holds back every awaiting test behind it (a client's reply, a player's next
/// segment) for as long as it runs, and real-time tests fail. On threads of their own they share
/// the cores with the rest through the kernel's scheduler instead.
public struct OwnThreadsTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(OwnThreadsExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OwnThreadsTrait {
    /// The tests block or compute for seconds without suspending: they run on threads of their own.
    public static var onOwnThreads: Self { Self() }
}

/// A task executor over a few threads of its own, for ``OwnThreadsTrait``.
final class OwnThreadsExecutor: TaskExecutor {
    static let shared = OwnThreadsExecutor()

    private let pool: NIOThreadPool

    private init() {
        self.pool = NIOThreadPool(numberOfThreads: 4)
        self.pool.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.pool.submit { _ in job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
