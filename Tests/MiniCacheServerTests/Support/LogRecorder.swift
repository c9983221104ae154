import Logging
import Synchronization

/// Keeps every log line (message and metadata) of a logger, for tests that check what is logged.
final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    /// A logger writing to this recorder at `level` and above.
    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "minicache-test") { _ in Handler(recorder: self) }
        logger.logLevel = level
        return logger
    }

    /// Each line as `message key=value ...`.
    var recorded: [String] { self.lines.withLock { $0 } }

    fileprivate func append(_ line: String) { self.lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let text = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            self.recorder.append("\(event.message) \(text)")
        }
    }
}
