/// A Dictionary Structured Field (RFC 8941 §3.2) parsed strictly: a field value that does not
/// follow the grammar is rejected as a whole (§4.2), as RFC 9213 asks of targeted cache-control
/// fields.
///
/// Only what cache-control needs is kept: each member's key and its value when it is a bare
/// item (inner lists and parameters are checked, then dropped).
package struct StructuredFieldDictionary: Sendable, Equatable {
    /// A bare item (RFC 8941 §3.3).
    package enum Item: Sendable, Equatable {
        case integer(Int64)
        case decimal(Double)
        case string(String)
        case token(String)
        case byteSequence
        case boolean(Bool)
        /// An inner list (§3.1.1): valid, but no cache directive takes one.
        case innerList
    }

    /// Members in order of first appearance; a repeated key keeps the last value (§4.2.2).
    package private(set) var members: [(key: String, value: Item)] = []

    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.members.elementsEqual(rhs.members) { $0.key == $1.key && $0.value == $1.value }
    }

    /// Parses the field lines of one field, combined as RFC 8941 §4.2 says (joined with commas).
    /// - Returns: nil when the value is not a valid Dictionary.
    package init?(lines: [String]) {
        guard !lines.isEmpty else { return nil }
        var parser = Parser(Array(lines.joined(separator: ",").utf8))
        guard let members = parser.dictionary() else { return nil }
        self.members = members
    }

    /// The value of `key`, if present.
    package subscript(key: String) -> Item? {
        members.first { $0.key == key }?.value
    }

    private struct Parser {
        private let bytes: [UInt8]
        private var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        private mutating func skipSpaces() { while current == 0x20 { index += 1 } }
        private mutating func skipOWS() { while current == 0x20 || current == 0x09 { index += 1 } }

        mutating func dictionary() -> [(key: String, value: Item)]? {
            var members: [(key: String, value: Item)] = []
            skipSpaces()
            while index < bytes.count {
                guard let key = key() else { return nil }
                let value: Item
                if current == UInt8(ascii: "=") {
                    index += 1
                    guard let item = itemOrInnerList() else { return nil }
                    value = item
                } else {
                    guard parameters() else { return nil }
                    value = .boolean(true)
                }
                if let existing = members.firstIndex(where: { $0.key == key }) {
                    members[existing].value = value
                } else {
                    members.append((key, value))
                }
                skipOWS()
                guard index < bytes.count else { break }
                guard current == UInt8(ascii: ",") else { return nil }
                index += 1
                skipOWS()
                guard index < bytes.count else { return nil }
            }
            return members
        }

        private mutating func key() -> String? {
            guard let first = current, Self.isLowerAlpha(first) || first == UInt8(ascii: "*") else { return nil }
            let start = index
            while let c = current, Self.isLowerAlpha(c) || Self.isDigit(c) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "*")
            {
                index += 1
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        private mutating func itemOrInnerList() -> Item? {
            if current == UInt8(ascii: "(") {
                index += 1
                while true {
                    skipSpaces()
                    if current == UInt8(ascii: ")") {
                        index += 1
                        return parameters() ? .innerList : nil
                    }
                    guard bareItem() != nil, parameters() else { return nil }
                    guard current == 0x20 || current == UInt8(ascii: ")") else { return nil }
                }
            }
            guard let item = bareItem(), parameters() else { return nil }
            return item
        }

        private mutating func parameters() -> Bool {
            while current == UInt8(ascii: ";") {
                index += 1
                skipSpaces()
                guard key() != nil else { return false }
                if current == UInt8(ascii: "=") {
                    index += 1
                    guard bareItem() != nil else { return false }
                }
            }
            return true
        }

        private mutating func bareItem() -> Item? {
            guard let c = current else { return nil }
            if c == UInt8(ascii: "-") || Self.isDigit(c) { return number() }
            if c == UInt8(ascii: "\"") { return string() }
            if c == UInt8(ascii: "*") || Self.isAlpha(c) { return token() }
            if c == UInt8(ascii: ":") { return byteSequence() }
            if c == UInt8(ascii: "?") {
                index += 1
                guard let v = current, v == UInt8(ascii: "0") || v == UInt8(ascii: "1") else { return nil }
                index += 1
                return .boolean(v == UInt8(ascii: "1"))
            }
            return nil
        }

        private mutating func number() -> Item? {
            var negative = false
            if current == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            let start = index
            var dot: Int?
            while let c = current, Self.isDigit(c) || (c == UInt8(ascii: ".") && dot == nil) {
                if c == UInt8(ascii: ".") {
                    guard index - start <= 12 else { return nil }
                    dot = index
                }
                index += 1
                if dot == nil, index - start > 15 { return nil }
                if let dot, index - start > 16 || index - dot > 4 { return nil }
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard !text.isEmpty, text.first != "." else { return nil }
            if let dot {
                guard dot + 1 < index, let value = Double(text) else { return nil }
                return .decimal(negative ? -value : value)
            }
            guard let value = Int64(text) else { return nil }
            return .integer(negative ? -value : value)
        }

        private mutating func string() -> Item? {
            index += 1
            var result: [UInt8] = []
            while let c = current {
                index += 1
                if c == UInt8(ascii: "\\") {
                    guard let next = current, next == UInt8(ascii: "\"") || next == UInt8(ascii: "\\") else { return nil }
                    result.append(next)
                    index += 1
                } else if c == UInt8(ascii: "\"") {
                    return .string(String(decoding: result, as: UTF8.self))
                } else if c < 0x20 || c > 0x7E {
                    return nil
                } else {
                    result.append(c)
                }
            }
            return nil
        }

        private mutating func token() -> Item? {
            let start = index
            index += 1
            while let c = current, Self.isTokenCharacter(c) || c == UInt8(ascii: ":") || c == UInt8(ascii: "/") { index += 1 }
            return .token(String(decoding: bytes[start..<index], as: UTF8.self))
        }

        private mutating func byteSequence() -> Item? {
            index += 1
            while let c = current, c != UInt8(ascii: ":") {
                guard Self.isAlpha(c) || Self.isDigit(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: "/") || c == UInt8(ascii: "=") else {
                    return nil
                }
                index += 1
            }
            guard current == UInt8(ascii: ":") else { return nil }
            index += 1
            return .byteSequence
        }

        private static func isLowerAlpha(_ c: UInt8) -> Bool { c >= 0x61 && c <= 0x7A }
        private static func isAlpha(_ c: UInt8) -> Bool { isLowerAlpha(c) || (c >= 0x41 && c <= 0x5A) }
        private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        /// `tchar` (RFC 9110 §5.6.2).
        private static func isTokenCharacter(_ c: UInt8) -> Bool {
            isAlpha(c) || isDigit(c) || "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}
