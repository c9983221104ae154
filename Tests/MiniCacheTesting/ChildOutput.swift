import Foundation
import Synchronization

/// What a running child process writes to a pipe, collected by a thread of its own so that a test
/// can wait for a line without holding a cooperative thread.
public final class ChildOutput: Sendable {
    private let state = Mutex<(text: String, ended: Bool)>(("", false))

    /// Starts reading `handle` (the read end of the child's pipe) until the child closes it.
    public init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                self.state.withLock { $0.text += String(decoding: data, as: UTF8.self) }
            }
            self.state.withLock { $0.ended = true }
        }
    }

    /// Everything read so far.
    public var text: String { self.state.withLock { $0.text } }

    /// Whether the child closed its end.
    public var ended: Bool { self.state.withLock { $0.ended } }

    /// Waits until the text read so far satisfies `condition`, the pipe ends, or `timeout` seconds
    /// pass (a safety margin for a stuck child, not a claim about speed); returns the condition.
    public func wait(timeout: Double = 60, until condition: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            let (text, ended) = self.state.withLock { ($0.text, $0.ended) }
            if condition(text) { return true }
            if ended { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(self.text)
    }

    /// Waits until the text read so far contains `text`.
    public func wait(timeout: Double = 60, for text: String) async -> Bool {
        await self.wait(timeout: timeout) { $0.contains(text) }
    }

    /// The `name: value` lines read so far (what `ecdn up` and `ecdn cluster` print at start).
    public var values: [String: String] { Self.values(in: self.text) }

    /// The `name: value` lines of `text`.
    public static func values(in text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].hasSuffix(":") { values[String(parts[0].dropLast())] = String(parts[1]) }
        }
        return values
    }
}
