/// A key and its value as etcd stores it, with its revisions.
public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    /// The revision that created the key (0: absent).
    public var createRevision: Int64
    /// The revision of its last change.
    public var modRevision: Int64
    /// Changes since creation (1 after the first put).
    public var version: Int64
    /// The lease the key is attached to (0: none).
    public var lease: Int64

    public init(key: String, value: [UInt8], createRevision: Int64 = 0, modRevision: Int64 = 0, version: Int64 = 0, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    /// The value as UTF-8 text.
    public var text: String { String(decoding: value, as: UTF8.self) }
}

/// One change a watch saw.
public struct EtcdEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case put, delete }
    public var kind: Kind
    /// After a put: the new key-value; after a delete: the key and the deleting revision.
    public var keyValue: EtcdKeyValue

    public init(kind: Kind, keyValue: EtcdKeyValue) {
        self.kind = kind
        self.keyValue = keyValue
    }
}

/// A granted lease: keys attached to it vanish when it is not kept alive for `ttl` seconds.
public struct EtcdLease: Sendable, Hashable {
    public var id: Int64
    /// Time to live in seconds, as granted (etcd may raise a short one to its minimum).
    public var ttl: Int64

    public init(id: Int64, ttl: Int64) {
        self.id = id
        self.ttl = ttl
    }
}

/// A condition of a transaction on one key, or on every key under a prefix.
public struct EtcdCompare: Sendable, Equatable {
    public enum Relation: Sendable, Equatable { case equal, notEqual, greater, less }
    public enum Target: Sendable, Equatable {
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
        case lease(Int64)
    }

    public var key: String
    /// Compare every key under `key` as a prefix.
    public var prefix: Bool
    public var relation: Relation
    public var target: Target

    public init(key: String, prefix: Bool = false, _ relation: Relation, _ target: Target) {
        self.key = key
        self.prefix = prefix
        self.relation = relation
        self.target = target
    }

    /// The key does not exist.
    public static func absent(_ key: String) -> EtcdCompare { EtcdCompare(key: key, .equal, .createRevision(0)) }
    /// The key exists and was created at `revision` (the same incarnation).
    public static func created(_ key: String, at revision: Int64) -> EtcdCompare { EtcdCompare(key: key, .equal, .createRevision(revision)) }
    /// The key was last changed at `revision` (0: absent).
    public static func unchanged(_ key: String, since revision: Int64) -> EtcdCompare { EtcdCompare(key: key, .equal, .modRevision(revision)) }
    /// No key under `prefix` changed after `revision`.
    public static func prefixUnchanged(_ prefix: String, since revision: Int64) -> EtcdCompare {
        EtcdCompare(key: prefix, prefix: true, .less, .modRevision(revision + 1))
    }
}

/// One operation of a transaction.
public enum EtcdOperation: Sendable, Equatable {
    case put(key: String, value: [UInt8], lease: Int64 = 0)
    case delete(key: String)
    case deletePrefix(String)
    case get(key: String)
    case getPrefix(String)
}

/// What a transaction did.
public struct EtcdTxnResult: Sendable {
    /// Whether every comparison held (the success branch ran).
    public var succeeded: Bool
    /// The store's revision after the transaction.
    public var revision: Int64
    /// For each `get`/`getPrefix` of the branch that ran, in order: what it read.
    public var reads: [[EtcdKeyValue]]
}

/// A consistent read of every key under a prefix.
public struct EtcdSnapshot: Sendable {
    public var keyValues: [EtcdKeyValue]
    /// The store's revision at the read; watch from `revision + 1` to miss nothing.
    public var revision: Int64
}

/// What an observation of a prefix delivers (see ``EtcdClient/observe(prefix:)``).
public enum EtcdUpdate: Sendable {
    /// Everything under the prefix, after a start or when the watch fell behind a compaction:
    /// replace the local view.
    case snapshot(EtcdSnapshot)
    /// Changes in revision order; `revision` is the newest one seen.
    case events([EtcdEvent], revision: Int64)
    /// The cluster cannot be reached; the observation keeps trying and resumes from the last
    /// revision it saw (or with a new snapshot when that was compacted).
    case disconnected(EtcdError)
}

/// A member's view of the cluster (``EtcdClient/status()``).
public struct EtcdStatus: Sendable {
    public var version: String
    public var memberID: UInt64
    public var leaderID: UInt64
    public var raftTerm: UInt64
    public var revision: Int64
    public var dbSize: Int64
}

extension String {
    /// The end of the key range that holds every key starting with this prefix.
    package var etcdPrefixEnd: [UInt8] {
        var bytes = Array(utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0]
    }
}
