import ElasticSim
import Foundation
import Synchronization

/// One line on stderr: overall progress, simulated time and the simulated/wall speed of each
/// running scenario. Redrawn at most ten times a second.
final class ProgressBar: Sendable {
    private struct State {
        var time: [Double]
        var events: [Int]
        var lastDraw = 0.0
    }
    private let names: [String]
    private let durations: [Double]
    private let started = Date()
    private let state: Mutex<State>

    init(scenarios: [Scenario]) {
        names = scenarios.map(\.name)
        durations = scenarios.map(\.duration)
        state = Mutex(State(time: Array(repeating: 0, count: scenarios.count), events: Array(repeating: 0, count: scenarios.count)))
    }

    func update(_ p: Sweep.Progress) {
        let elapsed = Date().timeIntervalSince(started)
        let line: String? = state.withLock { s in
            s.time[p.scenario] = p.simulatedTime
            s.events[p.scenario] = p.events
            guard elapsed - s.lastDraw >= 0.1 || p.simulatedTime >= durations[p.scenario] else { return nil }
            s.lastDraw = elapsed
            return render(s, elapsed: elapsed)
        }
        if let line { FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8)) }
    }

    private func render(_ s: State, elapsed: Double) -> String {
        let done = zip(s.time, durations).map { min($0 / $1, 1) }.reduce(0, +) / Double(max(durations.count, 1))
        let width = 24
        let filled = Int(done * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let finished = zip(s.time, durations).filter { $0 >= $1 }.count
        var running: [String] = []
        for i in s.time.indices where s.time[i] > 0 && s.time[i] < durations[i] {
            running.append("\(names[i]) t=\(Int(s.time[i]))s")
        }
        let events = s.events.reduce(0, +)
        let speed = elapsed > 0 ? s.time.reduce(0, +) / elapsed : 0
        return "[\(bar)] \(Int(done * 100))% \(finished)/\(durations.count) done · sim/wall \(String(format: "%.1f", speed))x · \(events / 1000)k events · \(running.prefix(3).joined(separator: ", "))"
    }

    func finish() {
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
