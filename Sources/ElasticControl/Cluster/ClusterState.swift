import Synchronization

/// Stamps for ``ClusterState/sitesStamp`` and ``ClusterState/tenantsStamp``: unique across
/// every state of the process, so a state made from a fresh snapshot never repeats an old one.
private let stamps = Atomic<UInt64>(0)

/// The decoded content of the cluster's keys, as one member last saw it (``ClusterView``).
public struct ClusterState: Sendable {
    /// A placement with the revisions a transaction compares against.
    public struct Placement: Sendable, Equatable {
        public let record: PlacementRecord
        public let modRevision: Int64
        /// The record's data URL (``InstanceSpec/url``), made once: routers read it per viewer.
        public let url: String

        public init(record: PlacementRecord, modRevision: Int64) {
            self.record = record
            self.modRevision = modRevision
            self.url = record.spec.url
        }
    }

    public var sites: [String: SiteRecord] = [:] {
        didSet { if deferringIndexes { sitesChanged = true } else { indexSites() } }
    }
    public var tenants: [String: TenantRecord] = [:] {
        didSet { if deferringIndexes { tenantsChanged = true } else { indexTenants() } }
    }
    /// Inside ``applyAll(_:)``: the indexes are derived once at its end, not after every key
    /// (each derivation sorts every site).
    private var deferringIndexes = false
    private var sitesChanged = false
    private var tenantsChanged = false
    /// Changes whenever ``sites`` (``tenants``) changes: what a reader derives from them (a
    /// router's prefix table) is rebuilt only then, not on every request.
    public private(set) var sitesStamp: UInt64 = 0
    public private(set) var tenantsStamp: UInt64 = 0
    /// Each site's position in ``siteList`` (the policy's site number), kept with ``sites``.
    public private(set) var siteIndex: [String: Int] = [:]
    /// Each tenant's position in ``tenantList`` (the policy's content number).
    public private(set) var tenantIndex: [String: Int] = [:]
    /// The leading controller and the revision that created its key (its term).
    public var leader: (record: MemberRecord, createRevision: Int64)?
    public var controllers: [String: MemberRecord] = [:]
    /// Agents by site.
    public var agents: [String: MemberRecord] = [:]
    public var routers: [String: MemberRecord] = [:]
    /// Placements by site, then instance id.
    public var placements: [String: [String: Placement]] = [:]
    /// Slot holders by site, then slot.
    public var slots: [String: [Int: String]] = [:]
    /// Status by instance id.
    public var status: [String: StatusRecord] = [:]
    /// Demand by router, then site.
    public var demand: [String: [String: DemandRecord]] = [:]
    public var desired: [DesiredKey: Int] = [:]
    /// The newest revision applied.
    public var revision: Int64 = 0
    /// A snapshot has been applied.
    public var synced = false
    /// The watch is connected (false from a disconnection until the next event or snapshot).
    public var connected = false

    public init() {}

    /// Sites sorted by name.
    public var siteList: [SiteRecord] { sites.values.sorted { $0.name < $1.name } }
    /// Tenants sorted by name.
    public var tenantList: [TenantRecord] { tenants.values.sorted { $0.name < $1.name } }

    /// Placements of `tenant` at `site` that should run, with their status if reported.
    public func running(site: String, tenant: String) -> [(placement: PlacementRecord, status: StatusRecord?)] {
        (placements[site] ?? [:]).values.lazy.filter { $0.record.tenant == tenant && $0.record.want == .run }
            .map { ($0.record, status[$0.record.id]) }
    }

    /// Distinct viewers of `tenant` at `site` over every router's report (a viewer that two
    /// routers saw counts once), or of those sent to `instance`.
    public func viewers(site: String, tenant: String, instance: String? = nil) -> Int {
        Self.viewers(in: demand.values.lazy.compactMap { $0[site]?.tenants[tenant] }, instance: instance)
    }

