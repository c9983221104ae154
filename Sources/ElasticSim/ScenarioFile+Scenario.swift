import Foundation

extension ScenarioFile.Reader {
    static let scenarioKeys = ["name", "model", "seed", "duration", "sampleInterval", "topology", "workload", "player", "caches", "cost"]

    /// Decodes and checks one scenario object.
    func scenario(_ object: [String: Any]) throws(SimulationError) -> Scenario {
        try checkKeys(object, Self.scenarioKeys, at: "")
        var s = Scenario()
        guard let name = try string(object["name"], "name", default: nil), !name.isEmpty else {
            throw fail("name", "every scenario needs a non-empty \"name\"")
        }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw fail("name", "\"\(name)\" may only hold letters, digits, '-', '_' and '.' (it names output files)")
        }
        s.name = name
        s.model = Scenario.Model(rawValue: try string(object["model"], "model", default: "ecdn", allowed: Scenario.Model.allCases.map(\.rawValue))!)!
        s.seed = UInt64(try integer(object["seed"], "seed", default: 1, min: 0))
        s.duration = try number(object["duration"], "duration", default: s.duration, min: 0, exclusiveMin: true)
        s.sampleInterval = try number(object["sampleInterval"], "sampleInterval", default: s.sampleInterval, min: 0, exclusiveMin: true)
        guard s.duration / s.sampleInterval <= 1_000_000 else {
            throw fail("sampleInterval", "gives more than 1,000,000 samples over \(format(s.duration)) s; use a larger interval")
        }
        s.topology = try topology(section(object["topology"], "topology"))
        s.player = try player(section(object["player"], "player"))
        s.workload = try workload(section(object["workload"], "workload"), player: s.player, model: s.model)
        s.caches = try caches(section(object["caches"], "caches"), model: s.model)
        s.cost = try cost(section(object["cost"], "cost"))
        return s
    }

    func topology(_ o: [String: Any]) throws(SimulationError) -> Scenario.TopologyConfig {
        try checkKeys(o, ["country", "synthetic", "data", "minDaysSeen", "routing", "accessLinkGbps", "coreLinkGbps", "hopDelay"], at: "topology")
        var t = Scenario.TopologyConfig()
        if o["country"] != nil && o["synthetic"] != nil {
            throw fail("topology", "give either \"country\" or \"synthetic\", not both")
        }
        if let country = try string(o["country"], "topology.country", default: nil) {
            guard country.count == 2, country.allSatisfy({ $0.isLetter && $0.isLowercase }) else {
                throw fail("topology.country", "must be a two-letter lower-case country code such as \"de\", got \"\(country)\"")
            }
            t.source = .country(country)
        }
        if o["synthetic"] != nil {
            let syn = try section(o["synthetic"], "topology.synthetic")
            try checkKeys(syn, ["kind", "fanout", "depth", "nodes", "attach"], at: "topology.synthetic")
            let kind = try string(syn["kind"], "topology.synthetic.kind", default: "tree", allowed: ["tree", "barabasi-albert"])
            if kind == "tree" {
                let fanout = try integer(syn["fanout"], "topology.synthetic.fanout", default: 4, min: 1, max: 1000)
                let depth = try integer(syn["depth"], "topology.synthetic.depth", default: 3, min: 1, max: 12)
                guard pow(Double(fanout), Double(depth)) <= 2_000_000 else {
                    throw fail("topology.synthetic", "fanout^depth must stay <= 2,000,000 nodes")
                }
                t.source = .tree(fanout: fanout, depth: depth)
            } else {
                let nodes = try integer(syn["nodes"], "topology.synthetic.nodes", default: 200, min: 3, max: 2_000_000)
                let attach = try integer(syn["attach"], "topology.synthetic.attach", default: 2, min: 1, max: 50)
                guard attach < nodes - 1 else { throw fail("topology.synthetic.attach", "must be smaller than nodes - 1") }
                t.source = .barabasiAlbert(nodes: nodes, attach: attach)
            }
        }
        t.dataDirectory = try string(o["data"], "topology.data", default: nil)
        t.minDaysSeen = try integer(o["minDaysSeen"], "topology.minDaysSeen", default: t.minDaysSeen, min: 0)
        let routing = try string(o["routing"], "topology.routing", default: "country", allowed: Topology.Routing.allCases.map(\.rawValue))!
        t.routing = Topology.Routing(rawValue: routing)!
        t.accessLinkCapacity = try number(o["accessLinkGbps"], "topology.accessLinkGbps", default: 10, min: 0, exclusiveMin: true) * 1e9
        t.coreLinkCapacity = try number(o["coreLinkGbps"], "topology.coreLinkGbps", default: 40, min: 0, exclusiveMin: true) * 1e9
        t.hopDelay = try number(o["hopDelay"], "topology.hopDelay", default: t.hopDelay, min: 0, max: 10)
        return t
    }

    func player(_ o: [String: Any]) throws(SimulationError) -> Scenario.PlayerConfig {
        try checkKeys(o, ["startupBuffer", "resumeBuffer", "maxBuffer", "accessMbps"], at: "player")
        var p = Scenario.PlayerConfig()
        p.startupBuffer = try number(o["startupBuffer"], "player.startupBuffer", default: p.startupBuffer, min: 0, exclusiveMin: true)
        if o["resumeBuffer"] != nil {
            p.resumeBuffer = try number(o["resumeBuffer"], "player.resumeBuffer", default: 0, min: 0, exclusiveMin: true)
        }
        p.maxBuffer = try number(o["maxBuffer"], "player.maxBuffer", default: max(p.maxBuffer, p.startupBuffer), min: 0, exclusiveMin: true)
        guard p.maxBuffer >= p.startupBuffer, p.maxBuffer >= (p.resumeBuffer ?? 0) else {
            throw fail("player.maxBuffer", "must be at least startupBuffer and resumeBuffer (\(format(p.maxBuffer)) < \(format(max(p.startupBuffer, p.resumeBuffer ?? 0))))")
        }
        p.accessCapacity = try number(o["accessMbps"], "player.accessMbps", default: 25, min: 0, exclusiveMin: true) * 1e6
        return p
    }

    func workload(_ o: [String: Any], player: Scenario.PlayerConfig, model: Scenario.Model) throws(SimulationError) -> Scenario.WorkloadConfig {
        try checkKeys(o, [
            "mode", "hosts", "channels", "zipf", "bitratesMbps", "bitrateIndexMean", "bitrateAboveTop", "interarrival",
            "viewTime", "rate", "concurrentStreams", "profile", "flashCrowd", "warmStart", "vod", "trace", "backgroundStreams",
        ], at: "workload")
        var w = Scenario.WorkloadConfig()
        w.mode = Scenario.WorkloadConfig.Mode(rawValue: try string(o["mode"], "workload.mode", default: "live", allowed: ["live", "vod"])!)!
        w.hosts = try integer(o["hosts"], "workload.hosts", default: w.hosts, min: 1, max: 100_000_000)
        w.channels = try integer(o["channels"], "workload.channels", default: w.channels, min: 1, max: 1_000_000)
        w.zipfExponent = try number(o["zipf"], "workload.zipf", default: w.zipfExponent, min: 0)
        if let ladder = o["bitratesMbps"] {
            guard let array = ladder as? [Any], !array.isEmpty, array.count <= 15 else {
                throw fail("workload.bitratesMbps", "must be an array of 1 to 15 bitrates in Mb/s")
            }
            var rates: [Double] = []
            for (i, item) in array.enumerated() {
                let mbps = try number(item, "workload.bitratesMbps[\(i)]", default: 0, min: 0, exclusiveMin: true)
                guard mbps * 1e6 < player.accessCapacity else {
                    throw fail("workload.bitratesMbps[\(i)]", "\(format(mbps)) Mb/s does not fit the viewers' \(format(player.accessCapacity / 1e6)) Mb/s access link (player.accessMbps)")
                }
                rates.append(mbps * 1e6)
            }
            w.bitrates = rates
        } else if w.bitrates.contains(where: { $0 >= player.accessCapacity }) {
            throw fail("player.accessMbps", "must exceed the largest bitrate of the ladder (\(format(w.bitrates.max()! / 1e6)) Mb/s)")
        }
        w.bitrateIndexMean = try number(o["bitrateIndexMean"], "workload.bitrateIndexMean", default: w.bitrateIndexMean, min: 0, max: 50)
        let cdnsim = model == .cdnsim
        w.bitrateAboveTop = .init(rawValue: try string(
            o["bitrateAboveTop"], "workload.bitrateAboveTop", default: cdnsim ? "redraw" : "cap",
            allowed: Scenario.WorkloadConfig.BitrateAboveTop.allCases.map(\.rawValue))!)!
        if w.bitrateAboveTop == .redraw && w.bitrateIndexMean > Double(w.bitrates.count + 10) {
            throw fail("workload.bitrateIndexMean", "is far above the top rung (\(w.bitrates.count - 1)): redrawing would rarely land on the ladder; lower it or use bitrateAboveTop \"cap\"")
        }
        w.interarrival = .init(rawValue: try string(
            o["interarrival"], "workload.interarrival", default: cdnsim ? "gamma" : "exponential",
            allowed: Scenario.WorkloadConfig.Interarrival.allCases.map(\.rawValue))!)!
        w.viewTime = try triangle(o["viewTime"], "workload.viewTime", default: (60, 1800, 2700))
        guard w.viewTime.low > 0 else { throw fail("workload.viewTime[0]", "view times must be > 0") }
        if o["rate"] != nil && o["concurrentStreams"] != nil {
            throw fail("workload", "give either \"rate\" (viewers per second) or \"concurrentStreams\", not both")
        }
        var rate = 10_000 / w.meanViewTime
        if o["rate"] != nil {
            rate = try number(o["rate"], "workload.rate", default: 0, min: 0, exclusiveMin: true)
        }
        if o["concurrentStreams"] != nil {
            rate = Double(try integer(o["concurrentStreams"], "workload.concurrentStreams", default: 0, min: 1, max: 50_000_000)) / w.meanViewTime
        }
        w.arrivalProfile = [(0, rate)]
        if let profile = o["profile"] {
            guard let rows = profile as? [Any], !rows.isEmpty else {
                throw fail("workload.profile", "must be a non-empty array of [time, rate] rows")
            }
            var parsed: [(time: Double, rate: Double)] = []
            for (i, row) in rows.enumerated() {
                guard let pair = row as? [Any], pair.count == 2 else {
                    throw fail("workload.profile[\(i)]", "must be [time in s, viewers per second]")
                }
                let t = try number(pair[0], "workload.profile[\(i)][0]", default: 0, min: 0)
                let r = try number(pair[1], "workload.profile[\(i)][1]", default: 0, min: 0)
                if let last = parsed.last, t <= last.time {
                    throw fail("workload.profile[\(i)][0]", "times must increase (\(format(t)) after \(format(last.time)))")
                }
                parsed.append((t, r))
            }
            if parsed[0].time > 0 { parsed.insert((0, rate), at: 0) }
            w.arrivalProfile = parsed
        }
        if o["flashCrowd"] != nil {
            let f = try section(o["flashCrowd"], "workload.flashCrowd")
            try checkKeys(f, ["start", "duration", "factor"], at: "workload.flashCrowd")
            let start = try number(f["start"], "workload.flashCrowd.start", default: 600, min: 0)
            let length = try number(f["duration"], "workload.flashCrowd.duration", default: 300, min: 0, exclusiveMin: true)
            let factor = try number(f["factor"], "workload.flashCrowd.factor", default: 10, min: 0)
            var profile = w.arrivalProfile
            func rate(at t: Double) -> Double { profile.last(where: { $0.time <= t })?.rate ?? 0 }
            let after = rate(at: start + length)
            let during = rate(at: start) * factor
            profile.removeAll { $0.time >= start && $0.time <= start + length }
            profile.append((start, during))
            profile.append((start + length, after))
            profile.sort { $0.time < $1.time }
            w.arrivalProfile = profile
        }
        w.warmStart = try bool(o["warmStart"], "workload.warmStart", default: w.warmStart)
        w.backgroundStreams = try integer(o["backgroundStreams"], "workload.backgroundStreams", default: 0, min: 0, max: 50_000_000)
        if let trace = try string(o["trace"], "workload.trace", default: nil) {
            guard !trace.isEmpty else { throw fail("workload.trace", "must name a CSV file") }
            // Relative to the scenario file's folder.
            w.trace = trace.hasPrefix("/") ? trace : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(trace).path
        }
        if o["vod"] != nil {
            let v = try section(o["vod"], "workload.vod")
            try checkKeys(v, ["objects", "zipf", "duration"], at: "workload.vod")
            w.vodObjects = try integer(v["objects"], "workload.vod.objects", default: w.vodObjects, min: 1, max: 10_000_000)
            w.vodZipfExponent = try number(v["zipf"], "workload.vod.zipf", default: w.vodZipfExponent, min: 0)
            w.vodDuration = try triangle(v["duration"], "workload.vod.duration", default: (120, 1200, 5400))
            guard w.vodDuration.low > 0 else { throw fail("workload.vod.duration[0]", "durations must be > 0") }
        }
        return w
    }

    func caches(_ o: [String: Any], model: Scenario.Model) throws(SimulationError) -> Scenario.CacheConfig {
        try checkKeys(o, [
            "mode", "staticPercent", "placement", "threshold", "bootTime", "idleTimeout", "waitForBoot",
            "instanceGbps", "instanceConnections", "maxInstancesPerSite", "instances", "instanceSize", "storageGB", "eviction",
        ], at: "caches")
        var c = Scenario.CacheConfig()
        c.mode = Scenario.CacheConfig.Mode(rawValue: try string(o["mode"], "caches.mode", default: "none", allowed: ["none", "static", "elastic", "hierarchical"])!)!
        c.staticPercent = try number(o["staticPercent"], "caches.staticPercent", default: c.staticPercent, min: 0, max: 100)
        c.placement = Scenario.CacheConfig.Placement(rawValue: try string(o["placement"], "caches.placement", default: "random", allowed: ["random", "most-populated"])!)!
        c.threshold = try integer(o["threshold"], "caches.threshold", default: c.threshold, min: 1)
        c.bootTime = try number(o["bootTime"], "caches.bootTime", default: c.bootTime, min: 0, max: 86_400)
        c.idleTimeout = try number(o["idleTimeout"], "caches.idleTimeout", default: c.idleTimeout, min: 0)
        c.waitForBoot = try bool(o["waitForBoot"], "caches.waitForBoot", default: c.waitForBoot)
        if o["instanceGbps"] != nil {
            c.instanceCapacity = try number(o["instanceGbps"], "caches.instanceGbps", default: 0, min: 0, exclusiveMin: true) * 1e9
        }
        if o["instanceConnections"] != nil {
            c.instanceConnections = try integer(o["instanceConnections"], "caches.instanceConnections", default: 0, min: 1)
        }
        if o["maxInstancesPerSite"] != nil {
            c.maxInstancesPerSite = try integer(o["maxInstancesPerSite"], "caches.maxInstancesPerSite", default: 0, min: 0)
        }
        c.instances = .init(rawValue: try string(
            o["instances"], "caches.instances", default: model == .cdnsim ? "per-content" : "shared",
            allowed: Scenario.CacheConfig.Instances.allCases.map(\.rawValue))!)!
        if o["instanceSize"] != nil {
            let size = try section(o["instanceSize"], "caches.instanceSize")
            try checkKeys(size, ["gbps", "connections", "memoryMiB"], at: "caches.instanceSize")
            c.instanceSize.capacity = try number(size["gbps"], "caches.instanceSize.gbps", default: 10, min: 0, exclusiveMin: true) * 1e9
            c.instanceSize.connections = try integer(size["connections"], "caches.instanceSize.connections", default: 10_000, min: 1)
            c.instanceSize.memoryMiB = try number(size["memoryMiB"], "caches.instanceSize.memoryMiB", default: 9, min: 0)
        }
        if o["storageGB"] is NSNull {
            c.storage = nil
        } else if o["storageGB"] != nil {
            c.storage = try number(o["storageGB"], "caches.storageGB", default: 100, min: 0, exclusiveMin: true) * 1e9
        }
        c.eviction = .init(rawValue: try string(
            o["eviction"], "caches.eviction", default: "lru",
            allowed: Scenario.CacheConfig.EvictionChoice.allCases.map(\.rawValue))!)!
        return c
    }

    func cost(_ o: [String: Any]) throws(SimulationError) -> Scenario.CostConfig {
        try checkKeys(o, ["siteHour", "instanceHour", "memoryGiBHour", "boot", "transitGB"], at: "cost")
        var c = Scenario.CostConfig()
        c.siteHour = try number(o["siteHour"], "cost.siteHour", default: c.siteHour, min: 0)
        c.instanceHour = try number(o["instanceHour"], "cost.instanceHour", default: c.instanceHour, min: 0)
        c.memoryGiBHour = try number(o["memoryGiBHour"], "cost.memoryGiBHour", default: c.memoryGiBHour, min: 0)
        c.boot = try number(o["boot"], "cost.boot", default: c.boot, min: 0)
        c.transitGB = try number(o["transitGB"], "cost.transitGB", default: c.transitGB, min: 0)
        return c
    }
}
