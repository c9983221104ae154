import Workload

extension Simulation {
    /// Arrival rate in effect at `time` (piecewise constant profile).
    func arrivalRate(at time: Double) -> Double {
        var rate = 0.0
        for row in scenario.workload.arrivalProfile where row.time <= time { rate = row.rate }
        return rate
    }

    /// Draws the next Poisson arrival after `time`, redrawing at each profile step (the
    /// exponential gap is memoryless, so this is exact for a piecewise constant rate).
    func scheduleNextArrival(after time: Double) {
        var t = time
        let profile = scenario.workload.arrivalProfile
        while t < scenario.duration {
            let rate = arrivalRate(at: t)
            let nextStep = profile.first(where: { $0.time > t })?.time ?? .infinity
            if rate <= 0 {
                guard nextStep.isFinite else { return }
                t = nextStep
                continue
            }
            let candidate = t + gap(rate: rate)
            if candidate < nextStep {
                schedule(.arrival, at: candidate)
                arrivalPending = true
                return
            }
            t = nextStep
        }
    }

    /// The gap to the next arrival at `rate` arrivals per second.
    func gap(rate: Double) -> Double {
        switch scenario.workload.interarrival {
        case .exponential: arrivalRNG.exponential(rate: rate)
        case .gamma: arrivalRNG.gamma(shape: 1 / rate)
        }
    }

    /// A new viewer: where, what, which bitrate, how long.
    func drawViewer(arrival: Double) -> Viewer {
        let node = viewerNodes[nodeChoice.draw(&arrivalRNG)]
        let content = contentChoice.draw(&arrivalRNG)
        var index = arrivalRNG.poisson(mean: scenario.workload.bitrateIndexMean)
        switch scenario.workload.bitrateAboveTop {
        case .cap:
            index = min(index, bitrates.count - 1)
        case .redraw:
            while index >= bitrates.count { index = arrivalRNG.poisson(mean: scenario.workload.bitrateIndexMean) }
        }
        let view = scenario.workload.viewTime
        var seconds = arrivalRNG.triangular(low: view.low, mode: view.mode, high: view.high)
        if scenario.workload.mode == .vod { seconds = min(seconds, objectDuration[content]) }
        trace?.append(SimulationResult.TraceRow(
            arrival: arrival, asn: topology.asn[node], content: content,
            bitrate: scenario.workload.bitrates[index], viewSeconds: seconds))
        return Viewer(
            node: Int32(node), content: Int32(content), bitrateIndex: Int32(index), bitrate: bitrates[index],
            arrival: arrival, total: seconds * bitrates[index])
    }

    func addViewer(_ viewer: Viewer) -> Int32 {
        activeViewers += 1
        if let v = freeViewers.popLast() {
            let version = viewers[Int(v)].version &+ 1
            viewers[Int(v)] = viewer
            viewers[Int(v)].version = version
            return v
        }
        viewers.append(viewer)
        HugePages.adviseIfGrown(&viewers, advised: &advisedCapacity.viewers)
        return Int32(viewers.count - 1)
    }

    func handleArrival() {
        arrivals += 1
        arrivalPending = false
        if scriptIndex < scriptedArrivals.count {
            let a = scriptedArrivals[scriptIndex]
            scriptIndex += 1
            let v = addViewer(Viewer(
                node: Int32(a.node), content: Int32(a.content), bitrateIndex: Int32(a.bitrateIndex),
                bitrate: bitrates[a.bitrateIndex], arrival: now, total: a.seconds * bitrates[a.bitrateIndex]))
            routeViewer(v, warm: false)
            if scriptIndex < scriptedArrivals.count {
                schedule(.arrival, at: scriptedArrivals[scriptIndex].time)
                arrivalPending = true
            }
            return
        }
        let v = addViewer(drawViewer(arrival: now))
        routeViewer(v, warm: false)
        scheduleNextArrival(after: now)
    }

