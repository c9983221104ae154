import Foundation

extension Report {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

    /// A self-contained HTML page comparing the scenarios side by side (no scripts, no external
    /// resources).
    public static func html(_ all: [SimulationResult]) -> String {
        let groups = Replicates.group(all)
        let results = groups.map(\.first)
        let colors = results.indices.map { palette[$0 % palette.count] }
        var body = ""
        body += "<h1>ecdn simulate — \(escape(results.map(\.name).joined(separator: ", ")))</h1>\n"
        if let first = results.first {
            let seeds = groups[0].runs.count > 1 ? "seeds \(first.seed)…\(first.seed + UInt64(groups[0].runs.count - 1)): the table shows means ± the half-width of the 95 % confidence interval, the charts the first seed" : "seed \(first.seed)"
            body += "<p class=meta>\(escape(first.topology)) · \(format(first.duration)) s simulated · \(seeds)</p>\n"
        }
        body += legend(results, colors)
        body += table(groups, colors)

        let bufferingCDF = results.map { cdfPoints($0.bufferingRatios) }
        let startupCDF = results.map { cdfPoints($0.startupDelays) }
        body += "<div class=grid>\n"
        body += figure("QoE against cost: buffering ratio (Pareto chart)", pareto(
            groups, colors, qoeKey: "buffering_ratio_mean", qoeLabel: "buffering ratio, mean over viewers"))
        body += figure("QoE against cost: start-up delay (Pareto chart)", pareto(
            groups, colors, qoeKey: "startup_delay_p95_s", qoeLabel: "start-up delay p95 (s)"))
        body += figure("Buffering ratio (CDF over viewers)", chart(
            series: bufferingCDF, colors: colors, xLabel: "buffering ratio (stall time / watch time)", yLabel: "share of viewers",
            yRange: (0, 1), xLog: false))
        body += figure("Start-up delay (CDF over viewers)", chart(
            series: startupCDF, colors: colors, xLabel: "start-up delay (s)", yLabel: "share of viewers", yRange: (0, 1), xLog: true))
        body += figure("Cache instances over time", chart(
            series: results.map { $0.series.map { ($0.time, Double($0.instances)) } }, colors: colors,
            xLabel: "time (s)", yLabel: "instances running", yRange: nil, xLog: false))
        body += figure("Origin egress over time", chart(
            series: results.map { $0.series.map { ($0.time, $0.originEgress / 1e9) } }, colors: colors,
            xLabel: "time (s)", yLabel: "Gb/s", yRange: nil, xLog: false))
        body += figure("Traffic: origin egress vs served by caches", bars(results, colors))
        body += figure("Viewers and stalled viewers over time", chart(
            series: results.map { $0.series.map { ($0.time, Double($0.viewers)) } }
                + results.map { $0.series.map { ($0.time, Double($0.stalled)) } },
            colors: colors + colors, dashed: Set(results.count..<(2 * results.count)),
            xLabel: "time (s) — solid: viewers, dashed: stalled", yLabel: "viewers", yRange: nil, xLog: false))
        for r in results where !r.missRatioCurves.isEmpty {
            let policies = ["lru", "s3fifo", "sieve"]
            body += figure("Miss-ratio curves: \(r.name) (solid: requests, dashed: bytes; \(policies.joined(separator: ", ")))", chart(
                series: policies.map { p in r.missRatioCurves.filter { $0.policy == p }.map { ($0.storage / 1e9, $0.missRatio) } }
                    + policies.map { p in r.missRatioCurves.filter { $0.policy == p }.map { ($0.storage / 1e9, $0.byteMissRatio) } },
                colors: Array(palette.prefix(3)) + Array(palette.prefix(3)), dashed: [3, 4, 5],
                xLabel: "storage per cache (GB) — blue LRU, red S3-FIFO, green SIEVE", yLabel: "miss ratio", yRange: (0, 1), xLog: true))
        }
        body += "</div>\n"
        body += sitesSection(results)
        return """
        <!doctype html>
        <html lang=en><head><meta charset=utf-8><title>ecdn simulate report</title>
        <meta name=viewport content="width=device-width, initial-scale=1">
        <style>
        body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1320px;color:#222;padding:0 16px}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 8px}.meta{color:#666;margin:0 0 16px}
        table{border-collapse:collapse;margin:8px 0 20px;font-variant-numeric:tabular-nums}.wide{overflow-x:auto}
        th,td{padding:4px 8px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}th{white-space:normal;vertical-align:bottom;font-size:12px}
        th{background:#f6f6f6;font-weight:600}td:first-child,th:first-child{text-align:left}
        .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(620px,1fr));gap:18px}
        figure{margin:0;border:1px solid #e4e4e4;border-radius:8px;padding:12px 12px 4px;background:#fff}
        .legend span{display:inline-block;margin:0 16px 6px 0}.swatch{display:inline-block;width:14px;height:4px;vertical-align:middle;margin-right:6px;border-radius:2px}
        svg text{font:11px system-ui,sans-serif;fill:#444}.axis{stroke:#999}.gridline{stroke:#eee}
        </style></head><body>
        \(body)
        <p class=meta>Generated by ecdn simulate. Files next to this page: summary.json, summary.csv and per-scenario CSV (time series, sites, QoE CDFs).</p>
        </body></html>

        """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func format(_ x: Double, digits: Int = 3) -> String {
        if x == 0 { return "0" }
        if abs(x) >= 1000 || x == x.rounded() && abs(x) < 1e15 {
            let formatter = NumberFormatter()
            formatter.numberStyle = .decimal
            formatter.maximumFractionDigits = 0
            return formatter.string(from: NSNumber(value: x.rounded())) ?? "\(x)"
        }
        return String(format: "%.\(digits)g", x)
    }

    static func bytes(_ x: Double) -> String {
        let units = [("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)]
        for (unit, size) in units where x >= size { return String(format: "%.2f %@", x / size, unit) }
        return "\(Int(x)) B"
    }

    static func legend(_ results: [SimulationResult], _ colors: [String]) -> String {
        "<p class=legend>" + results.indices.map {
            "<span><i class=swatch style=\"background:\(colors[$0])\"></i>\(escape(results[$0].name))</span>"
        }.joined() + "</p>\n"
    }

    static func table(_ groups: [Replicates], _ colors: [String]) -> String {
        let rows = groups.map { g in Dictionary(summary(g).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a }) }
        func value(_ row: [String: Any], _ key: String) -> Double { number(row[key] ?? 0) ?? 0 }
        /// The value, and ± its confidence half-width when there are several seeds.
        func cell(_ row: [String: Any], _ key: String, _ show: (Double) -> String) -> String {
            guard let ci = row["\(key)_ci95"].flatMap(number) else { return show(value(row, key)) }
            return "\(show(value(row, key))) ± \(show(ci))"
        }
        let baseline = rows.map { value($0, "origin_egress_bytes") }.max() ?? 0
        var out = "<div class=wide><table><tr><th>scenario</th><th>viewers</th><th>start-up p50 / p95 (s)</th><th>buffering ratio mean / p95</th><th>viewers with stalls</th><th>origin egress</th><th>served by caches</th><th>origin saved vs worst</th><th>instance-hours</th><th>boots</th><th>peak instances (max per AS)</th><th>site-hours</th><th>cost</th><th>events</th><th>wall (s)</th></tr>\n"
        for (i, row) in rows.enumerated() {
            let saved = baseline > 0 ? 1 - value(row, "origin_egress_bytes") / baseline : 0
            let four = { (x: Double) in String(format: "%.4f", x) }
            let percent = { (x: Double) in String(format: "%.1f%%", x * 100) }
            out += "<tr><td><i class=swatch style=\"background:\(colors[i])\"></i>\(escape(groups[i].name))</td>"
            out += "<td>\(cell(row, "viewers") { format($0) })</td>"
            out += "<td>\(cell(row, "startup_delay_p50_s") { format($0) }) / \(cell(row, "startup_delay_p95_s") { format($0) })</td>"
            out += "<td>\(cell(row, "buffering_ratio_mean", four)) / \(cell(row, "buffering_ratio_p95", four))</td>"
            out += "<td>\(cell(row, "viewers_with_stalls_share", percent))</td>"
            out += "<td>\(cell(row, "origin_egress_bytes", bytes))</td><td>\(cell(row, "cache_served_bytes", bytes))</td>"
            out += "<td>\(percent(saved))</td>"
            out += "<td>\(cell(row, "instance_seconds") { format($0 / 3600) })</td><td>\(cell(row, "instance_starts") { format($0) })</td>"
            out += "<td>\(cell(row, "peak_instances") { format($0) }) (\(cell(row, "peak_instances_per_site") { format($0) }))</td>"
            out += "<td>\(cell(row, "site_hours") { format($0) })</td><td>\(cell(row, "cost") { String(format: "%.2f", $0) })</td>"
            out += "<td>\(cell(row, "events") { format($0) })</td><td>\(String(format: "%.1f", value(row, "wall_seconds")))</td></tr>\n"
        }
        return out + "</table></div>\n"
    }

    static func figure(_ title: String, _ svg: String) -> String {
        "<figure><h2>\(escape(title))</h2>\(svg)</figure>\n"
    }

    /// Points of an empirical CDF, thinned to at most ~400.
    static func cdfPoints(_ values: [Double]) -> [(Double, Double)] {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return [] }
        let step = max(1, sorted.count / 400)
        var points: [(Double, Double)] = [(sorted[0], 0)]
        var i = 0
        while i < sorted.count {
            points.append((sorted[i], Double(i + 1) / Double(sorted.count)))
            i += step
        }
        points.append((sorted[sorted.count - 1], 1))
        return points
    }

    static func niceTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
        let span = max(high - low, 1e-12)
        let raw = span / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var ticks: [Double] = []
        var t = ceil(low / step) * step
        while t <= high + step * 1e-9 {
            ticks.append(t)
            t += step
        }
        return ticks
    }

