import Foundation

extension Report {
    /// The scenarios of a sweep on a plane of cost (x) and a QoE figure where lower is better
    /// (y), with ± confidence bars over seeds and the Pareto frontier: the scenarios no other one
    /// beats on both.
    static func pareto(_ groups: [Replicates], _ colors: [String], qoeKey: String, qoeLabel: String) -> String {
        let rows = groups.map { g in Dictionary(summary(g).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a }) }
        func value(_ i: Int, _ key: String) -> Double { number(rows[i][key] ?? 0) ?? 0 }
        let points = groups.indices.map { i in
            (x: value(i, "cost"), y: value(i, qoeKey), dx: value(i, "cost_ci95"), dy: value(i, "\(qoeKey)_ci95"))
        }
        guard !points.isEmpty else { return "<p class=meta>no data</p>" }
        let frontier = paretoFrontier(points.map { ($0.x, $0.y) })
        let width = 600.0, height = 300.0, left = 62.0, right = 14.0, top = 10.0, bottom = 42.0
        let xMax = max(points.map { $0.x + $0.dx }.max() ?? 1, 1e-9) * 1.08
        let yMax = max(points.map { $0.y + $0.dy }.max() ?? 1, 1e-9) * 1.12
        func px(_ x: Double) -> Double { left + x / xMax * (width - left - right) }
        func py(_ y: Double) -> Double { top + (1 - y / yMax) * (height - top - bottom) }
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=img>"
        for t in niceTicks(0, yMax) {
            svg += "<line class=gridline x1=\(left) x2=\(width - right) y1=\(py(t)) y2=\(py(t)) />"
            svg += "<text x=\(left - 6) y=\(py(t) + 4) text-anchor=end>\(format(t))</text>"
        }
        for t in niceTicks(0, xMax) {
            svg += "<line class=gridline x1=\(px(t)) x2=\(px(t)) y1=\(top) y2=\(height - bottom) />"
            svg += "<text x=\(px(t)) y=\(height - bottom + 15) text-anchor=middle>\(format(t))</text>"
        }
        svg += "<line class=axis x1=\(left) x2=\(width - right) y1=\(height - bottom) y2=\(height - bottom) />"
        svg += "<line class=axis x1=\(left) x2=\(left) y1=\(top) y2=\(height - bottom) />"
        svg += "<text x=\((left + width - right) / 2) y=\(height - 6) text-anchor=middle>cost of the run (see the cost model) — dashed: Pareto frontier</text>"
        svg += "<text transform=\"translate(14 \((top + height - bottom) / 2)) rotate(-90)\" text-anchor=middle>\(escape(qoeLabel))</text>"
        if frontier.count > 1 {
            let d = frontier.map { String(format: "%.1f,%.1f", px(points[$0].x), py(points[$0].y)) }.joined(separator: " ")
            svg += "<polyline fill=none stroke=\"#444\" stroke-width=1.5 stroke-dasharray=\"5 4\" points=\"\(d)\" />"
        }
        for (i, p) in points.enumerated() {
            let color = colors[i % colors.count]
            if p.dx > 0 { svg += "<line x1=\(px(p.x - p.dx)) x2=\(px(p.x + p.dx)) y1=\(py(p.y)) y2=\(py(p.y)) stroke=\"\(color)\" />" }
            if p.dy > 0 { svg += "<line x1=\(px(p.x)) x2=\(px(p.x)) y1=\(py(p.y - p.dy)) y2=\(py(p.y + p.dy)) stroke=\"\(color)\" />" }
            let onFrontier = frontier.contains(i)
            svg += "<circle cx=\(px(p.x)) cy=\(py(p.y)) r=\(onFrontier ? 6 : 4) fill=\"\(color)\"\(onFrontier ? " stroke=\"#222\" stroke-width=1.5" : "") />"
            svg += "<text x=\(px(p.x) + 8) y=\(py(p.y) - 6)>\(escape(groups[i].name))</text>"
        }
        return svg + "</svg>"
    }

    /// Indices of the points no other point beats on both coordinates (lower is better), by
    /// increasing x.
    static func paretoFrontier(_ points: [(x: Double, y: Double)]) -> [Int] {
        let order = points.indices.sorted { points[$0].x != points[$1].x ? points[$0].x < points[$1].x : points[$0].y < points[$1].y }
        var frontier: [Int] = []
        var best = Double.infinity
        for i in order where points[i].y < best {
            frontier.append(i)
            best = points[i].y
        }
        return frontier
    }
}
