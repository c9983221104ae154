#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

/// JSON documents of the package's HTTP APIs (the admin API, the control plane's API, reports),
/// written and read with the standard library's `Codable` through FoundationEssentials' coders,
/// which the data plane links already (swift-crypto and swift-argument-parser use it); never the
/// full Foundation.
///
/// Keys are written sorted, so documents are stable and diffable.
package enum JSON {
    /// How a document is laid out.
    package enum Style: Sendable {
        /// One line (for programs).
        case compact
        /// Indented (for people reading a terminal or a file).
        case pretty
    }

    /// Encodes `value` as a JSON document ending in a newline.
    /// - Throws: ``JSONError`` when a value cannot be represented (e.g. a non-finite number).
    package static func encode(_ value: some Encodable, style: Style = .compact) throws(JSONError) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = style == .pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        do {
            var buffer = ByteBuffer(bytes: try encoder.encode(value))
            buffer.writeInteger(UInt8(ascii: "\n"))
            return buffer
        } catch {
            throw JSONError("cannot encode \(type(of: value)): \(error)")
        }
    }

    /// Encodes `value` as text ending in a newline; see ``encode(_:style:)``.
    package static func string(_ value: some Encodable, style: Style = .compact) throws(JSONError) -> String {
        String(buffer: try Self.encode(value, style: style))
    }

    /// Decodes a `T` from the readable bytes of `buffer`.
    /// - Throws: ``JSONError`` saying which field is missing or malformed.
    package static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws(JSONError) -> T {
        try Self.decode(type, from: Array(buffer.readableBytesView))
    }

    /// Decodes a `T` from UTF-8 bytes.
    /// - Throws: ``JSONError`` saying which field is missing or malformed.
    package static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(JSONError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            throw JSONError("not a valid \(type) document: \(Self.describe(error))")
        } catch {
            throw JSONError("not a valid \(type) document: \(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "the document" : String(keys.dropFirst(keys.hasPrefix(".") ? 1 : 0))
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)) has no field '\(key.stringValue)'"
        case .typeMismatch(let type, let context): return "\(path(context)) is not a \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) is null, expected a \(type)"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