    /// A line chart in SVG.
    static func chart(
        series: [[(Double, Double)]], colors: [String], dashed: Set<Int> = [], xLabel: String, yLabel: String,
        yRange: (Double, Double)?, xLog: Bool
    ) -> String {
        let width = 600.0, height = 300.0, left = 62.0, right = 14.0, top = 10.0, bottom = 42.0
        let all = series.flatMap { $0 }
        guard !all.isEmpty else { return "<p class=meta>no data</p>" }
        func tx(_ x: Double) -> Double { xLog ? log10(max(x, 1e-3)) : x }
        var xMin = all.map { tx($0.0) }.min()!
        var xMax = all.map { tx($0.0) }.max()!
        if xLog {
            xMin = floor(xMin)
            xMax = max(ceil(xMax), xMin + 1)
        } else {
            xMin = min(0, xMin)
            if xMax <= xMin { xMax = xMin + 1 }
        }
        let yMin = yRange?.0 ?? 0
        var yMax = yRange?.1 ?? (all.map(\.1).max()! * 1.08)
        if yMax <= yMin { yMax = yMin + 1 }
        func px(_ x: Double) -> Double { left + (tx(x) - xMin) / (xMax - xMin) * (width - left - right) }
        func py(_ y: Double) -> Double { top + (1 - (y - yMin) / (yMax - yMin)) * (height - top - bottom) }
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=img>"
        for t in niceTicks(yMin, yMax) {
            let y = py(t)
            svg += "<line class=gridline x1=\(left) x2=\(width - right) y1=\(y) y2=\(y) />"
            svg += "<text x=\(left - 6) y=\(y + 4) text-anchor=end>\(format(t))</text>"
        }
        let xTicks = xLog ? Array(stride(from: xMin, through: xMax, by: 1)).map { pow(10, $0) } : niceTicks(xMin, xMax)
        for t in xTicks {
            let x = px(t)
            svg += "<line class=gridline x1=\(x) x2=\(x) y1=\(top) y2=\(height - bottom) />"
            svg += "<text x=\(x) y=\(height - bottom + 15) text-anchor=middle>\(format(t))</text>"
        }
        svg += "<line class=axis x1=\(left) x2=\(width - right) y1=\(height - bottom) y2=\(height - bottom) />"
        svg += "<line class=axis x1=\(left) x2=\(left) y1=\(top) y2=\(height - bottom) />"
        svg += "<text x=\((left + width - right) / 2) y=\(height - 6) text-anchor=middle>\(escape(xLabel))</text>"
        svg += "<text transform=\"translate(14 \((top + height - bottom) / 2)) rotate(-90)\" text-anchor=middle>\(escape(yLabel))</text>"
        for (i, points) in series.enumerated() where !points.isEmpty {
            let d = points.map { String(format: "%.1f,%.1f", px($0.0), py(min(max($0.1, yMin), yMax))) }.joined(separator: " ")
            let dash = dashed.contains(i) ? " stroke-dasharray=\"5 4\"" : ""
            svg += "<polyline fill=none stroke=\"\(colors[i % colors.count])\" stroke-width=2\(dash) points=\"\(d)\" />"
        }
        return svg + "</svg>"
    }

