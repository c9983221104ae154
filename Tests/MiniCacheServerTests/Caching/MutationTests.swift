#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPToolkit
import MiniCacheServer
import NIOCore
import NIOHTTP1
import Testing

/// Seeded random mutations of valid inputs: parsers and decoders must refuse or accept, never
/// crash. `MINICACHE_SLOW_TESTS=1` runs a hundred times more inputs.
struct MutationTests {
    static var rounds: Int {
        Environment.slowTests ? 200_000 : 2_000
    }

    static func mutate(_ bytes: [UInt8], _ random: inout SplitMix) -> [UInt8] {
        var bytes = bytes
        for _ in 0...(random.next() % 4) {
            switch random.next() % 4 {
            case 0 where !bytes.isEmpty:
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            case 1 where !bytes.isEmpty:
                bytes.removeSubrange(Int(random.next() % UInt64(bytes.count))...)
            case 2:
                bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: Int(random.next() % UInt64(bytes.count + 1)))
            default:
                let interesting: [UInt8] = [0x22, 0x2C, 0x3D, 0x5C, 0x20, 0x00, 0xFF, 0x30, 0x39]
                bytes.append(interesting[Int(random.next() % UInt64(interesting.count))])
            }
        }
        return bytes
    }

    @Test("mutated metadata blocks and vary indexes are refused or decoded, never crash")
    func decoders() {
        var random = SplitMix(seed: 7)
        var stored = CacheFixtures.stored(
            200, [("Cache-Control", "max-age=60"), ("ETag", #""v""#), ("Vary", "Accept")],
            request: CacheFixtures.request(.GET, "/a", [("Accept", "text/html")]))
        stored.bodyLength = 10
        let block = Array(stored.encoded().readableBytesView)
        var index = VaryIndex(selector: VarySelector(names: ["accept"]))
        _ = index.add(CacheDigest.sha256(of: [1]))
        let indexBlock = Array(index.encoded().readableBytesView)
        var refused = 0
        for _ in 0..<Self.rounds {
            var buffer = ByteBuffer(bytes: Self.mutate(block, &random))
            if (try? StoredResponse(decoding: &buffer)) == nil { refused += 1 }
            var indexBuffer = ByteBuffer(bytes: Self.mutate(indexBlock, &random))
            _ = try? VaryIndex(decoding: &indexBuffer)
        }
        #expect(refused > Self.rounds / 2)
    }

    @Test("mutated Cache-Control values, HTTP dates and list fields never crash the parsers")
    func parsers() {
        var random = SplitMix(seed: 11)
        let seeds = [
            #"max-age=60, no-cache="set-cookie, x", private, s-maxage="5", ext="a\"b""#,
            "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
            "https://Example.COM:8443/a/b?c=d#e", "http://[2001:db8::1]:8080/x",
        ]
        for round in 0..<Self.rounds {
            let bytes = Self.mutate(Array(seeds[round % seeds.count].utf8), &random)
            let text = String(decoding: bytes, as: UTF8.self)
            _ = CacheControl(text)
            _ = HTTPDate.parse(text, now: CacheFixtures.t0)
            _ = HTTPListParser.elements(text)
            _ = try? HTTPURL(text, schemes: [.http, .https])
            let stored = CacheFixtures.stored(200, [("Cache-Control", text), ("Expires", text), ("Age", text), ("Vary", text)])
            _ = stored.freshnessLifetime(CacheConfiguration())
            _ = stored.currentAge(now: CacheFixtures.t0 + 10)
        }
    }
}

/// Environment switches of the test suite.
enum Environment {
    /// `MINICACHE_SLOW_TESTS=1` asks for slow and load tests.
    static var slowTests: Bool {
        guard let value = getenv("MINICACHE_SLOW_TESTS") else { return false }
        return String(cString: value) == "1"
    }
}
