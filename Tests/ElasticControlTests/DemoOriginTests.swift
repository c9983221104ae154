import ElasticControl
@testable import MediaOrigin
import Foundation
import HTTPToolkit
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

struct DemoOriginTests {
    @Test func liveEdgeAndWindowFollowTheClock() {
        let catalog = LiveCatalog(configuration: DemoOriginConfiguration(segmentDuration: 2, windowSegments: 3), epoch: 1000)
        #expect(catalog.liveEdge(at: 1001.9) == -1)
        #expect(catalog.liveEdge(at: 1010) == 4)
        let playlist = catalog.mediaPlaylist(at: 1010)
        #expect(playlist.firstSequence == 2)
        #expect(playlist.text.contains("#EXT-X-MEDIA-SEQUENCE:2\n"))
        #expect(playlist.text.components(separatedBy: "seg").count - 1 == 3)
        #expect(catalog.isAvailable(sequence: 4, at: 1010))
        #expect(!catalog.isAvailable(sequence: 5, at: 1010))
        #expect(catalog.item(path: "/live/2/1/seg17.ts") == .segment(channel: 2, variant: 1, sequence: 17))
        #expect(catalog.item(path: "/live/9/index.m3u8") == nil)
        #expect(catalog.item(path: "/live/1/7/index.m3u8") == nil)
    }

    @Test func mediaPlaylistAdvancesInRealTime() async throws {
        let origin = try await DemoOrigin(
            configuration: DemoOriginConfiguration(segmentDuration: 0.5, windowSegments: 4), group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        defer { Task { await origin.close() } }
        let client = HTTPClientForTests()
        func sequence() async throws -> Int {
            let text = String(buffer: try await client.get(origin.url + "/live/1/0/index.m3u8").body)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("#EXT-X-MEDIA-SEQUENCE:") })
            #expect(text.components(separatedBy: ".ts").count - 1 == 4)
            return try #require(Int(line.split(separator: ":")[1]))
        }
        let t0 = Date()
        let first = try await sequence()
        try await Task.sleep(for: .milliseconds(1200))
        let second = try await sequence()
        // One new segment every 0.5 s of however long the two fetches were apart.
        let elapsed = Date().timeIntervalSince(t0)
        #expect(second - first >= 2)
        #expect(Double(second - first) <= (elapsed / 0.5).rounded(.up) + 1)
    }

    @Test func cachingHeadersPlaylistsShortSegmentsImmutable() async throws {
        let origin = try await DemoOrigin(configuration: DemoOriginConfiguration(), group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger)
        defer { Task { await origin.close() } }
        let client = HTTPClientForTests()
        let master = try await client.get(origin.url + "/live/1/index.m3u8")
        #expect(master.status == 200)
        #expect(master.headers.first(name: "Content-Type") == "application/vnd.apple.mpegurl")
        #expect(master.headers.first(name: "Cache-Control") == "public, max-age=60")
        #expect(String(buffer: master.body).contains("BANDWIDTH=2500000,RESOLUTION=960x540,CODECS=\"avc1.4d401f,mp4a.40.2\""))

        let media = try await client.get(origin.url + "/live/1/2/index.m3u8")
        #expect(media.headers.first(name: "Cache-Control") == "public, max-age=1")
        let text = String(buffer: media.body)
        let newest = try #require(text.split(separator: "\n").last { $0.hasSuffix(".ts") })

        let segment = try await client.get(origin.url + "/live/1/2/" + newest)
        #expect(segment.status == 200)
        #expect(segment.headers.first(name: "Cache-Control") == "public, max-age=31536000, immutable")
        #expect(segment.headers.first(name: "Content-Type") == "video/mp2t")
        #expect(segment.bodyBytes == LiveLadder.segmentSize(bitrate: 5_000_000, duration: 2))
        #expect(segment.headers.first(name: "Last-Modified") != nil)
        let etag = try #require(segment.headers.first(name: "ETag"))
        #expect(segment.body.getInteger(at: 0, as: UInt8.self) == 0x47)

        let revalidated = try await client.get(origin.url + "/live/1/2/" + newest, headers: [("If-None-Match", etag)])
        #expect(revalidated.status == 304)
        #expect(revalidated.bodyBytes == 0)

        let future = try await client.get(origin.url + "/live/1/2/seg99999999.ts")
        #expect(future.status == 404)

        let vod = try await client.get(origin.url + "/vod/trailer.mp4")
        #expect(vod.status == 200)
        #expect(vod.bodyBytes == 4 << 20)
        #expect(vod.headers.first(name: "Cache-Control") == "public, max-age=86400")

        let unknown = try await client.get(origin.url + "/nothing")
        #expect(unknown.status == 404)
        #expect(origin.counters.requests == 7)

        // The egress counters as one Codable document, as they were before this request.
        let status = try await client.get(origin.url + "/status")
        #expect(status.headers.first(name: "Content-Type")?.hasPrefix("application/json") == true)
        let document = try JSON.decode(DemoOriginStatus.self, from: status.body)
        #expect(document.requests == 7)
        #expect(document.bytes == origin.counters.bytes - status.bodyBytes)
        #expect(document.segments == origin.segmentCounters.distinct && document.repeatedSegments == 0)
        let edge = origin.catalog.liveEdge(at: HTTPDate.now())
        #expect(document.liveEdge == edge || document.liveEdge == edge - 1)
    }
}

