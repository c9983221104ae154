import ElasticPolicy
import Workload

extension Simulation {
    /// Places static caches (random with the seed, or the most populated ASes).
    func setUpCaches() {
        guard scenario.caches.mode == .static else { return }
        let candidates = viewerNodes
        let count = Int((Double(candidates.count) * scenario.caches.staticPercent / 100).rounded())
        var chosen: [Int]
        switch scenario.caches.placement {
        case .mostPopulated:
            chosen = candidates.sorted {
                topology.addressSpace[$0] != topology.addressSpace[$1]
                    ? topology.addressSpace[$0] > topology.addressSpace[$1] : $0 < $1
            }
        case .random:
            var rng = RandomSource(seed: scenario.seed, stream: 4)
            chosen = candidates
            for i in stride(from: chosen.count - 1, to: 0, by: -1) {
                chosen.swapAt(i, Int(rng.unit() * Double(i + 1)))
            }
        }
        for node in chosen.prefix(count) {
            staticInstance[node] = startInstance(node: node, content: -1, warm: true)
            staticInstances += 1
        }
    }

    func siteKey(node: Int, content: Int) -> Int { node * contentCount + content }

    /// What the policy sees of a content at a node.
    func observation(node: Int, content: Int, viewers count: Int) -> ContentObservation {
        let ids: [Int32]
        if scenario.caches.mode == .static || scenario.caches.mode == .none {
            ids = staticInstance[node] >= 0 ? [staticInstance[node]] : []
        } else {
            ids = sites[siteKey(node: node, content: content)]?.instances ?? []
        }
        let states = ids.map { id -> InstanceState in
            let instance = instances[Int(id)]
            return InstanceState(
                id: Int(id), phase: instance.ready ? .ready : .booting(readyAt: instance.readyAt),
                connections: instance.connections, idleSince: instance.idleSince)
        }
        return ContentObservation(
            site: topology.asn[node], content: content, viewers: count, instances: states,
            siteInstances: siteInstances[node], now: now)
    }

    /// Sends a viewer to a cache or the origin, as the policy decides.
    func routeViewer(_ v: Int32, warm: Bool) {
        let node = Int(viewers[Int(v)].node)
        let content = Int(viewers[Int(v)].content)
        let key = siteKey(node: node, content: content)
        sites[key, default: SiteContent()].viewers += 1
        let decision = policy.route(observation(node: node, content: content, viewers: sites[key]!.viewers))
        var instance: Int32 = -1
        if decision.start {
            instance = startInstance(node: node, content: content, warm: warm)
        }
        let origin = path(from: topology.origin, to: node, instanceLink: -1)
        switch decision.route {
        case .cache(let id):
            connect(v, to: Int32(id))
        case .waitForBoot(let id):
            connect(v, to: Int32(id))
        case .waitForNewInstance:
            connect(v, to: instance)
        case .bypass(let id):
            bypass(v, to: Int32(id), origin: origin, warm: warm)
        case .bypassToNewInstance:
            bypass(v, to: instance, origin: origin, warm: warm)
        case .origin:
            viewers[Int(v)].path = origin
            begin(v, warm: warm)
        }
    }

    /// On the origin now, on the instance once it is ready (at once if it already is: a warm
    /// start or a zero boot time).
    private func bypass(_ v: Int32, to id: Int32, origin: Int32, warm: Bool) {
        guard id >= 0, !instances[Int(id)].ready else {
            if id >= 0 {
                connect(v, to: id)
            } else {
                viewers[Int(v)].path = origin
                begin(v, warm: warm)
            }
            return
        }
        let node = Int(instances[Int(id)].node)
        viewers[Int(v)].path = origin
        viewers[Int(v)].instance = id
        viewers[Int(v)].bypassing = true
        changeConnections(id, by: 1)
        instances[Int(id)].idleSince = nil
        instances[Int(id)].pending.append(v)
        siteConnections[node] += 1
        sitePeakConnections[node] = max(sitePeakConnections[node], siteConnections[node])
        siteLoadChanged(node)
        begin(v, warm: warm)
    }

    /// Attaches a viewer to an instance: served now if it is ready, else pending.
    private func connect(_ v: Int32, to id: Int32) {
        let node = Int(instances[Int(id)].node)
        viewers[Int(v)].instance = id
        changeConnections(id, by: 1)
        instances[Int(id)].idleSince = nil
        siteConnections[node] += 1
        sitePeakConnections[node] = max(sitePeakConnections[node], siteConnections[node])
        siteLoadChanged(node)
        if instances[Int(id)].ready {
            viewers[Int(v)].path = path(from: node, to: Int(viewers[Int(v)].node), instanceLink: instances[Int(id)].link)
            addFillDemand(v)
            begin(v, warm: viewers[Int(v)].warm)
        } else {
            viewers[Int(v)].phase = .pending
            instances[Int(id)].pending.append(v)
        }
    }

