/// Dotted-quad IPv4 addresses and prefixes as 32-bit values: client prefixes of sites, addresses
/// of instances and of viewers.
package enum IPv4 {
    /// Parses dotted IPv4 (`A.B.C.D`, each 0-255).
    package static func parse(_ text: Substring) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard let byte = UInt8(octet) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    /// Parses a prefix `A.B.C.D/LEN` (LEN 0-32).
    package static func parsePrefix(_ text: Substring) -> (network: UInt32, length: Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let ip = Self.parse(parts[0]), let length = Int(parts[1]), (0...32).contains(length) else { return nil }
        return (ip, length)
    }

    /// Dotted text of an IPv4 value.
    package static func format(_ ip: UInt32) -> String {
        "\(ip >> 24).\((ip >> 16) & 255).\((ip >> 8) & 255).\(ip & 255)"
    }
}
