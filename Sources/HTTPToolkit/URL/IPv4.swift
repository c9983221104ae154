/// Dotted-quad IPv4 addresses and prefixes as 32-bit values: client prefixes of sites, addresses
/// of instances and of viewers, hosts of URLs, etcd endpoints and certificate names.
package enum IPv4 {
    /// Parses dotted-quad IPv4 text `A.B.C.D`: exactly four decimal octets from 0 to 255, ASCII
    /// digits only (no sign, space or empty octet).
    ///
    /// An octet of two or three digits may not start with `0` (RFC 3986 §3.2.2 `dec-octet`):
    /// `inet_aton` and the resolvers built on it read `010` as octal 8, so `010.0.0.1` would name
    /// one address here and another to the C library.
    package static func parse(_ text: some StringProtocol) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
                continue
            }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10, digits < 3, !(digits == 1 && octet == 0) else { return nil }
            octet = octet * 10 + UInt32(digit)
            digits += 1
            guard octet <= 255 else { return nil }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    /// Parses a prefix `A.B.C.D/LEN` (the address as ``parse(_:)`` reads it, LEN 0-32 in digits).
    package static func parsePrefix(_ text: Substring) -> (network: UInt32, length: Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = Self.parse(parts[0]), (1...2).contains(parts[1].utf8.count),
            parts[1].utf8.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }), let length = Int(parts[1]), length <= 32
        else { return nil }
        return (ip, length)
    }

    /// The four bytes of an address, most significant first (network order).
    package static func bytes(_ ip: UInt32) -> [UInt8] {
        [UInt8(ip >> 24), UInt8((ip >> 16) & 255), UInt8((ip >> 8) & 255), UInt8(ip & 255)]
    }

    /// Dotted text of an IPv4 value.
    package static func format(_ ip: UInt32) -> String {
        "\(ip >> 24).\((ip >> 16) & 255).\((ip >> 8) & 255).\(ip & 255)"
    }
}
