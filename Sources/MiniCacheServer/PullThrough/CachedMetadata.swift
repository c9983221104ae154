import NIOCore
import NIOHTTP1

/// How a cached response sits in its SHFS object: the ``StoredResponse`` metadata block (`MCSR`,
/// with its CRC), zero padding to a multiple of ``headerAreaAlignment``, then the body. Cached
/// objects are hidden entries, so the original tools do not list them as content.
package struct CachedMetadata: Sendable {
    /// The stored response (status, fields, times, Vary).
    package var response: StoredResponse
    /// Bytes before the body in the object.
    package var headerArea: Int64

    package static let headerAreaAlignment = 4096

    /// The metadata block padded to the header area.
    package static func encode(_ response: StoredResponse) -> [UInt8] {
        let block = response.encoded()
        var bytes = Array(block.readableBytesView)
        let padded = (bytes.count + headerAreaAlignment - 1) / headerAreaAlignment * headerAreaAlignment
        bytes.append(contentsOf: repeatElement(0, count: padded - bytes.count))
        return bytes
    }

    /// Decodes the front of an object of `objectLength` bytes; nil when it is not a cached
    /// response, its block fails the CRC, or its body length disagrees with the object (a torn
    /// or foreign object is never served as a complete cached response).
    package static func decode(prefix: [UInt8], objectLength: Int64) -> CachedMetadata? {
        var buffer = ByteBuffer(bytes: prefix)
        let start = buffer.readerIndex
        guard let response = try? StoredResponse(decoding: &buffer), let bodyLength = response.bodyLength else { return nil }
        let used = buffer.readerIndex - start
        let area = Int64((used + headerAreaAlignment - 1) / headerAreaAlignment * headerAreaAlignment)
        guard area + Int64(bodyLength) == objectLength else { return nil }
        return CachedMetadata(response: response, headerArea: area)
    }

    /// The block length a prefix announces, to read the rest of it; nil when it is no block.
    package static func blockLength(_ prefix: [UInt8]) -> Int? {
        guard prefix.count >= 10, prefix[0] == 0x4D, prefix[1] == 0x43, prefix[2] == 0x53, prefix[3] == 0x52 else { return nil }
        return Int(prefix[6]) << 24 | Int(prefix[7]) << 16 | Int(prefix[8]) << 8 | Int(prefix[9])
    }

    /// Header lines of the stored response that a hit repeats (not the ones the server writes
    /// itself or that are hop-by-hop).
    package var forwardedFields: String {
        let own: Set<String> = [
            "content-length", "date", "age", "connection", "transfer-encoding", "server", "accept-ranges", "keep-alive",
            "content-type", "content-encoding", "etag", "last-modified",
        ]
        var text = ""
        for (name, value) in response.headers where !own.contains(name.lowercased()) {
            text += "\(name): \(value)\r\n"
        }
        return text
    }
}
