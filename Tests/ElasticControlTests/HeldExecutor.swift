import Dispatch

/// A task executor with one thread that a test can hold, as a busy machine (or a cooperative
/// pool taken by other work) holds a task that should have woken up: whatever prefers it runs
/// only while it is not held.
final class HeldExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "held-executor")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Holds the thread once the job it runs now ends, until the returned gate is signalled.
    func hold() -> DispatchSemaphore {
        let gate = DispatchSemaphore(value: 0)
        queue.async { gate.wait() }
        return gate
    }
}
