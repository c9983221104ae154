import Foundation

/// Writes the results of a sweep: `summary.json`, `summary.csv`, per-scenario CSV files and a
/// self-contained `report.html`.
public enum Report {
    /// The keys of one `summary.json` object, in a stable order.
    public static func summary(_ r: SimulationResult) -> [(String, Any)] {
        [
            ("name", r.name),
            ("topology", r.topology),
            ("seed", r.seed),
            ("simulated_seconds", r.duration),
            ("viewers", r.viewers),
            ("warm_start_viewers", r.warmViewers),
            ("viewers_not_started", r.viewersNotStarted),
            ("startup_delay_p50_s", SimulationResult.quantile(r.startupDelays, 0.5)),
            ("startup_delay_p95_s", SimulationResult.quantile(r.startupDelays, 0.95)),
            ("startup_delay_p99_s", SimulationResult.quantile(r.startupDelays, 0.99)),
            ("buffering_ratio_mean", r.bufferingRatioMean),
            ("buffering_ratio_p50", SimulationResult.quantile(r.bufferingRatios, 0.5)),
            ("buffering_ratio_p95", r.bufferingRatioP95),
            ("viewers_with_stalls_share", r.stallCounts.isEmpty ? 0 : Double(r.stallCounts.filter { $0 > 0 }.count) / Double(r.stallCounts.count)),
            ("stalls_mean", r.stallCounts.isEmpty ? 0 : Double(r.stallCounts.reduce(0, +)) / Double(r.stallCounts.count)),
            ("bitrate_mean_bps", SimulationResult.mean(r.bitrates)),
            ("origin_egress_bytes", r.originEgressBytes),
            ("cache_served_bytes", r.cacheServedBytes),
            ("viewer_bytes", r.viewerBytes),
            ("cache_hit_ratio", r.cacheHitRatio),
            ("access_link_bytes", r.accessLinkBytes),
            ("core_link_bytes", r.coreLinkBytes),
            ("background_bytes", r.backgroundBytes),
            ("instance_seconds", r.instanceSeconds),
            ("instance_starts", r.instanceStarts),
            ("peak_instances", r.peakInstances),
            ("peak_instances_per_site", r.sites.map(\.peakInstances).max() ?? 0),
            ("site_hours", r.siteSeconds / 3600),
            ("content_instance_seconds", r.contentInstanceSeconds),
            ("content_instance_starts", r.contentInstanceStarts),
            ("peak_content_instances", r.peakContentInstances),
            ("vod_requests", r.objectRequests),
            ("vod_hit_ratio", r.objectRequests > 0 ? Double(r.objectHits) / Double(r.objectRequests) : 0),
            ("vod_byte_hit_ratio", r.objectBytes > 0 ? r.objectHitBytes / r.objectBytes : 0),
            ("cost", r.cost.total),
            ("cost_sites", r.cost.sites),
            ("cost_instances", r.cost.instances),
            ("cost_memory", r.cost.memory),
            ("cost_boots", r.cost.boots),
            ("cost_transit", r.cost.transit),
            ("events", r.events),
            ("flow_recomputations", r.flowRecomputations),
            ("wall_seconds", r.wallSeconds),
            ("events_per_second", r.wallSeconds > 0 ? Double(r.events) / r.wallSeconds : 0),
            ("sim_wall_ratio", r.wallSeconds > 0 ? r.duration / r.wallSeconds : 0),
        ]
    }

    /// The keys of one scenario's `summary.json` object over its seeds: each numeric key is the
    /// mean over the runs and gains `KEY_ci95`, the half-width of its 95 % confidence interval;
    /// `seed` is the first seed and `seeds` their number. One run gives ``summary(_:)-swift.type.method``.
    public static func summary(_ group: Replicates) -> [(String, Any)] {
        guard group.runs.count > 1 else { return summary(group.first) }
        let rows = group.runs.map { summary($0) }
        var out: [(String, Any)] = []
        for (i, (key, value)) in rows[0].enumerated() {
            if key == "seed" {
                out.append((key, value))
                out.append(("seeds", group.runs.count))
                continue
            }
            guard number(value) != nil else {
                out.append((key, value))
                continue
            }
            let (mean, halfWidth) = Replicates.meanAndCI95(rows.map { number($0[i].1) ?? 0 })
            out.append((key, mean))
            out.append(("\(key)_ci95", halfWidth))
        }
        return out
    }

    static func number(_ value: Any) -> Double? {
        switch value {
        case let x as Double: x
        case let x as Int: Double(x)
        case let x as UInt64: Double(x)
        default: nil
        }
    }

    /// `summary.json`: a JSON array with one object per scenario (its seeds aggregated), keys sorted.
    public static func summaryJSON(_ results: [SimulationResult]) -> Data {
        let array = Replicates.group(results).map { g -> [String: Any] in
            Dictionary(uniqueKeysWithValues: summary(g).map { ($0.0, $0.1) })
        }
        let data = (try? JSONSerialization.data(withJSONObject: array, options: [.prettyPrinted, .sortedKeys])) ?? Data("[]".utf8)
        return data + Data("\n".utf8)
    }

