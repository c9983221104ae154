extension AdminAPI {
    /// `GET /admin/objects`: per-object statistics and the names asked for that were missing.
    package struct Objects: Codable, Sendable, Equatable {
        /// One object of the volume.
        package struct Object: Codable, Sendable, Equatable {
            /// Hex SHA-256 digest (its `/?<digest>` address).
            package var digest: String
            package var name: String
            /// `object`, `redirect` or `proxy`.
            package var kind: String
            /// Bytes.
            package var length: Int
            /// Whether it is served from memory.
            package var inMemory: Bool
            /// Requests for it.
            package var hits: Int
            /// Body bytes sent of it.
            package var bytes: Int
            /// Transfers that reached the end.
            package var completed: Int
            /// Transfers that reached 0, 20, 40, 60, 80 and 100 % (keys are the percentages).
            package var progress: [String: Int]

            package init(
                digest: String, name: String, kind: String, length: Int, inMemory: Bool, hits: Int, bytes: Int,
                completed: Int, progress: [String: Int]
            ) {
                self.digest = digest
                self.name = name
                self.kind = kind
                self.length = length
                self.inMemory = inMemory
                self.hits = hits
                self.bytes = bytes
                self.completed = completed
                self.progress = progress
            }
        }

        /// A target asked for that named no object.
        package struct Miss: Codable, Sendable, Equatable {
            package var key: String
            package var misses: Int

            package init(key: String, misses: Int) {
                self.key = key
                self.misses = misses
            }
        }

        package var objects: [Object]
        package var misses: [Miss]

        package init(objects: [Object], misses: [Miss]) {
            self.objects = objects
            self.misses = misses
        }
    }
}
