import Metrics
import Synchronization

/// Server-wide counters for the admin API, mirrored into swift-metrics handles created once.
///
/// Connection handlers add their counts once per read batch, not per request.
package final class ServerStats: Sendable {
    package let startTime: Int64
    package let connectionsOpen = Atomic<Int>(0)
    package let connectionsTotal = Atomic<Int>(0)
    package let connectionsRefused = Atomic<Int>(0)
    package let requests = Atomic<Int>(0)
    /// Body bytes of the responses sent (heads not counted).
    package let bytesSent = Atomic<Int>(0)
    package let upstreamFetches = Atomic<Int>(0)
    package let remounts = Atomic<Int>(0)
    /// Pull-through cache lookups answered from the volume, sent to the origin, and joined to a
    /// fetch in flight.
    package let cacheHits = Atomic<Int>(0)
    package let cacheMisses = Atomic<Int>(0)
    package let cacheCoalesced = Atomic<Int>(0)
    /// Stale cached responses served because the origin failed.
    package let cacheStale = Atomic<Int>(0)
    /// Conditional requests sent to revalidate stored responses, and their outcomes.
    package let cacheRevalidations = Atomic<Int>(0)
    package let cacheRevalidatedNotModified = Atomic<Int>(0)
    package let cacheRevalidatedChanged = Atomic<Int>(0)
    /// Origin exchanges that failed (connect error, timeout, reset, truncated body).
    package let originErrors = Atomic<Int>(0)
    /// Body bytes received from origins for cache fills, and body bytes served from stored responses.
    package let originBytes = Atomic<Int>(0)
    package let cacheBytesServed = Atomic<Int>(0)
    /// Clients cut because they fell further behind a relayed body than the backlog limit.
    package let relayClientsCut = Atomic<Int>(0)
    /// Signalled when bytes arrive from an origin (what makes the ``MemoryTrimmer`` look again).
    package let originActivity = ActivitySignal()
    private let status2xx = Atomic<Int>(0)
    private let status3xx = Atomic<Int>(0)
    private let status4xx = Atomic<Int>(0)
    private let status5xx = Atomic<Int>(0)

    private let requestCounters: [Counter]
    private let bytesCounter: Counter
    private let connectionsGauge: Meter
    private let acceptedCounter: Counter
    private let refusedCounter: Counter
    private let upstreamCounter: Counter
    private let remountCounter: Counter
    private let cacheCounters: [Counter]
    private let revalidationCounters: [Counter]
    private let originErrorCounter: Counter
    private let originBytesCounter: Counter
    private let cacheBytesCounter: Counter
    private let relayCutCounter: Counter

    package init(startTime: Int64, factory: any MetricsFactory) {
        self.startTime = startTime
        self.requestCounters = ["1xx", "2xx", "3xx", "4xx", "5xx"].map {
            Counter(label: "minicache_requests_total", dimensions: [("status", $0)], factory: factory)
        }
        self.bytesCounter = Counter(label: "minicache_response_bytes_total", factory: factory)
        self.connectionsGauge = Meter(label: "minicache_connections_open", factory: factory)
        self.acceptedCounter = Counter(label: "minicache_connections_total", factory: factory)
        self.refusedCounter = Counter(label: "minicache_connections_refused_total", factory: factory)
        self.upstreamCounter = Counter(label: "minicache_upstream_fetches_total", factory: factory)
        self.remountCounter = Counter(label: "minicache_remounts_total", factory: factory)
        self.cacheCounters = ["hit", "miss", "coalesced", "stale"].map {
            Counter(label: "minicache_cache_requests_total", dimensions: [("result", $0)], factory: factory)
        }
        self.revalidationCounters = ["sent", "not_modified", "changed"].map {
            Counter(label: "minicache_cache_revalidations_total", dimensions: [("result", $0)], factory: factory)
        }
        self.originErrorCounter = Counter(label: "minicache_origin_errors_total", factory: factory)
        self.originBytesCounter = Counter(label: "minicache_origin_bytes_total", factory: factory)
        self.cacheBytesCounter = Counter(label: "minicache_cache_hit_bytes_total", factory: factory)
        self.relayCutCounter = Counter(label: "minicache_relay_clients_cut_total", factory: factory)
    }

    package func relayClientCut() {
        self.relayClientsCut.add(1, ordering: .relaxed)
        self.relayCutCounter.increment()
    }

    /// Adds one batch of responses: counts per status class (index 1...5) and body bytes (a
    /// streamed or relayed body's bytes may come in later batches than its status).
    package func record(byClass: inout (Int, Int, Int, Int, Int), bytes: Int) {
        if bytes > 0 {
            self.bytesSent.add(bytes, ordering: .relaxed)
            self.bytesCounter.increment(by: Int64(bytes))
        }
        let total = byClass.0 + byClass.1 + byClass.2 + byClass.3 + byClass.4
        guard total > 0 else { return }
        self.requests.add(total, ordering: .relaxed)
        if byClass.1 > 0 {
            self.status2xx.add(byClass.1, ordering: .relaxed)
            self.requestCounters[1].increment(by: Int64(byClass.1))
        }
        if byClass.2 > 0 {
            self.status3xx.add(byClass.2, ordering: .relaxed)
            self.requestCounters[2].increment(by: Int64(byClass.2))
        }
        if byClass.3 > 0 {
            self.status4xx.add(byClass.3, ordering: .relaxed)
            self.requestCounters[3].increment(by: Int64(byClass.3))
        }
        if byClass.4 > 0 {
            self.status5xx.add(byClass.4, ordering: .relaxed)
            self.requestCounters[4].increment(by: Int64(byClass.4))
        }
        byClass = (0, 0, 0, 0, 0)
    }

    package func connectionOpened() {
        self.connectionsOpen.add(1, ordering: .relaxed)
        self.connectionsTotal.add(1, ordering: .relaxed)
        self.acceptedCounter.increment()
        self.connectionsGauge.increment()
    }

    package func connectionClosed() {
        self.connectionsOpen.subtract(1, ordering: .relaxed)
        self.connectionsGauge.decrement()
    }

    package func connectionRefused() {
        self.connectionsRefused.add(1, ordering: .relaxed)
        self.refusedCounter.increment()
    }

    package func cacheHit(count: Int = 1) {
        guard count > 0 else { return }
        self.cacheHits.add(count, ordering: .relaxed)
        self.cacheCounters[0].increment(by: Int64(count))
    }

    package func cacheStaleServed() {
        self.cacheStale.add(1, ordering: .relaxed)
        self.cacheCounters[3].increment()
    }

    package func cacheMiss(coalesced: Bool) {
        if coalesced {
            self.cacheCoalesced.add(1, ordering: .relaxed)
            self.cacheCounters[2].increment()
        } else {
            self.cacheMisses.add(1, ordering: .relaxed)
            self.cacheCounters[1].increment()
        }
    }

    package func cacheRevalidationStarted() {
        self.cacheRevalidations.add(1, ordering: .relaxed)
        self.revalidationCounters[0].increment()
    }

    /// A revalidation's answer: `304` (the stored body is reused) or a new response.
    package func cacheRevalidated(notModified: Bool) {
        if notModified {
            self.cacheRevalidatedNotModified.add(1, ordering: .relaxed)
            self.revalidationCounters[1].increment()
        } else {
            self.cacheRevalidatedChanged.add(1, ordering: .relaxed)
            self.revalidationCounters[2].increment()
        }
    }

    package func originFailed() {
        self.originErrors.add(1, ordering: .relaxed)
        self.originErrorCounter.increment()
    }

    package func originBytesReceived(_ count: Int) {
        self.originBytes.add(count, ordering: .relaxed)
        self.originBytesCounter.increment(by: Int64(count))
        self.originActivity.signal()
    }

    package func cacheBytesSent(_ count: Int) {
        guard count > 0 else { return }
        self.cacheBytesServed.add(count, ordering: .relaxed)
        self.cacheBytesCounter.increment(by: Int64(count))
    }

    package func upstreamFetchStarted() {
        self.upstreamFetches.add(1, ordering: .relaxed)
        self.upstreamCounter.increment()
    }

    package func remounted() {
        self.remounts.add(1, ordering: .relaxed)
        self.remountCounter.increment()
    }

    /// The cache's counters by name, for `/admin/status` (`"cache": {...}`).
    package var cacheCounts: [(String, Int)] {
        [
            ("hits", self.cacheHits.load(ordering: .relaxed)),
            ("misses", self.cacheMisses.load(ordering: .relaxed)),
            ("coalesced", self.cacheCoalesced.load(ordering: .relaxed)),
            ("staleServed", self.cacheStale.load(ordering: .relaxed)),
            ("revalidations", self.cacheRevalidations.load(ordering: .relaxed)),
            ("revalidatedNotModified", self.cacheRevalidatedNotModified.load(ordering: .relaxed)),
            ("revalidatedChanged", self.cacheRevalidatedChanged.load(ordering: .relaxed)),
            ("originErrors", self.originErrors.load(ordering: .relaxed)),
            ("originBytes", self.originBytes.load(ordering: .relaxed)),
            ("cacheBytesServed", self.cacheBytesServed.load(ordering: .relaxed)),
        ]
    }

    package var statusCounts: [String: Int] {
        [
            "2xx": self.status2xx.load(ordering: .relaxed), "3xx": self.status3xx.load(ordering: .relaxed),
            "4xx": self.status4xx.load(ordering: .relaxed), "5xx": self.status5xx.load(ordering: .relaxed),
        ]
    }
}
