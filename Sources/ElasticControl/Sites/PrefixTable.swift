import HTTPToolkit

/// Maps a viewer's IPv4 address to a site by longest-prefix match.
///
/// The file format is one `PREFIX/LEN SITE` pair per line; `#` starts a comment:
/// ```
/// 127.0.1.0/24 site1
/// 10.20.0.0/16 site2
/// ```
public struct PrefixTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var network: UInt32
        public var length: Int
        public var site: String

        public init(network: UInt32, length: Int, site: String) {
            self.length = length
            self.network = length == 0 ? 0 : network & (UInt32.max << (32 - length))
            self.site = site
        }
    }

    /// Entries, longest prefix first.
    public private(set) var entries: [Entry]
    /// Per prefix length in use, longest first: network to site (the first entry of a network
    /// wins, as in ``entries``). A lookup costs one hash per length, not one test per entry.
    private var byLength: [(length: Int, sites: [UInt32: String])]

    public init(entries: [Entry]) {
        self.entries = entries.sorted { $0.length > $1.length }
        var byLength: [(length: Int, sites: [UInt32: String])] = []
        for entry in self.entries {
            if byLength.last?.length != entry.length { byLength.append((entry.length, [:])) }
            if byLength[byLength.count - 1].sites[entry.network] == nil { byLength[byLength.count - 1].sites[entry.network] = entry.site }
        }
        self.byLength = byLength
    }

    public static func == (a: PrefixTable, b: PrefixTable) -> Bool { a.entries == b.entries }

    /// Parses the file format above.
    /// - Throws: ``ControlError`` `badPrefixTable` naming the line.
    public init(parsing text: String) throws(ControlError) {
        var entries: [Entry] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?.trimmingOWS() ?? ""
            if line.isEmpty { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2, let (network, length) = Self.parsePrefix(fields[0]) else {
                throw ControlError(.badPrefixTable, "line \(number + 1): '\(line)' is not 'A.B.C.D/LEN SITE'")
            }
            entries.append(Entry(network: network, length: length, site: String(fields[1])))
        }
        self.init(entries: entries)
    }

    /// The site owning `address` (dotted IPv4; IPv4-mapped IPv6 too), or nil.
    public func site(for address: String) -> String? {
        var text = Substring(address)
        if text.hasPrefix("::ffff:") { text = text.dropFirst(7) }
        guard let ip = Self.parseIPv4(text) else { return nil }
        for (length, sites) in byLength {
            if let site = sites[length == 0 ? 0 : ip & (UInt32.max << (32 - length))] { return site }
        }
        return nil
    }

    package static func parsePrefix(_ text: Substring) -> (UInt32, Int)? {
        IPv4.parsePrefix(text)
    }

    /// Parses dotted IPv4.
    public static func parseIPv4(_ text: Substring) -> UInt32? {
        IPv4.parse(text)
    }

    /// Dotted text of an IPv4 value.
    public static func format(_ ip: UInt32) -> String {
        IPv4.format(ip)
    }
}
