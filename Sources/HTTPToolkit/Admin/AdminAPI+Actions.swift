extension AdminAPI {
    /// `POST /admin/remount`: the volume's table was read again.
    package struct Remounted: Codable, Sendable, Equatable {
        /// The new mount's generation.
        package var generation: Int
        /// Objects in the new table.
        package var objects: Int
        /// TLS certificates loaded again (with `--listen-tls`); nil without TLS.
        package var certificates: Int?

        package init(generation: Int, objects: Int, certificates: Int? = nil) {
            self.generation = generation
            self.objects = objects
            self.certificates = certificates
        }
    }

    /// `POST /admin/prefetch`: the objects asked for (all when none) are held in memory.
    package struct Prefetched: Codable, Sendable, Equatable {
        /// The mount's generation.
        package var generation: Int
        /// Bytes of objects now held in memory.
        package var memoryBytes: Int

        package init(generation: Int, memoryBytes: Int) {
            self.generation = generation
            self.memoryBytes = memoryBytes
        }
    }

    /// `POST /admin/purge`: cached responses removed.
    package struct Purged: Codable, Sendable, Equatable {
        /// Stored responses removed (every variant counts).
        package var purged: Int

        package init(purged: Int) { self.purged = purged }
    }
}
