extension AdminAPI {
    /// `GET /admin/status`: what the server serves and how much.
    package struct Status: Codable, Sendable, Equatable {
        /// The mounted volume.
        package struct Volume: Codable, Sendable, Equatable {
            /// The volume file.
            package var path: String
            /// The volume's name from its header.
            package var name: String
            /// The volume's UUID.
            package var uuid: String
            /// Mounts since start (1 + remounts).
            package var generation: Int
            /// Objects (files, links, cached responses) in the table.
            package var objects: Int
            /// Bytes of objects held in memory.
            package var memoryBytes: Int

            package init(path: String, name: String, uuid: String, generation: Int, objects: Int, memoryBytes: Int) {
                self.path = path
                self.name = name
                self.uuid = uuid
                self.generation = generation
                self.objects = objects
                self.memoryBytes = memoryBytes
            }
        }

        /// Client connections of the data plane.
        package struct Connections: Codable, Sendable, Equatable {
            /// Open now.
            package var open: Int
            /// Accepted since start.
            package var total: Int
            /// Refused because `--max-connections` were open.
            package var refused: Int

            package init(open: Int, total: Int, refused: Int) {
                self.open = open
                self.total = total
                self.refused = refused
            }
        }

        /// What the pull-through cache did (with `--origin`).
        package struct Cache: Codable, Sendable, Equatable {
            package var hits: Int
            package var misses: Int
            /// Requests that joined a fetch already in flight.
            package var coalesced: Int
            /// Stale responses served (stale-while-revalidate, stale-if-error).
            package var staleServed: Int
            package var revalidations: Int
            package var revalidatedNotModified: Int
            package var revalidatedChanged: Int
            /// Origin fetches that failed (connect, timeout, broken response).
            package var originErrors: Int
            /// Body bytes received from origins.
            package var originBytes: Int
            /// Body bytes served from stored responses.
            package var cacheBytesServed: Int

            package init(
                hits: Int, misses: Int, coalesced: Int, staleServed: Int, revalidations: Int, revalidatedNotModified: Int,
                revalidatedChanged: Int, originErrors: Int, originBytes: Int, cacheBytesServed: Int
            ) {
                self.hits = hits
                self.misses = misses
                self.coalesced = coalesced
                self.staleServed = staleServed
                self.revalidations = revalidations
                self.revalidatedNotModified = revalidatedNotModified
                self.revalidatedChanged = revalidatedChanged
                self.originErrors = originErrors
                self.originBytes = originBytes
                self.cacheBytesServed = cacheBytesServed
            }
        }

        /// What the cache keeps in the volume (with `--origin`).
        package struct CacheStore: Codable, Sendable, Equatable {
            /// `lru`, `s3fifo` or `sieve`.
            package var eviction: String
            /// Cached responses stored now.
            package var objects: Int
            /// Their bytes.
            package var bytes: Int
            /// Bytes of removed responses still held by readers.
            package var heldBytes: Int
            package var stored: Int
            package var purged: Int
            package var removed: Int
            /// Evictions by reason (`space`, `bucket`).
            package var evictions: [String: Int]
            /// Responses not stored, by reason.
            package var failures: [String: Int]

            package init(
                eviction: String, objects: Int, bytes: Int, heldBytes: Int, stored: Int, purged: Int, removed: Int,
                evictions: [String: Int], failures: [String: Int]
            ) {
                self.eviction = eviction
                self.objects = objects
                self.bytes = bytes
                self.heldBytes = heldBytes
                self.stored = stored
                self.purged = purged
                self.removed = removed
                self.evictions = evictions
                self.failures = failures
            }
        }

        /// Seconds since the server started.
        package var uptimeSeconds: Int
        package var volume: Volume
        package var connections: Connections
        /// Requests answered since start.
        package var requests: Int
        /// Responses by status class (`2xx` … `5xx`).
        package var responses: [String: Int]
        /// Bytes written to clients.
        package var bytesSent: Int
        /// Fetches of link targets from upstream.
        package var upstreamFetches: Int
        /// Volume remounts since start.
        package var remounts: Int
        /// Cache counters; nil without `--origin`.
        package var cache: Cache?
        /// The cache's stored responses; nil without `--origin`.
        package var cacheStore: CacheStore?

        package init(
            uptimeSeconds: Int, volume: Volume, connections: Connections, requests: Int, responses: [String: Int],
            bytesSent: Int, upstreamFetches: Int, remounts: Int, cache: Cache?, cacheStore: CacheStore?
        ) {
            self.uptimeSeconds = uptimeSeconds
            self.volume = volume
            self.connections = connections
            self.requests = requests
            self.responses = responses
            self.bytesSent = bytesSent
            self.upstreamFetches = upstreamFetches
            self.remounts = remounts
            self.cache = cache
            self.cacheStore = cacheStore
        }
    }
}
