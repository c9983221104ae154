import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import MiniCacheServer

/// Seeded random-mutation fuzzing of the request parser and the handler behind it.
/// Runs only with MINICACHE_FUZZ=1 (see scripts/fuzz-parser.sh).
@Suite struct FuzzTests {
    static let enabled = ProcessInfo.processInfo.environment["MINICACHE_FUZZ"] == "1"

    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let corpus = [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /small.bin?x HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9,20-29\r\nIf-Range: \"abc\"\r\n\r\n",
        "HEAD /index.html HTTP/1.0\r\nConnection: keep-alive\r\nIf-None-Match: W/\"a\", \"b\"\r\n\r\n",
        "GET http://h:80/a%20b/%C3%BC.txt HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /empty HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /large.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=-5\r\nIf-Match: *\r\nIf-Unmodified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n\r\n",
    ]
    static let tokens = ["\r", "\n", "\r\n", ":", " ", "\t", "%", "%0", "?", "/", "\"", ",", "-", "=", "W/", "*",
                         "Content-Length: ", "Transfer-Encoding: chunked\r\n", "Host: x\r\n", "Range: bytes=", "\u{0}", "\u{7f}", "\u{ff}", "99999999999999999999"]

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: position)
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            case 3: bytes.insert(contentsOf: Array(Self.tokens.randomElement(using: &rng)!.utf8), at: position)
            case 4 where bytes.count > 2:
                let end = min(bytes.count, position + Int.random(in: 1...16, using: &rng))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            case 5: bytes = Array(bytes.prefix(position))
            default: bytes[position...].reverse()
            }
        }
        return bytes
    }

    @Test(.enabled(if: FuzzTests.enabled, "set MINICACHE_FUZZ=1 to fuzz"))
    func parserAndHandlerSurviveMutatedRequests() throws {
        let environment = ProcessInfo.processInfo.environment
        let iterations = Int(environment["MINICACHE_FUZZ_ITERATIONS"] ?? "") ?? 1_000_000
        var rng = SplitMix64(state: UInt64(environment["MINICACHE_FUZZ_SEED"] ?? "") ?? 2026)
        let parser = HTTPRequestParser()
        var outcomes = [String: Int]()
        var handled = 0
        let server = try EmbeddedHarness.makeServer(volume: TestVolume.shared.path)
        var harness = try EmbeddedHarness(server: server)
        for i in 0..<iterations {
            let input = Self.mutate(Array(Self.corpus.randomElement(using: &rng)!.utf8), &rng)
            var buffer = ByteBuffer()
            buffer.writeBytes(input)
            switch parser.parse(buffer) {
            case .incomplete: outcomes["incomplete", default: 0] += 1
            case .failure(let error): outcomes["\(error.status.code)", default: 0] += 1
            case .request(let head):
                outcomes["request", default: 0] += 1
                #expect(head.headLength <= input.count)
                #expect(head.target.upperBound <= head.headLength)
                for field in [head.host, head.range, head.ifRange, head.ifMatch, head.ifNoneMatch, head.ifModifiedSince, head.ifUnmodifiedSince] {
                    if let field { #expect(field.upperBound <= head.headLength) }
                }
            }
            // Every 50th input also goes through a connection handler, ranges, conditionals and all.
            if i % 50 == 0 {
                if !harness.channel.isActive {
                    _ = try? harness.channel.finish()
                    harness = try EmbeddedHarness(server: server)
                }
                try harness.receive(input)
                _ = try harness.writes()
                handled += 1
            }
        }
        print("fuzz: \(iterations) parser inputs, \(handled) through the handler, no crash; outcomes \(outcomes.sorted { $0.key < $1.key })")
    }
}
