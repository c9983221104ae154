import NIOCore
import Synchronization

/// Sent to every open connection when the server shuts down: finish the response in flight, then
/// close.
package struct QuiesceEvent: Sendable {
    package init() {}
}

/// The open data-plane connections: counts them for the limit and quiesces them on shutdown.
package final class ConnectionRegistry: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let quiescing = Atomic<Bool>(false)

    package init() {}

    package var count: Int { self.channels.withLock { $0.count } }

    /// Registers `channel` unless `limit` connections are open; false when refused.
    package func admit(_ channel: any Channel, limit: Int) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = self.channels.withLock { table -> Bool in
            guard table.count < limit, !self.quiescing.load(ordering: .relaxed) else { return false }
            table[id] = channel
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { _ in
            _ = self.channels.withLock { $0.removeValue(forKey: id) }
        }
        return true
    }

    /// Asks every connection to finish its current response and close; new ones are refused.
    package func quiesceAll() {
        self.quiescing.store(true, ordering: .relaxed)
        let all = self.channels.withLock { Array($0.values) }
        for channel in all {
            channel.pipeline.fireUserInboundEventTriggered(QuiesceEvent())
        }
    }

    /// Waits until every connection has closed.
    package func waitForAll() async {
        while true {
            let remaining = self.channels.withLock { Array($0.values) }
            guard let first = remaining.first else { return }
            try? await first.closeFuture.get()
        }
    }
}