    /// Starts a routed viewer's download; a warm viewer starts playing with a full buffer.
    private func begin(_ v: Int32, warm: Bool) {
        guard warm else {
            startFlow(v)
            return
        }
        let viewer = viewers[Int(v)]
        viewers[Int(v)].phase = .playing
        viewers[Int(v)].played = 0
        viewers[Int(v)].offset = min(scenario.player.maxBuffer * viewer.bitrate, viewer.total)
        viewers[Int(v)].capped = true
        attach(v)
    }

    /// Starts an instance; warm instances (at time 0) are ready at once.
    func startInstance(node: Int, content: Int, warm: Bool) -> Int32 {
        let boot = bootTime(node: node, warm: warm)
        var instance = Instance(
            node: Int32(node), content: Int32(content), ready: boot == 0, readyAt: now + boot, started: now)
        instance.idleSince = now
        if let capacity = scenario.caches.instanceCapacity {
            if let link = freeLinks.popLast() {
                net.setCapacity(capacity / 8, of: link)
                instance.link = Int32(link)
            } else {
                instance.link = Int32(net.addLink(capacity: capacity / 8))
            }
        }
        let id: Int32
        if let reused = freeInstances.popLast() {
            id = reused
            instance.version = instances[Int(id)].version &+ 1
            instances[Int(id)] = instance
        } else {
            id = Int32(instances.count)
            instances.append(instance)
        }
        if content >= 0 {
            sites[siteKey(node: node, content: content), default: SiteContent()].instances.append(id)
        }
        siteInstances[node] += 1
        sitePeakInstances[node] = max(sitePeakInstances[node], siteInstances[node])
        if content >= 0 && scenario.caches.instances == .perContent { pools[node].contentNeed += 1 }
        runningInstances += 1
        peakInstances = max(peakInstances, runningInstances)
        if !warm { instanceStarts += 1 }
        siteStarts[node] += 1
        if boot > 0 {
            schedule(.instanceReady, at: now + boot, target: id, version: instance.version)
        }
        siteLoadChanged(node)
        return id
    }

    func handleInstanceReady(_ id: Int32, version: UInt32) {
        guard instances[Int(id)].live, instances[Int(id)].version == version else { return }
        instances[Int(id)].ready = true
        let node = Int(instances[Int(id)].node)
        let pending = instances[Int(id)].pending
        instances[Int(id)].pending = []
        for v in pending where viewers[Int(v)].instance == id {
            // A slot can be listed twice (a viewer left and its slot was reused); the flags
            // make the second visit a no-op.
            guard viewers[Int(v)].bypassing || viewers[Int(v)].phase == .pending else { continue }
            let p = path(from: node, to: Int(viewers[Int(v)].node), instanceLink: instances[Int(id)].link)
            if viewers[Int(v)].bypassing {
                viewers[Int(v)].bypassing = false
                if viewers[Int(v)].phase != .drained {
                    // Counted first: the viewer joins the groups that follow the fill.
                    addFillDemand(v)
                    reroute(v, to: p)
                }
            } else {
                viewers[Int(v)].path = p
                addFillDemand(v)
                startFlow(v)
            }
        }
        if instances[Int(id)].connections == 0 {
            review(node: node, content: Int(instances[Int(id)].content))
        }
    }

    func handleInstanceReview(_ id: Int32, version: UInt32) {
        guard instances[Int(id)].live, instances[Int(id)].version == version else { return }
        review(node: Int(instances[Int(id)].node), content: Int(instances[Int(id)].content))
    }

    /// A viewer left: free its connection and let the policy stop idle instances.
    func leaveSite(_ v: Int32) {
        let viewer = viewers[Int(v)]
        let node = Int(viewer.node)
        let key = siteKey(node: node, content: Int(viewer.content))
        sites[key]?.viewers -= 1
        let id = viewer.instance
        if id >= 0 {
            let site = Int(instances[Int(id)].node)
            changeConnections(id, by: -1)
            siteConnections[site] -= 1
            siteLoadChanged(site)
            if instances[Int(id)].connections == 0 {
                instances[Int(id)].idleSince = now
                if instances[Int(id)].content >= 0 {
                    review(node: site, content: Int(instances[Int(id)].content))
                }
            }
        }
        if let site = sites[key], site.viewers == 0, site.instances.isEmpty {
            sites[key] = nil
        }
    }

    func review(node: Int, content: Int) {
        guard content >= 0 else { return }
        let key = siteKey(node: node, content: content)
        let decision = policy.review(observation(node: node, content: content, viewers: sites[key]?.viewers ?? 0))
        for id in decision.stop { stopInstance(Int32(id)) }
        if let at = decision.reviewAt, let first = sites[key]?.instances.first {
            instances[Int(first)].version &+= 1
            schedule(.instanceReview, at: at, target: first, version: instances[Int(first)].version)
        }
        if let site = sites[key], site.viewers == 0, site.instances.isEmpty {
            sites[key] = nil
        }
    }

