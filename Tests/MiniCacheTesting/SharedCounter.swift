import Synchronization

/// A counter (or flag) a test shares with the closures and tasks it starts.
public final class SharedCounter: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    public var value: Int { self.count.load(ordering: .relaxed) }

    public func add(_ amount: Int = 1) {
        self.count.add(amount, ordering: .relaxed)
    }

    public func set(_ value: Int) {
        self.count.store(value, ordering: .relaxed)
    }
}