    /// Writes every output file into `directory` (created if needed) and returns their paths.
    @discardableResult
    public static func write(_ results: [SimulationResult], to directory: String, tracePath: String? = nil) throws(SimulationError) -> [String] {
        var written: [String] = []
        func put(_ name: String, _ data: Data) throws(SimulationError) {
            let path = "\(directory)/\(name)"
            do {
                try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw SimulationError(.outputFailed, path, "cannot write: \(error.localizedDescription)")
            }
            written.append(path)
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SimulationError(.outputFailed, "--out \(directory)", "cannot create the output folder: \(error.localizedDescription)")
        }
        try put("summary.json", summaryJSON(results))
        try put("summary.csv", Data(summaryCSV(results).utf8))
        if results.count > Replicates.group(results).count {
            try put("runs.csv", Data(runsCSV(results).utf8))
        }
        for r in Replicates.group(results).map(\.first) {
            try put("\(r.name)-timeseries.csv", Data(timeSeriesCSV(r).utf8))
            try put("\(r.name)-sites.csv", Data(sitesCSV(r).utf8))
            try put("\(r.name)-qoe-cdf.csv", Data(cdfCSV(r).utf8))
            if !r.missRatioCurves.isEmpty { try put("\(r.name)-mrc.csv", Data(missRatioCSV(r).utf8)) }
        }
        try put("report.html", Data(html(results).utf8))
        if let tracePath {
            do {
                try Data(traceCSV(results).utf8).write(to: URL(fileURLWithPath: tracePath), options: .atomic)
            } catch {
                throw SimulationError(.outputFailed, "--trace \(tracePath)", "cannot write: \(error.localizedDescription)")
            }
            written.append(tracePath)
        }
        return written
    }

    static func csvField(_ value: Any) -> String {
        let s = "\(value)"
        return s.contains(",") || s.contains("\"") ? "\"\(s.replacingOccurrences(of: "\"", with: "\"\""))\"" : s
    }

    /// `summary.csv`: the rows of `summary.json`, one per scenario.
    public static func summaryCSV(_ results: [SimulationResult]) -> String {
        let groups = Replicates.group(results)
        guard let first = groups.first else { return "" }
        var out = summary(first).map(\.0).joined(separator: ",") + "\n"
        for g in groups {
            out += summary(g).map { csvField($0.1) }.joined(separator: ",") + "\n"
        }
        return out
    }

    /// `runs.csv` (written with several seeds): one row per run.
    public static func runsCSV(_ results: [SimulationResult]) -> String {
        guard let first = results.first else { return "" }
        var out = summary(first).map(\.0).joined(separator: ",") + "\n"
        for r in results {
            out += summary(r).map { csvField($0.1) }.joined(separator: ",") + "\n"
        }
        return out
    }

    public static func timeSeriesCSV(_ r: SimulationResult) -> String {
        var out = "time_s,viewers,stalled_viewers,instances,origin_egress_bps,cache_served_bps\n"
        for s in r.series {
            out += "\(s.time),\(s.viewers),\(s.stalled),\(s.instances),\(s.originEgress),\(s.cacheServed)\n"
        }
        return out
    }

    public static func sitesCSV(_ r: SimulationResult) -> String {
        var out = "asn,peak_instances,peak_content_instances,peak_connections,peak_throughput_bps,instance_starts,content_instance_starts\n"
        for s in r.sites.sorted(by: { $0.peakInstances != $1.peakInstances ? $0.peakInstances > $1.peakInstances : $0.asn < $1.asn }) {
            out += "\(s.asn),\(s.peakInstances),\(s.peakContentInstances),\(s.peakConnections),\(s.peakThroughput),\(s.instanceStarts),\(s.contentInstanceStarts)\n"
        }
        return out
    }

    /// Miss-ratio curves: per storage size and policy, the share of requests and of bytes that missed.
    public static func missRatioCSV(_ r: SimulationResult) -> String {
        var out = "storage_bytes,policy,miss_ratio,byte_miss_ratio\n"
        for p in r.missRatioCurves {
            out += "\(p.storage),\(p.policy),\(p.missRatio),\(p.byteMissRatio)\n"
        }
        return out
    }

    /// Empirical CDFs of start-up delay and buffering ratio at 101 quantiles.
    public static func cdfCSV(_ r: SimulationResult) -> String {
        var out = "quantile,startup_delay_s,buffering_ratio\n"
        let startup = r.startupDelays.sorted()
        let buffering = r.bufferingRatios.sorted()
        func at(_ sorted: [Double], _ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count - 1)))]
        }
        for i in 0...100 {
            let p = Double(i) / 100
            out += "\(p),\(at(startup, p)),\(at(buffering, p))\n"
        }
        return out
    }

    /// The viewer trace: one row per arrival of the first scenario that recorded one.
    public static func traceCSV(_ results: [SimulationResult]) -> String {
        var out = "arrival_s,asn,content,bitrate_bps,view_s\n"
        guard let rows = results.first(where: { $0.trace != nil })?.trace else { return out }
        for row in rows.sorted(by: { $0.arrival < $1.arrival }) {
            out += "\(row.arrival),\(row.asn),\(row.content),\(row.bitrate),\(row.viewSeconds)\n"
        }
        return out
    }
}