    func stopInstance(_ id: Int32) {
        let instance = instances[Int(id)]
        guard instance.live else { return }
        let node = Int(instance.node)
        for (fillKey, fill) in instance.fills.sorted(by: { $0.key < $1.key }) {
            net.remove(1, from: fill.group, now: now)
            if fill.upstream >= 0 { releaseUpstream(fill.upstream, key: fillKey) }
        }
        instances[Int(id)].fills = [:]
        instances[Int(id)].live = false
        instances[Int(id)].version &+= 1
        if instance.link >= 0 { freeLinks.append(Int(instance.link)) }
        let key = siteKey(node: node, content: Int(instance.content))
        sites[key]?.instances.removeAll { $0 == id }
        siteInstances[node] -= 1
        runningInstances -= 1
        instanceSeconds += now - instance.started
        if instance.content >= 0 && scenario.caches.instances == .perContent {
            pools[node].contentNeed -= instancesNeeded(connections: instance.connections, bitsPerSecond: 0)
        }
        siteLoadChanged(node)
        if objectStorage && storageKey(of: id) >= topology.count { dropStorage(storageKey(of: id)) }
        freeInstances.append(id)
    }

    // MARK: Cache fills

    /// A viewer now downloads from its instance: the instance needs the viewer's content and
    /// bitrate from upstream.
    func addFillDemand(_ v: Int32) {
        let viewer = viewers[Int(v)]
        guard viewer.instance >= 0, !viewer.fillCounted else { return }
        if objectStorage && requestObject(v) { return }
        viewers[Int(v)].fillCounted = true
        let key = Int(viewer.content) << 4 | Int(viewer.bitrateIndex)
        increaseFillDemand(viewer.instance, key: key)
    }

    private func increaseFillDemand(_ id: Int32, key: Int) {
        instances[Int(id)].fillDemand[key, default: 0] += 1
        if instances[Int(id)].fillDemand[key] == 1 && instances[Int(id)].fills[key] == nil {
            startFill(id, key: key)
        }
    }

    /// The last downloader of `key` at an instance is gone: stop its fill.
    private func decreaseFillDemand(_ id: Int32, key: Int) {
        instances[Int(id)].fillDemand[key, default: 1] -= 1
        guard instances[Int(id)].fillDemand[key] == 0 else { return }
        instances[Int(id)].fillDemand[key] = nil
        if let fill = instances[Int(id)].fills.removeValue(forKey: key) {
            net.remove(1, from: fill.group, now: now)
            if fill.upstream >= 0 { releaseUpstream(fill.upstream, key: key) }
        }
    }

    func releaseFillDemand(_ v: Int32) {
        let viewer = viewers[Int(v)]
        guard viewer.fillCounted else { return }
        viewers[Int(v)].fillCounted = false
        decreaseFillDemand(viewer.instance, key: Int(viewer.content) << 4 | Int(viewer.bitrateIndex))
    }

    /// One flow at the bitrate from the origin, or in hierarchical mode from the nearest
    /// upstream cache (started there on demand).
    private func startFill(_ id: Int32, key: Int) {
        let node = Int(instances[Int(id)].node)
        var upstream: Int32 = -1
        let parent = topology.parent[node]
        if scenario.caches.mode == .hierarchical && parent >= 0 && parent != topology.origin {
            upstream = acquireUpstream(node: parent, key: key)
        }
        let g = fillGroup(node: node, bitrateIndex: key & 0xF)
        net.add(1, to: g, now: now)
        instances[Int(id)].fills[key] = (g, upstream)
    }

    /// The instance at `node` that feeds a downstream cache with `key`, started if needed;
    /// it counts the downstream cache as one connection and fills from further upstream.
    private func acquireUpstream(node: Int, key: Int) -> Int32 {
        let content = key >> 4
        let siteKey = siteKey(node: node, content: content)
        let id: Int32
        if let existing = sites[siteKey]?.instances.first {
            id = existing
        } else {
            // Upstream instances serve at once: their boot overlaps the downstream one.
            id = startInstance(node: node, content: content, warm: warmingUp)
            instances[Int(id)].ready = true
        }
        changeConnections(id, by: 1)
        instances[Int(id)].idleSince = nil
        siteLoadChanged(node)
        increaseFillDemand(id, key: key)
        return id
    }

    private func releaseUpstream(_ id: Int32, key: Int) {
        guard instances[Int(id)].live else { return }
        changeConnections(id, by: -1)
        siteLoadChanged(Int(instances[Int(id)].node))
        decreaseFillDemand(id, key: key)
        if instances[Int(id)].connections == 0 {
            instances[Int(id)].idleSince = now
            review(node: Int(instances[Int(id)].node), content: key >> 4)
        }
    }
}
