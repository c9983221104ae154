import HTTPToolkit
import SHFS
import Testing

struct HTTPURLTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        /// Expected (scheme, host, port, path), or nil when the URL must be refused.
        var parts: (String, String, Int, String)?
        var testDescription: String { text }
    }

    static let cases: [Case] = [
        Case(text: "http://example.com", parts: ("http", "example.com", 80, "/")),
        Case(text: "HTTP://Example.COM:8080/a/B?c=D", parts: ("http", "example.com", 8080, "/a/B?c=D")),
        Case(text: "http://h?q=1", parts: ("http", "h", 80, "/?q=1")),
        Case(text: "http://h/p#frag", parts: ("http", "h", 80, "/p")),
        Case(text: "http://h#frag", parts: ("http", "h", 80, "/")),
        Case(text: "http://127.0.0.1:1/", parts: ("http", "127.0.0.1", 1, "/")),
        Case(text: "http://h:65535", parts: ("http", "h", 65535, "/")),
        Case(text: "http://h:00080/x", parts: ("http", "h", 80, "/x")),
        Case(text: "http://under_score.local/x", parts: ("http", "under_score.local", 80, "/x")),
        Case(text: "http://[::1]:8080/x", parts: ("http", "::1", 8080, "/x")),
        Case(text: "http://[2001:DB8::1]/", parts: ("http", "2001:db8::1", 80, "/")),
        Case(text: "http://[::ffff:192.0.2.1]:9/", parts: ("http", "::ffff:192.0.2.1", 9, "/")),
        Case(text: "http://[1:2:3:4:5:6:7:8]/", parts: ("http", "1:2:3:4:5:6:7:8", 80, "/")),
        Case(text: "https://h/x", parts: nil),  // http only unless the caller allows https
        Case(text: "ftp://h/x", parts: nil),
        Case(text: "h:80/x", parts: nil),
        Case(text: "http://", parts: nil),
        Case(text: "http:///x", parts: nil),
        Case(text: "http://:80/x", parts: nil),
        Case(text: "http://h:/x", parts: nil),
        Case(text: "http://h:0/x", parts: nil),
        Case(text: "http://h:65536/x", parts: nil),
        Case(text: "http://h:123456/x", parts: nil),
        Case(text: "http://h:+80/x", parts: nil),
        Case(text: "http://h:8o/x", parts: nil),
        Case(text: "http://user@h/x", parts: nil),
        Case(text: "http://user:pw@h:80/x", parts: nil),
        Case(text: "http://h h/x", parts: nil),
        Case(text: "http://h/a b", parts: nil),
        Case(text: "http://h/a\tb", parts: nil),
        Case(text: "http://h/a\u{7F}", parts: nil),
        Case(text: "http://ex*ample/x", parts: nil),
        Case(text: "http://exämple.com/x", parts: nil),
        Case(text: "http://::1/x", parts: nil),
        Case(text: "http://::1:8080/x", parts: nil),
        Case(text: "http://[::1/x", parts: nil),
        Case(text: "http://[::1]x/", parts: nil),
        Case(text: "http://[]/", parts: nil),
        Case(text: "http://[:::]/", parts: nil),
        Case(text: "http://[1::2::3]/", parts: nil),
        Case(text: "http://[1:2:3:4:5:6:7:8:9]/", parts: nil),
        Case(text: "http://[12345::1]/", parts: nil),
        Case(text: "http://[::1%25eth0]/", parts: nil),
        Case(text: "http://[::256.0.0.1]/", parts: nil),
        Case(text: "http://[::ffff:010.0.0.1]/", parts: nil),
        Case(text: "http://[::ffff:+1.0.0.1]/", parts: nil),
        Case(text: "http://[::ffff:1..0.1]/", parts: nil),
        Case(text: "http://[example.com]/", parts: nil),
        Case(text: "http://" + String(repeating: "a", count: 256) + "/", parts: nil),
    ]

    @Test("RFC 3986 §3.2 / RFC 9110 §4.2: one set of host and port rules", arguments: Self.cases)
    func parses(_ c: Case) {
        let url = try? HTTPURL(c.text)
        if let (scheme, host, port, path) = c.parts {
            #expect(url?.scheme.rawValue == scheme)
            #expect(url?.host == host)
            #expect(url?.port == port)
            #expect(url?.path == path)
        } else {
            #expect(url == nil, "\(url.map(String.init(describing:)) ?? "")")
        }
    }

    @Test func httpsOnlyWhereAllowed() throws {
        let url = try HTTPURL("HTTPS://h/x", schemes: [.http, .https])
        #expect(url.scheme == .https && url.port == 443 && url.authority == "h")
        #expect(throws: HTTPURLError.self) { try HTTPURL("https://h/x") }
    }

    @Test func writesAuthorityAndBase() throws {
        let v6 = try HTTPURL("http://[::1]:8080/x?y")
        #expect(v6.authority == "[::1]:8080")
        #expect(v6.base == "http://[::1]:8080")
        #expect(v6.description == "http://[::1]:8080/x?y")
        #expect(v6.address.hostField == "[::1]:8080")
        #expect(v6.address.description == "[::1]:8080")
        let plain = try HTTPURL("http://H:80")
        #expect(plain.authority == "h" && plain.base == "http://h:80" && plain.description == "http://h/")
        #expect(OriginAddress(host: "::1", port: 80).hostField == "[::1]")
    }

    @Test func resolvesReferences() throws {
        let base = try HTTPURL("http://h:81/live/1/index.m3u8?x=1")
        #expect(try base.resolving("seg-2.ts").description == "http://h:81/live/1/seg-2.ts")
        #expect(try base.resolving("/other").description == "http://h:81/other")
        #expect(try base.resolving("http://c:82/a").description == "http://c:82/a")
        #expect(try base.resolving("//c/a").description == "http://c/a")
        #expect(throws: HTTPURLError.self) { try base.resolving("http://c:0/a") }
    }

    @Test("errors say what is wrong")
    func errorMessages() {
        func reason(_ text: String) -> String {
            do {
                _ = try HTTPURL(text)
                return ""
            } catch { return error.reason }
        }
        #expect(reason("http://h:0") == "the port must be a number from 1 to 65535")
        #expect(reason("http://::1/") == "an IPv6 address must be written in brackets, e.g. [::1]:8080")
        #expect(reason("http://u@h/") == "user information (user@host) is not supported")
        #expect(reason("https://h/") == "https:// is not supported here; use http://")
        #expect(reason("h/") == "is not an http:// URL")
    }

    @Test(
        "listen addresses: ADDR:PORT with port 0 allowed",
        arguments: [
            ("127.0.0.1:8080", "127.0.0.1", 8080), ("0.0.0.0:0", "0.0.0.0", 0), ("[::]:9080", "::", 9080),
            ("localhost:1", "localhost", 1),
        ])
    func listenAddresses(text: String, host: String, port: Int) throws {
        let address = try HostPort(listenAddress: text)
        #expect(address.host == host && address.port == port)
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:", ":80", "::1:80", "h:65536", "http://h:80", "[::1]", "h:-1"])
    func badListenAddresses(text: String) {
        #expect(throws: HTTPURLError.self) { try HostPort(listenAddress: text) }
    }

    /// SHFS keeps its own parser (it must not depend on SwiftNIO); it must accept exactly the
    /// URLs the toolkit accepts, minus what an entry cannot store, and read them the same way.
    @Test("SHFS link URLs follow the toolkit's rules", arguments: Self.cases)
    func shfsAgrees(_ c: Case) {
        let toolkit = try? HTTPURL(c.text)
        let link = try? Link(url: c.text, type: .redirect)
        if let link {
            #expect(toolkit?.host == link.host)
            #expect(toolkit?.port == Int(link.port))
            #expect(toolkit?.path == "/" + link.path)
        } else if let toolkit {
            // Only what SHFS cannot store: an IPv6 literal, a long host or path.
            #expect(toolkit.host.contains(":") || toolkit.host.utf8.count > 32 || toolkit.path.utf8.count > 72)
        }
    }
}
