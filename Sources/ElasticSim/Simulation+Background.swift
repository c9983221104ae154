import Workload

extension Simulation {
    /// Background streams (CDNSim's `-backnoise`): `workload.backgroundStreams` at all times,
    /// each from a random content or transit AS to a random host (ASes in proportion to their
    /// hosts), at rung `int(triangular(-1, n/2, n))` (clamped to the ladder) for
    /// `triangular(600, 1800, 3600)` seconds, replaced by a new one when it ends. A stream is a
    /// flow capped at its rung on the tree path from where the sender's and the host's paths to
    /// the origin meet down to the host: links are full duplex, so the part going up the tree
    /// shares no link with viewer traffic and is left out. The streams present at time 0 have a
    /// uniform share of their duration left, so that they do not all end together.
    func startBackground() {
        let count = scenario.workload.backgroundStreams
        guard count > 0, !viewerNodes.isEmpty else { return }
        backgroundSenders = (0..<topology.count).filter { topology.role[$0] == .content || topology.role[$0] == .transit }
        if backgroundSenders.isEmpty { backgroundSenders = [topology.origin] }
        for _ in 0..<count { startBackgroundStream(initial: true) }
    }

    func startBackgroundStream(initial: Bool) {
        let n = bitrates.count
        let sender = backgroundSenders[min(backgroundSenders.count - 1, Int(backgroundRNG.unit() * Double(backgroundSenders.count)))]
        let host = viewerNodes[nodeChoice.draw(&backgroundRNG)]
        let rung = min(n - 1, max(0, Int(backgroundRNG.triangular(low: -1, mode: Double(n) / 2, high: Double(n)))))
        var seconds = backgroundRNG.triangular(low: 600, mode: 1800, high: 3600)
        if initial { seconds *= backgroundRNG.unit() }
        let g = group(path: backgroundPath(from: meetingPoint(sender, host), to: host), slot: 4 * n + 1 + rung)
        net.add(1, to: g, now: now)
        let id: Int32
        if let reused = freeBackground.popLast() {
            id = reused
            background[Int(id)] = g
        } else {
            id = Int32(background.count)
            background.append(g)
        }
        schedule(.backgroundEnd, at: now + seconds, target: id)
    }

    func handleBackgroundEnd(_ id: Int32) {
        net.remove(1, from: background[Int(id)], now: now)
        freeBackground.append(id)
        startBackgroundStream(initial: false)
    }

    /// The path of background streams from `source` down to `node`; it belongs to no site (its
    /// throughput is nobody's load).
    private func backgroundPath(from source: Int, to node: Int) -> Int32 {
        let key = source << 21 | node
        if let p = backgroundPaths[key] { return p }
        let p = net.path(topology.links(from: source, to: node).map { Int32($0) }, owner: -1)
        if Int(p) == pathSource.count {
            pathSource.append(Int32(source))
            pathGroups.append([])
        }
        backgroundPaths[key] = p
        return p
    }

    /// The lowest node on both nodes' paths to the origin.
    func meetingPoint(_ a: Int, _ b: Int) -> Int {
        var a = a
        var b = b
        while topology.depth[a] > topology.depth[b] { a = topology.parent[a] }
        while topology.depth[b] > topology.depth[a] { b = topology.parent[b] }
        while a != b {
            a = topology.parent[a]
            b = topology.parent[b]
        }
        return a
    }
}
