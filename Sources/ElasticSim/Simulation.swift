import CacheEviction
import ElasticPolicy
import Foundation
import HeapModule
import Workload

/// One run of one scenario: a discrete-event simulation on a virtual clock. Single-threaded and
/// deterministic: the same scenario and seed give the same ``SimulationResult``.
package final class Simulation {
    let scenario: Scenario
    let topology: Topology
    let policy: any CachePolicy
    // The state every event reads and changes is not checked for exclusive access at run time
    // (one run is single-threaded; the checks cost more than the work in the rate-change loops).
    @exclusivity(unchecked) var net = FlowNetwork()
    @exclusivity(unchecked) var queue = Heap<Event>()
    @exclusivity(unchecked) var cohortQueue = CohortQueue()
    var sequence: UInt64 = 0
    @exclusivity(unchecked) package private(set) var now = 0.0
    package private(set) var eventCount = 0
    /// Lazy cohorts' wake-ups (``wakeCohort(_:)``): not events of the model.
    package internal(set) var wakeUps = 0

    var arrivalRNG: RandomSource
    var viewerRNG: RandomSource
    var backgroundRNG: RandomSource
    /// ASes that send background streams, and the group of each running stream.
    var backgroundSenders: [Int] = []
    var backgroundPaths: [Int: Int32] = [:]
    var background: [Int32] = []
    var freeBackground: [Int32] = []
    /// Bytes per second of each rung of the ladder.
    let bitrates: [Double]
    let accessCapacity: Double
    let contentChoice: WeightedChoice
    var contentCount: Int
    let nodeChoice: WeightedChoice
    let viewerNodes: [Int]
    var objectDuration: [Double] = []
    var profileIndex = 0

    @exclusivity(unchecked) var viewers: [Viewer] = []
    var freeViewers: [Int32] = []
    var activeViewers = 0
    var stalledViewers = 0

    @exclusivity(unchecked) var cohorts: [Cohort] = []
    var freeCohorts: [Int32] = []
    @exclusivity(unchecked) var primaryCohort: [Int: Int32] = [:]
    @exclusivity(unchecked) var touched: [Int32] = []
    @exclusivity(unchecked) var touchedMark: [Bool] = []
    /// Scratch list of ``Cohort/reschedule(_:net:viewers:now:in:groupInfo:touchedMark:queue:moved:)``.
    @exclusivity(unchecked) var movedCohorts: [Int32] = []

    var pathCache: [Int: Int32] = [:]
    var pathSource: [Int32] = []
    var pathGroups: [[Int32]] = []
    /// Per flow group: kind, slot, limiting fill, dependents and cohorts.
    @exclusivity(unchecked) var groupInfo = AlignedArray<GroupInfo>()
    /// The capacities of the large arrays last backed with huge pages (``HugePages``).
    var advisedCapacity = (cohorts: 0, viewers: 0)
    /// What ``prefetchRecords(of:)`` read, kept so that its loads are not optimised away.
    var prefetchSink: (Int32, Double) = (0, 0)
    /// Scratch list of ``uncapStarvedCohorts(of:)``.
    var movingCohorts: [Int32] = []

    var instances: [Instance] = []
    var freeInstances: [Int32] = []
    var freeLinks: [Int] = []
    var sites: [Int: SiteContent] = [:]
    var staticInstance: [Int32]
    var siteInstances: [Int]
    var sitePeakInstances: [Int]
    var siteConnections: [Int]
    var sitePeakConnections: [Int]
    /// Per node: its peak served throughput and the band of served rates that keeps its
    /// instance count (``SiteLoad``).
    @exclusivity(unchecked) var siteLoad: AlignedArray<SiteLoad>
    var runningInstances = 0
    /// VoD storage: per site (or per content instance), the objects it holds.
    var objectCaches: [Int: ByteBoundedCache<Int>] = [:]
    var cacheGeneration: [Int: Int32] = [:]
    var retiredCaches = 0
    var objectLog: [ObjectRequest] = []
    var objectRequests = 0
    var objectHits = 0
    var objectBytes = 0.0
    var objectHitBytes = 0.0
    /// The capacity model: per node, and its totals.
    @exclusivity(unchecked) var pools: AlignedArray<SitePool>
    var physicalSeconds = 0.0
    var physicalBoots = 0
    var siteSeconds = 0.0
    var runningPhysical = 0
    var peakPhysical = 0
    /// Static caches (they never stop).
    var staticInstances = 0
    var peakInstances = 0
    var instanceStarts = 0
    var instanceSeconds = 0.0

    var startupDelays: [Double] = []
    var bufferingRatios: [Double] = []
    var stallCounts: [Int] = []
    var viewerBitrates: [Double] = []
    var arrivals = 0
    var warmViewers = 0
    /// Set while the warm-start population is placed.
    var warmingUp = false
    var series: [SimulationResult.Sample] = []
    var trace: [SimulationResult.TraceRow]? = nil
    /// Arrivals given one by one instead of the Poisson process (tests, trace replay).
    package var scriptedArrivals: [ScriptedArrival] = []
    var scriptIndex = 0
    /// An arrival event is in the queue.
    var arrivalPending = false
    /// Instances started per node (CDNSim reports this as the AS's "max VMs").
    var siteStarts: [Int]

    /// One viewer arriving at a given time.
    package struct ScriptedArrival: Sendable {
        package var time: Double
        /// Index of the topology node.
        package var node: Int
        package var content: Int
        package var bitrateIndex: Int
        /// Seconds of content the viewer watches.
        package var seconds: Double

        package init(time: Double, node: Int, content: Int, bitrateIndex: Int, seconds: Double) {
            self.time = time
            self.node = node
            self.content = content
            self.bitrateIndex = bitrateIndex
            self.seconds = seconds
        }
    }

    /// Creates the run. The topology is loaded by the caller (so that a sweep loads it once).
    package init(scenario: Scenario, topology: Topology, recordTrace: Bool = false) {
        self.scenario = scenario
        self.topology = topology
        let caches = scenario.caches
        switch caches.mode {
        case .none, .static:
            policy = StaticCachePolicy(maxConnections: caches.instanceConnections ?? .max)
        case .elastic, .hierarchical:
            policy = ElasticCachePolicy(
                threshold: caches.threshold, bootTime: caches.bootTime, idleTimeout: caches.idleTimeout,
                waitForBoot: caches.waitForBoot,
                maxConnectionsPerInstance: caches.instanceConnections ?? .max,
                maxInstancesPerSite: caches.maxInstancesPerSite ?? .max)
        }
        arrivalRNG = RandomSource(seed: scenario.seed, stream: 1)
        viewerRNG = RandomSource(seed: scenario.seed, stream: 2)
        backgroundRNG = RandomSource(seed: scenario.seed, stream: 5)
        bitrates = scenario.workload.bitrates.map { $0 / 8 }
        accessCapacity = scenario.player.accessCapacity / 8
        let workload = scenario.workload
        if workload.mode == .vod {
            contentCount = workload.vodObjects
            contentChoice = .zipf(count: workload.vodObjects, exponent: workload.vodZipfExponent)
            var rng = RandomSource(seed: scenario.seed, stream: 3)
            objectDuration = (0..<workload.vodObjects).map { _ in
                rng.triangular(low: workload.vodDuration.low, mode: workload.vodDuration.mode, high: workload.vodDuration.high)
            }
        } else {
            contentCount = workload.channels
            contentChoice = .zipf(count: workload.channels, exponent: workload.zipfExponent)
        }
        let hosts = Self.placeHosts(topology: topology, total: workload.hosts)
        viewerNodes = hosts.indices.filter { hosts[$0] > 0 }
        nodeChoice = WeightedChoice(weights: viewerNodes.map { Double(hosts[$0]) })
        staticInstance = Array(repeating: -1, count: topology.count)
        siteInstances = Array(repeating: 0, count: topology.count)
        siteStarts = siteInstances
        pools = AlignedArray(repeating: SitePool(), count: topology.count)
        sitePeakInstances = siteInstances
        siteConnections = siteInstances
        sitePeakConnections = siteInstances
        siteLoad = AlignedArray(repeating: SiteLoad(), count: topology.count)
        for n in 0..<topology.count {
            _ = net.addLink(capacity: topology.uplinkCapacity[n] / 8)
        }
        if recordTrace { trace = [] }
    }

    /// Hosts per node, in proportion to address space (largest remainder).
    static func placeHosts(topology: Topology, total: Int) -> [Int] {
        let space = topology.addressSpace
        let sum = space.reduce(0, +)
        guard sum > 0 else { return Array(repeating: 0, count: space.count) }
        var hosts = space.map { Int((Double(total) * $0 / sum).rounded(.down)) }
        var rest = total - hosts.reduce(0, +)
        let order = space.indices.sorted {
            let a = Double(total) * space[$0] / sum - Double(hosts[$0])
            let b = Double(total) * space[$1] / sum - Double(hosts[$1])
            return a != b ? a > b : $0 < $1
        }
        for i in order where rest > 0 && space[i] > 0 {
            hosts[i] += 1
            rest -= 1
        }
        return hosts
    }

    func schedule(_ kind: Event.Kind, at time: Double, target: Int32 = 0, version: UInt32 = 0) {
        sequence += 1
        queue.insert(Event(time: time, sequence: sequence, kind: kind, target: target, version: version))
    }

    /// Runs to the end of the scenario, calling `progress` every few thousand events with the
    /// simulated time.
    package func run(progress: ((Double, Int) -> Void)? = nil) -> SimulationResult {
        let started = DispatchTime.now().uptimeNanoseconds
        setUpCaches()
        scriptedArrivals.sort { $0.time < $1.time }
        startBackground()
        if scenario.workload.warmStart && scriptedArrivals.isEmpty { warmStart() }
        if scriptedArrivals.first.map({ $0.time < 0 }) ?? false { warmStartFromScript() }
        settle()
        // The warm-start population's instances were running before the run began.
        if warmViewers > 0 {
            physicalBoots = 0
            for node in pools.indices { pools[node].boots = 0 }
        }
        if scriptedArrivals.isEmpty {
            scheduleNextArrival(after: 0)
        } else if scriptIndex < scriptedArrivals.count {
            schedule(.arrival, at: scriptedArrivals[scriptIndex].time)
            arrivalPending = true
        }
        schedule(.sample, at: 0)
        let end = scenario.duration
        var drained = false
        while true {
            // Cohort crossings and other events at the same time: other events first.
            let event = queue.min
            if let next = cohortQueue.min, next.time <= end, event.map({ next.time < $0.time }) ?? true {
                now = next.time
                // A lazy cohort's wake-up is not an event of the model.
                if cohorts[Int(next.cohort)].lazy {
                    wakeCohort(next.cohort)
                } else {
                    eventCount += 1
                    handleCohort(next.cohort)
                }
            } else if let event, event.time <= end {
                queue.removeMin()
                now = event.time
                switch event.kind {
                case .arrival: handleArrival()
                case .viewerEnd: handleViewerEnd(event.target, version: event.version)
                case .instanceReady: handleInstanceReady(event.target, version: event.version)
                case .instanceReview: handleInstanceReview(event.target, version: event.version)
                case .sample: takeSample()
                case .flowStart: handleFlowStart(event.target, version: event.version)
                case .backgroundEnd: handleBackgroundEnd(event.target)
                }
                eventCount += 1
            } else {
                break
            }
            settle()
            if eventCount & 0xFFF == 0 { progress?(now, eventCount) }
            // Every viewer has left, none will come and only permanent caches run: the run is
            // over (a workload that drains).
            if activeViewers == 0 && !arrivalPending && runningInstances == staticInstances && now > 0 {
                drained = true
                break
            }
        }
        if !drained { now = end }
        progress?(now, eventCount)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return finish(wallSeconds: wall)
    }

    /// Brings rates up to date after an event and reschedules the cohorts it touched.
    func settle() {
        while true {
            net.settle(now: now)
            let changed = net.takeChangedGroups()
            var relabelled = false
            // In chunks small enough for their records to stay in cache between the two passes.
            var start = 0
            while start < changed.count {
                let chunk = changed[start..<Swift.min(start + 256, changed.count)]
                start = chunk.endIndex
                prefetchRecords(of: chunk)
                for g in chunk {
                    // Fills have no cohorts of their own: they pass their rate on.
                    if groupInfo[Int(g)].kind == .fill {
                        relabelled = propagateFillLimits(g) || relabelled
                        continue
                    }
                    touchCohorts(of: g)
                    relabelled = uncapStarvedCohorts(of: g) || relabelled
                    refreshWatch(g)
                }
            }
            if !relabelled { break }
        }
        Cohort.reschedule(
            touched, net: &net, viewers: viewers, now: now, in: &cohorts, groupInfo: &groupInfo,
            touchedMark: &touchedMark, queue: &cohortQueue, moved: &movedCohorts)
        // A cohort that follows its group's rate again makes the group watched.
        for c in touched where !cohorts[Int(c)].lazy && cohorts[Int(c)].live { refreshWatch(cohorts[Int(c)].group) }
        touched.removeAll(keepingCapacity: true)
        for owner in net.takeChangedOwners() where Int(owner) < topology.count {
            let node = Int(owner)
            let bits = net.ownerRate[node] * 8
            let load = siteLoad[node]
            if bits > load.peakThroughput { siteLoad[node].peakThroughput = bits }
            // Within the band the site needs the instances it runs: nothing to count again.
            if !(bits > load.keepAbove && bits < load.keepBelow) { siteLoadChanged(node) }
        }
    }

    /// Reads the records that passing on the rates of `changed` will visit (each group's record,
    /// the network records and the records of a fill's first two dependents, a viewer group's
    /// first cohort) in loops
    /// of independent loads: at country scale they are cache misses, which overlap here instead
    /// of stalling the longer loop that uses them one group at a time.
    private func prefetchRecords(of changed: ArraySlice<Int32>) {
        guard changed.count > 64 else { return }
        var links: Int32 = 0
        for g in changed { links &+= groupInfo[Int(g)].firstDependent &+ groupInfo[Int(g)].firstCohort }
        var values = 0.0
        for g in changed {
            let info = groupInfo[Int(g)]
            if info.firstDependent >= 0 {
                values += net.limit(info.firstDependent)
                links &+= groupInfo[Int(info.firstDependent)].nextDependent
            }
            if info.firstCohort >= 0 { values += cohorts[Int(info.firstCohort)].rate }
        }
        // A fill's viewers fill their buffers in one group and play in another on the same
        // path: both follow the fill, the second (often idle) one a miss of its own.
        for g in changed {
            let first = groupInfo[Int(g)].firstDependent
            guard first >= 0 else { continue }
            let second = groupInfo[Int(first)].nextDependent
            if second >= 0 {
                values += net.limit(second)
                links &+= groupInfo[Int(second)].nextDependent
            }
        }
        prefetchSink = (links, values)
    }

    /// CDNSim's buffering ratio: buffering (start-up included) over buffering plus play time.
    static func cdnsimBufferingRatio(buffering: Double, play: Double) -> Double {
        buffering + play > 0 ? buffering / (buffering + play) : 0
    }

    /// Marks the cohorts of a group that follow its rate (not the lazy ones) touched.
    func touchCohorts(of g: Int32) {
        guard groupInfo[Int(g)].eagerCohorts > 0 else { return }
        var c = groupInfo[Int(g)].firstCohort
        while c >= 0 {
            if !cohorts[Int(c)].lazy { touch(c) }
            c = cohorts[Int(c)].nextInGroup
        }
    }

    /// Marks every cohort of a group touched, lazy ones too.
    func touchAllCohorts(of g: Int32) {
        var c = groupInfo[Int(g)].firstCohort
        while c >= 0 {
            touch(c)
            c = cohorts[Int(c)].nextInGroup
        }
    }

    func touch(_ c: Int32) {
        if !touchedMark[Int(c)] {
            touchedMark[Int(c)] = true
            touched.append(c)
        }
    }
}
