/// The key of a fast hit: a request's `Host` value and its target. Remembered keys own their
/// bytes; a lookup borrows them from the request being answered, so a fast hit copies nothing.
struct FastHitKey: Hashable, @unchecked Sendable {
    private enum Bytes {
        case owned(host: [UInt8], target: [UInt8])
        /// Valid only during the call that made the key (a lookup never stores its key).
        case borrowed(host: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer)
    }

    private let bytes: Bytes

    /// A key borrowing `host` and `target`, for lookups while they stay valid.
    init(borrowing host: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer) {
        self.bytes = .borrowed(host: host, target: target)
    }

    /// The same key, owning copies of its bytes (to be remembered).
    func owned() -> FastHitKey {
        switch self.bytes {
        case .owned: self
        case .borrowed(let host, let target): FastHitKey(bytes: .owned(host: Array(host), target: Array(target)))
        }
    }

    private init(bytes: Bytes) {
        self.bytes = bytes
    }

    private func withParts<T>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> T) -> T {
        switch self.bytes {
        case .borrowed(let host, let target):
            body(host, target)
        case .owned(let host, let target):
            host.withUnsafeBytes { host in target.withUnsafeBytes { target in body(host, target) } }
        }
    }

    func hash(into hasher: inout Hasher) {
        self.withParts { host, target in
            hasher.combine(bytes: host)
            // The separator keeps ("ab", "/c") and ("a", "b/c") apart.
            hasher.combine(UInt8(0))
            hasher.combine(bytes: target)
        }
    }

    static func == (a: FastHitKey, b: FastHitKey) -> Bool {
        a.withParts { aHost, aTarget in
            b.withParts { bHost, bTarget in
                aHost.elementsEqual(bHost) && aTarget.elementsEqual(bTarget)
            }
        }
    }
}
