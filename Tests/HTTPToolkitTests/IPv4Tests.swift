#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPToolkit
import Testing

struct IPv4Tests {
    @Test(
        "four decimal octets 0-255",
        arguments: [
            ("0.0.0.0", 0x0000_0000 as UInt32), ("255.255.255.255", 0xFFFF_FFFF), ("127.0.0.1", 0x7F00_0001),
            ("192.0.2.1", 0xC000_0201), ("10.0.0.10", 0x0A00_000A), ("1.20.100.250", 0x0114_64FA),
        ])
    func parsesAddresses(text: String, value: UInt32) {
        #expect(IPv4.parse(text) == value)
        #expect(IPv4.parse(text[...]) == value)
        #expect(IPv4.format(value) == text)
    }

    @Test(
        "no sign, no empty octet, no leading zero, nothing around it",
        arguments: [
            "", ".", "...", "+1.2.3.4", "1.2.3.+4", "-1.2.3.4", "1.2.3", "1.2.3.4.5", "1..3.4", ".1.2.3", "1.2.3.",
            "256.0.0.1", "1.2.3.256", "1.2.3.1000", "01.2.3.4", "1.2.3.010", "00.0.0.0", "1.2.3.0001", " 1.2.3.4",
            "1.2.3.4 ", "1.2.3.4\n", "1.2.3.4/8", "0x7f.0.0.1", "1e2.0.0.1", "127.1", "2130706433", "١.2.3.4", "1.2.3.4:80",
        ])
    func refusesEverythingElse(text: String) {
        #expect(IPv4.parse(text) == nil)
    }

    /// The C library's `inet_pton` follows the same rule (RFC 3986's `dec-octet`); over every
    /// combination of awkward octets both must accept the same texts and read the same values.
    @Test("agrees with inet_pton(AF_INET)")
    func agreesWithInetPton() {
        let octets = ["0", "1", "9", "10", "99", "255", "256", "01", "00", "099", "1000", "+1", "-1", "", " 1", "1a", "0x1"]
        var accepted = 0
        for a in octets {
            for b in octets {
                for c in ["0", "00", "255", "+1", ""] {
                    for d in octets {
                        let text = "\(a).\(b).\(c).\(d)"
                        var address = in_addr()
                        let expected = inet_pton(AF_INET, text, &address) == 1 ? UInt32(bigEndian: address.s_addr) : nil
                        let parsed = IPv4.parse(text)
                        if parsed != expected {
                            Issue.record("\(text): parsed \(String(describing: parsed)), inet_pton \(String(describing: expected))")
                        }
                        if parsed != nil { accepted += 1 }
                    }
                }
            }
        }
        // 6 good octets in a, b and d, 2 in c.
        #expect(accepted == 6 * 6 * 2 * 6)
    }

    @Test func parsesPrefixes() {
        #expect(IPv4.parsePrefix("10.0.0.0/8")! == (0x0A00_0000, 8))
        #expect(IPv4.parsePrefix("0.0.0.0/0")! == (0, 0))
        #expect(IPv4.parsePrefix("192.0.2.7/32")! == (0xC000_0207, 32))
        for bad in ["10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/8/8", "010.0.0.0/8", "/8", "10.0.0.0/100"] {
            #expect(IPv4.parsePrefix(bad[...]) == nil, "\(bad)")
        }
    }

    @Test func bytesAreInNetworkOrder() {
        #expect(IPv4.bytes(0xC000_0201) == [192, 0, 2, 1])
        #expect(IPv4.bytes(IPv4.parse("127.0.0.1")!) == [127, 0, 0, 1])
    }
}
