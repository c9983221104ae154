import Synchronization

/// The origin fetches in flight, by cache key: concurrent misses for one key share one fetch.
///
/// A miss asks ``fill(for:)``; the request that created the fill subscribes and calls
/// ``OriginFill/start(_:to:using:on:holdAfterFinish:)``, the others only subscribe:
///
/// ```swift
/// while true {
///     let (fill, isNew) = fills.fill(for: key)
///     switch fill.subscribe(responder, on: channel.eventLoop, requestHeaders: isNew ? nil : head.headers) {
///     case .joined: if isNew { fill.start(request, to: origin, using: client) }
///     case .closed: continue
///     case .differentVariant, .notShareable: client.execute(request, to: origin, delegate: responder)
///     }
///     break
/// }
/// ```
package final class OriginFillRegistry<Key: Hashable & Sendable>: Sendable {
    private struct State {
        var fills: [Key: OriginFill<Key>] = [:]
        var created = 0
        var joined = 0
    }

    /// Bytes a fill keeps in memory for late joiners; a larger response takes no new
    /// subscribers once past it. Default 64 MiB.
    package let retentionLimit: Int
    /// The rules deciding which responses may be shared with joiners.
    package let rules: CacheRules
    private let state = Mutex(State())

    /// Creates an empty registry.
    /// - Parameters:
    ///   - retentionLimit: bytes kept per fill for late joiners; default 64 MiB.
    ///   - rules: decide which responses may be shared with joiners; default shared-cache rules.
    package init(retentionLimit: Int = 64 << 20, rules: CacheRules = CacheRules()) {
        self.retentionLimit = retentionLimit
        self.rules = rules
    }

    /// The fill in flight for `key`, or a new one; `isNew` tells the caller it must start it.
    package func fill(for key: Key) -> (fill: OriginFill<Key>, isNew: Bool) {
        state.withLock { state in
            if let existing = state.fills[key] {
                state.joined += 1
                return (existing, false)
            }
            let fill = OriginFill(key: key, registry: self, retentionLimit: retentionLimit, rules: rules)
            state.fills[key] = fill
            state.created += 1
            return (fill, true)
        }
    }

    /// The number of fills in flight.
    package var count: Int { state.withLock { $0.fills.count } }

    /// Whether a fill for `key` is in flight (or held for storing).
    package func contains(_ key: Key) -> Bool { state.withLock { $0.fills[key] != nil } }

    /// Fills created (origin fetches) and requests that joined one (coalesced requests).
    package var statistics: (created: Int, joined: Int) { state.withLock { ($0.created, $0.joined) } }

    /// Stops the fill for `key`, if any, from taking new subscribers (what it fetches was
    /// invalidated); its current subscribers keep receiving it.
    package func close(_ key: Key) {
        let fill = state.withLock { $0.fills.removeValue(forKey: key) }
        fill?.release()
    }

    func remove(_ key: Key, ifSame fill: OriginFill<Key>) {
        state.withLock { state in
            if state.fills[key] === fill { state.fills[key] = nil }
        }
    }
}