    /// Grouped bars: origin egress and cache-served bytes per scenario.
    static func bars(_ results: [SimulationResult], _ colors: [String]) -> String {
        let width = 600.0, height = 300.0, left = 62.0, top = 10.0, bottom = 60.0, right = 14.0
        let maxBytes = max(results.map { max($0.originEgressBytes, $0.cacheServedBytes) }.max() ?? 1, 1) / 1e12 * 1.08
        let slot = (width - left - right) / Double(max(results.count, 1))
        func py(_ y: Double) -> Double { top + (1 - y / maxBytes) * (height - top - bottom) }
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=img>"
        for t in niceTicks(0, maxBytes) {
            svg += "<line class=gridline x1=\(left) x2=\(width - right) y1=\(py(t)) y2=\(py(t)) />"
            svg += "<text x=\(left - 6) y=\(py(t) + 4) text-anchor=end>\(format(t))</text>"
        }
        for (i, r) in results.enumerated() {
            let x = left + Double(i) * slot + slot * 0.15
            let w = slot * 0.35
            let origin = r.originEgressBytes / 1e12
            let cache = r.cacheServedBytes / 1e12
            svg += "<rect x=\(x) y=\(py(origin)) width=\(w) height=\(py(0) - py(origin)) fill=\"\(colors[i])\" />"
            svg += "<rect x=\(x + w) y=\(py(cache)) width=\(w) height=\(py(0) - py(cache)) fill=\"\(colors[i])\" fill-opacity=0.35 stroke=\"\(colors[i])\" />"
            svg += "<text x=\(x + w) y=\(height - bottom + 15) text-anchor=middle>\(escape(r.name))</text>"
        }
        svg += "<line class=axis x1=\(left) x2=\(width - right) y1=\(py(0)) y2=\(py(0)) />"
        svg += "<text x=\((left + width) / 2) y=\(height - 12) text-anchor=middle>solid: origin egress · light: served by caches (TB)</text>"
        svg += "<text transform=\"translate(14 \((top + height - bottom) / 2)) rotate(-90)\" text-anchor=middle>TB</text>"
        return svg + "</svg>"
    }

    static func sitesSection(_ results: [SimulationResult]) -> String {
        let withSites = results.filter { !$0.sites.isEmpty }
        guard !withSites.isEmpty else { return "" }
        var out = "<h2 style=\"margin-top:22px\">Busiest cache sites (per-AS peak instances, connections, throughput)</h2><div class=grid>"
        for r in withSites {
            out += "<figure><h2>\(escape(r.name))</h2><table><tr><th>AS</th><th>peak instances</th><th>peak per-content instances</th><th>peak connections</th><th>peak Gb/s</th></tr>"
            let top = r.sites.sorted {
                $0.peakConnections != $1.peakConnections ? $0.peakConnections > $1.peakConnections : $0.asn < $1.asn
            }.prefix(8)
            for s in top {
                out += "<tr><td>AS\(s.asn)</td><td>\(s.peakInstances)</td><td>\(s.peakContentInstances)</td><td>\(format(Double(s.peakConnections)))</td><td>\(String(format: "%.2f", s.peakThroughput / 1e9))</td></tr>"
            }
            out += "</table></figure>"
        }
        return out + "</div>\n"
    }
}
