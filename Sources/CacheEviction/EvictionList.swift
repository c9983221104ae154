/// A doubly linked list of keys over a slab of nodes, the O(1) queue every policy is built from.
/// The front is the most recently inserted end.
struct EvictionList<Key: Hashable & Sendable>: Sendable {
    struct Node: Sendable {
        var key: Key?
        var size: UInt64
        var counter: UInt8
        var previous: Int  // towards the front
        var next: Int  // towards the back
    }

    private(set) var nodes: [Node] = []
    private var freeIndices: [Int] = []
    private(set) var front = -1
    private(set) var back = -1
    private(set) var count = 0
    private(set) var totalSize: UInt64 = 0

    subscript(index: Int) -> Node {
        get { nodes[index] }
        set { nodes[index] = newValue }
    }

    /// Inserts at the front; returns the node index.
    mutating func pushFront(_ key: Key, size: UInt64, counter: UInt8 = 0) -> Int {
        let node = Node(key: key, size: size, counter: counter, previous: -1, next: front)
        let index: Int
        if let reused = freeIndices.popLast() {
            index = reused
            nodes[index] = node
        } else {
            index = nodes.count
            nodes.append(node)
        }
        if front >= 0 { nodes[front].previous = index }
        front = index
        if back < 0 { back = index }
        count += 1
        totalSize += size
        return index
    }

    /// Unlinks the node at `index` and returns its key.
    @discardableResult
    mutating func remove(at index: Int) -> Key {
        let node = nodes[index]
        if node.previous >= 0 { nodes[node.previous].next = node.next } else { front = node.next }
        if node.next >= 0 { nodes[node.next].previous = node.previous } else { back = node.previous }
        nodes[index].key = nil
        freeIndices.append(index)
        count -= 1
        totalSize -= node.size
        return node.key!
    }

    /// Moves the node at `index` to the front.
    mutating func moveToFront(_ index: Int) {
        guard index != front else { return }
        let node = nodes[index]
        if node.previous >= 0 { nodes[node.previous].next = node.next }
        if node.next >= 0 { nodes[node.next].previous = node.previous } else { back = node.previous }
        nodes[index].previous = -1
        nodes[index].next = front
        nodes[front].previous = index
        front = index
    }

    /// Changes the recorded size of a node.
    mutating func resize(_ index: Int, to size: UInt64) {
        totalSize = totalSize - nodes[index].size + size
        nodes[index].size = size
    }
}
