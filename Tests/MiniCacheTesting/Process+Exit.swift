import Foundation

extension Process {
    /// Waits until the process exits, off the cooperative pool; returns its status (or the
    /// signal's number when it was killed).
    @discardableResult
    public func exited() async -> Int32 {
        await BlockingWork.run {
            self.waitUntilExit()
            return self.terminationStatus
        }
    }

    /// Sends `signal` when the process still runs, then waits until it exits; returns its status.
    @discardableResult
    public func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        if self.isRunning { kill(self.processIdentifier, signal) }
        return await self.exited()
    }
}

extension FileHandle {
    /// Reads until the end of the file (the writer closed a pipe), off the cooperative pool.
    public func readToEndOfFile() async -> Data {
        await BlockingWork.run { self.readDataToEndOfFile() }
    }
}
