import HTTPToolkit
/// When viewers arrive: Poisson arrivals whose rate follows steps in time, per site; or a trace.
public struct LoadProfile: Sendable, Equatable {
    /// From `start` seconds on, viewers per second at each site (by index into the load's sites).
    public struct Step: Sendable, Equatable {
        public var start: Double
        public var rates: [Double]

        public init(start: Double, rates: [Double]) {
            self.start = start
            self.rates = rates
        }
    }

    public var steps: [Step]
    /// Repeat the steps with this period in seconds (nil: the last step lasts).
    public var period: Double?

    public init(steps: [Step], period: Double? = nil) {
        self.steps = steps.sorted { $0.start < $1.start }
        self.period = period
    }

    /// One rate for every site.
    public static func constant(_ rate: Double, sites: Int) -> LoadProfile {
        LoadProfile(steps: [Step(start: 0, rates: Array(repeating: rate, count: sites))])
    }

    /// Parses `T:RATE,T:RATE,...` (viewers per second, the same at every site).
    /// - Throws: ``LoadError`` `badConfiguration`.
    public static func parse(_ text: String, sites: Int) throws(LoadError) -> LoadProfile {
        var steps: [Step] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":")
            guard parts.count == 2, let t = Double(parts[0]), let r = Double(parts[1]), t >= 0, r >= 0 else {
                throw LoadError(.badConfiguration, "profile item '\(item)' is not TIME:RATE (seconds:viewers per second)")
            }
            steps.append(Step(start: t, rates: Array(repeating: r, count: sites)))
        }
        guard !steps.isEmpty else { throw LoadError(.badConfiguration, "the profile is empty") }
        return LoadProfile(steps: steps)
    }

    /// The demo: viewers gather at site1, move to site2 and site3, then leave, every 150 s, so
    /// caches start on demand and stop when idle.
    public static let demo = LoadProfile(steps: [
        Step(start: 0, rates: [0.25, 0.05, 0]),
        Step(start: 40, rates: [0.05, 0.25, 0.1]),
        Step(start: 80, rates: [0, 0.05, 0.2]),
        Step(start: 110, rates: [0, 0, 0]),
    ], period: 150)

    /// Rates at time `t`.
    public func rates(at t: Double) -> [Double] {
        let time = period.map { t.truncatingRemainder(dividingBy: $0) } ?? t
        return steps.last { $0.start <= time }?.rates ?? []
    }
}

/// One arrival of a viewer trace (`ecdn simulate --trace`: `arrival_s,asn,content,bitrate_bps,view_s`).
public struct TraceArrival: Sendable, Equatable {
    public var arrival: Double
    public var group: String
    public var content: Int
    public var bitrate: Int
    public var view: Double

    public init(arrival: Double, group: String, content: Int, bitrate: Int, view: Double) {
        self.arrival = arrival
        self.group = group
        self.content = content
        self.bitrate = bitrate
        self.view = view
    }

    /// Parses the simulator's trace CSV (a header line, then rows). The second column (an AS in
    /// the simulator) is mapped to sites by the caller.
    /// - Throws: ``LoadError`` `badTrace` naming the line.
    public static func parse(csv: String) throws(LoadError) -> [TraceArrival] {
        var rows: [TraceArrival] = []
        for (number, line) in csv.split(separator: "\n").enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingOWS() }
            if number == 0, fields.first.map({ Double($0) == nil }) == true { continue }
            guard fields.count >= 5, let arrival = Double(fields[0]), let content = Int(fields[2]),
                  let bitrate = Double(fields[3]), let view = Double(fields[4]) else {
                throw LoadError(.badTrace, "line \(number + 1): '\(line)' is not arrival_s,asn,content,bitrate_bps,view_s")
            }
            rows.append(TraceArrival(arrival: arrival, group: String(fields[1]), content: content, bitrate: Int(bitrate), view: view))
        }
        return rows.sorted { $0.arrival < $1.arrival }
    }
}
