/// A growable array whose elements start on a cache-line boundary (64 bytes), for the records
/// every rate change reads at random.
///
/// A Swift `Array` keeps its elements 32 bytes after the start of its heap object, which
/// `malloc` aligns to 16 bytes: for a large array the elements start 48 bytes into a page, so
/// every 64-byte ``FlowGroup`` and every other 32-byte ``GroupInfo`` spans two cache lines, and
/// a visit that reads the whole record misses twice. Here the elements start on a 64-byte
/// boundary, so a record of 64 (or 32) bytes lies in one line; large buffers are backed with
/// huge pages (``HugePages``). Copies share the buffer until one of them is changed, as with
/// `Array`; indices are checked in debug builds only.
struct AlignedArray<Element> {
    /// Bytes of a cache line on the machines this runs on.
    static var lineSize: Int { 64 }

    private final class Storage {
        let base: UnsafeMutablePointer<Element>
        let capacity: Int
        var count = 0

        init(capacity: Int) {
            self.capacity = capacity
            let bytes = Swift.max(1, capacity) * MemoryLayout<Element>.stride
            let raw = UnsafeMutableRawPointer.allocate(
                byteCount: bytes, alignment: Swift.max(AlignedArray.lineSize, MemoryLayout<Element>.alignment))
            base = raw.bindMemory(to: Element.self, capacity: Swift.max(1, capacity))
            HugePages.advise(raw, bytes: bytes)
        }

        deinit {
            base.deinitialize(count: count)
            UnsafeMutableRawPointer(base).deallocate()
        }
    }

    private var storage: Storage
    /// `storage.base`, kept here so that an access reads one pointer, as with `Array`.
    private var base: UnsafeMutablePointer<Element>

    init() {
        storage = Storage(capacity: 0)
        base = storage.base
    }

    /// `count` copies of `element`.
    init(repeating element: Element, count: Int) {
        storage = Storage(capacity: count)
        base = storage.base
        base.initialize(repeating: element, count: count)
        storage.count = count
    }

    var count: Int { storage.count }
    var capacity: Int { storage.capacity }
    var isEmpty: Bool { storage.count == 0 }
    var indices: Range<Int> { 0..<storage.count }

    subscript(i: Int) -> Element {
        unsafeAddress {
            #if DEBUG
            precondition(i >= 0 && i < storage.count, "index out of range")
            #endif
            return UnsafePointer(base + i)
        }
        unsafeMutableAddress {
            #if DEBUG
            precondition(i >= 0 && i < storage.count, "index out of range")
            #endif
            makeUnique()
            return base + i
        }
    }

    mutating func append(_ element: Element) {
        makeUnique()
        let n = storage.count
        if n == storage.capacity { reallocate(capacity: Swift.max(16, 2 * n)) }
        (base + n).initialize(to: element)
        storage.count = n + 1
    }

    /// Calls `body` with the elements in one buffer.
    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: storage.count))
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { reallocate(capacity: storage.capacity) }
    }

    /// Moves (or, when the buffer is shared, copies) the elements into a new buffer.
    private mutating func reallocate(capacity: Int) {
        let new = Storage(capacity: capacity)
        let n = storage.count
        if isKnownUniquelyReferenced(&storage) {
            new.base.moveInitialize(from: base, count: n)
            storage.count = 0
        } else {
            new.base.initialize(from: base, count: n)
        }
        new.count = n
        storage = new
        base = new.base
    }
}

extension AlignedArray: @unchecked Sendable where Element: Sendable {}
