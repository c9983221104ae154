import Crypto
import HTTPToolkit

/// A 32-byte SHA-256 digest of a cache key, the address of a cached object in the volume.
package struct CacheDigest: Sendable, Hashable, CustomStringConvertible {
    /// The 32 digest bytes.
    package let bytes: [UInt8]

    /// Wraps 32 bytes.
    /// - Precondition: `bytes.count == 32`.
    package init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a cache digest has 32 bytes")
        self.bytes = bytes
    }

    /// The SHA-256 digest of `data`.
    package static func sha256(of data: [UInt8]) -> CacheDigest {
        CacheDigest(bytes: Array(SHA256.hash(data: data)))
    }

    /// Lower-case hexadecimal, the form of `/?<hex digest>` URLs.
    package var description: String { Hex.string(bytes) }
}