    /// Fills the system with the streams a stationary system holds at time 0: arrivals of the
    /// past `high` seconds at the initial rate, kept if still watching. They play from a full
    /// buffer and their caches are up.
    func warmStart() {
        let rate = arrivalRate(at: 0)
        guard rate > 0 else { return }
        warmingUp = true
        defer { warmingUp = false }
        let horizon = scenario.workload.viewTime.high
        var t = -horizon
        while true {
            t += gap(rate: rate)
            if t >= 0 { break }
            var viewer = drawViewer(arrival: t)
            let remaining = viewer.total / viewer.bitrate + t
            guard remaining > 0 else { continue }
            viewer.total = remaining * viewer.bitrate
            viewer.warm = true
            viewer.started = true
            warmViewers += 1
            let v = addViewer(viewer)
            routeViewer(v, warm: true)
        }
    }

    /// Replays `arrivals` instead of the synthetic workload (a trace): contents beyond the
    /// configured channels or catalogue are added, and a VoD object lasts at least as long as
    /// anyone watches it.
    package func replay(_ arrivals: [ScriptedArrival]) {
        scriptedArrivals = arrivals
        let most = arrivals.map(\.content).max() ?? -1
        contentCount = max(contentCount, most + 1)
        guard scenario.workload.mode == .vod else { return }
        if objectDuration.count < contentCount {
            objectDuration += Array(repeating: 0, count: contentCount - objectDuration.count)
        }
        for a in arrivals { objectDuration[a.content] = max(objectDuration[a.content], a.seconds) }
    }

    /// A trace's viewers from before time 0 that still watch at time 0 start playing from a full
    /// buffer, as a warm start's do.
    func warmStartFromScript() {
        warmingUp = true
        defer { warmingUp = false }
        while scriptIndex < scriptedArrivals.count, scriptedArrivals[scriptIndex].time < 0 {
            let a = scriptedArrivals[scriptIndex]
            scriptIndex += 1
            let remaining = a.seconds + a.time
            guard remaining > 0 else { continue }
            var viewer = Viewer(
                node: Int32(a.node), content: Int32(a.content), bitrateIndex: Int32(a.bitrateIndex),
                bitrate: bitrates[a.bitrateIndex], arrival: a.time, total: remaining * bitrates[a.bitrateIndex])
            viewer.warm = true
            viewer.started = true
            warmViewers += 1
            routeViewer(addViewer(viewer), warm: true)
        }
    }

    func handleViewerEnd(_ v: Int32, version: UInt32) {
        let viewer = viewers[Int(v)]
        guard viewer.phase == .drained, viewer.version == version else { return }
        recordQoE(viewer)
        viewers[Int(v)].phase = .gone
        viewers[Int(v)].version &+= 1
        activeViewers -= 1
        leaveSite(v)
        freeViewers.append(v)
    }

    func recordQoE(_ viewer: Viewer) {
        guard !viewer.warm else { return }
        var stall = viewer.stallTime
        if viewer.phase == .waiting && viewer.started { stall += now - viewer.stallStart }
        switch scenario.model {
        case .ecdn:
            let watched = viewer.phase == .drained ? viewer.total / viewer.bitrate : currentPlayed(viewer) / viewer.bitrate
            if watched > 0 { bufferingRatios.append(stall / watched) }
        case .cdnsim:
            bufferingRatios.append(Self.cdnsimBufferingRatio(buffering: viewer.startupDelay + stall, play: viewer.total / viewer.bitrate))
        }
        stallCounts.append(Int(viewer.stalls))
        viewerBitrates.append(scenario.workload.bitrates[Int(viewer.bitrateIndex)])
    }

    func currentPlayed(_ viewer: Viewer) -> Double {
        viewer.phase == .playing && viewer.cohort >= 0
            ? min(viewer.bitrate * now - viewer.playOrigin, viewer.total) : viewer.played
    }
}