    /// Distinct viewers over the routers' `reports` of one site and tenant, or of those sent to
    /// `instance` (``viewers(site:tenant:instance:)`` for a caller that has the reports).
    static func viewers(in reports: some Sequence<DemandRecord.Tenant>, instance: String? = nil) -> Int {
        var unsketched = 0
        var sketched: [(count: Int, sketch: ViewerSketch)] = []
        for report in reports {
            let (count, sketch) = instance.map { (report.instances[$0] ?? 0, report.instanceSketches?[$0]) } ?? (report.viewers, report.sketch)
            guard count > 0 else { continue }
            if let sketch {
                sketched.append((count, sketch))
            } else {
                unsketched += count
            }
        }
        // One router's own count is exact; the reports of several are merged.
        switch sketched.count {
        case 0:
            return unsketched
        case 1:
            return unsketched + sketched[0].count
        default:
            var union = sketched[0].sketch
            for s in sketched.dropFirst() { union.formUnion(s.sketch) }
            return unsketched + max(union.count, sketched.map { $0.count }.max() ?? 0)
        }
    }

    /// Whether some router's report says it sent `client` to `instance` (from the sketches, so
    /// possibly a false positive, never a miss for a reported viewer).
    public func wasSent(_ client: String, site: String, tenant: String, instance: String) -> Bool {
        demand.values.contains { reports in
            reports[site]?.tenants[tenant]?.instanceSketches?[instance]?.contains(client) ?? false
        }
    }

    /// Runs `changes` (many keys applied at once, such as a snapshot or a watch response) and
    /// derives ``siteIndex``, ``tenantIndex`` and their stamps once at the end.
    mutating func applyAll(_ changes: (inout ClusterState) -> Void) {
        deferringIndexes = true
        changes(&self)
        deferringIndexes = false
        if sitesChanged { indexSites() }
        if tenantsChanged { indexTenants() }
        sitesChanged = false
        tenantsChanged = false
    }

    private mutating func indexSites() {
        siteIndex = Dictionary(uniqueKeysWithValues: siteList.enumerated().map { ($1.name, $0) })
        sitesStamp = stamps.wrappingAdd(1, ordering: .relaxed).newValue
    }

    private mutating func indexTenants() {
        tenantIndex = Dictionary(uniqueKeysWithValues: tenantList.enumerated().map { ($1.name, $0) })
        tenantsStamp = stamps.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Applies one key's new value (nil: deleted).
    mutating func apply(key: String, keys: ClusterKeys, value: [UInt8]?, createRevision: Int64, modRevision: Int64) {
        let parts = keys.components(key)
        guard let kind = parts.first else { return }
        let name = parts.count > 1 ? String(parts[1]) : ""
        switch (kind, parts.count) {
        case ("sites", 2):
            sites[name] = value.flatMap { ClusterRecords.decode(SiteRecord.self, from: $0) }
        case ("tenants", 2):
            tenants[name] = value.flatMap { ClusterRecords.decode(TenantRecord.self, from: $0) }
        case ("leader", 1):
            leader = value.flatMap { ClusterRecords.decode(MemberRecord.self, from: $0) }.map { ($0, createRevision) }
        case ("controllers", 2):
            controllers[name] = value.flatMap { ClusterRecords.decode(MemberRecord.self, from: $0) }
        case ("agents", 2):
            agents[name] = value.flatMap { ClusterRecords.decode(MemberRecord.self, from: $0) }
        case ("routers", 2):
            routers[name] = value.flatMap { ClusterRecords.decode(MemberRecord.self, from: $0) }
        case ("placements", 3):
            let id = String(parts[2])
            placements[name, default: [:]][id] = value.flatMap { ClusterRecords.decode(PlacementRecord.self, from: $0) }
                .map { Placement(record: $0, modRevision: modRevision) }
            if placements[name]?.isEmpty == true { placements[name] = nil }
        case ("slots", 3):
            guard let slot = Int(parts[2]) else { return }
            slots[name, default: [:]][slot] = value.map { String(decoding: $0, as: UTF8.self) }
            if slots[name]?.isEmpty == true { slots[name] = nil }
        case ("status", 3):
            status[String(parts[2])] = value.flatMap { ClusterRecords.decode(StatusRecord.self, from: $0) }
        case ("demand", 3):
            demand[name, default: [:]][String(parts[2])] = value.flatMap { ClusterRecords.decode(DemandRecord.self, from: $0) }
            if demand[name]?.isEmpty == true { demand[name] = nil }
        case ("desired", 3):
            desired[DesiredKey(site: name, tenant: String(parts[2]))] = value.flatMap { ClusterRecords.decode(DesiredRecord.self, from: $0) }?.count
        default:
            break
        }
    }
}
