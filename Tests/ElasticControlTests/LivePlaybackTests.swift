import ElasticControl
import Foundation
import MediaOrigin
import NIOCore
import NIOHTTP1
import NIOPosix
import PlayerLoad
import Testing

/// Real players through the whole CDN: ffmpeg and `ecdn load`'s players ask the router, are sent
/// to their site's cache, and play a live channel that the cache fills from the demo origin.
struct LivePlaybackTests {
    @Test(.enabled(if: MediaTools.available, "needs ffmpeg (apt-get install ffmpeg)"))
    func ffmpegAndLoadPlayersPlayTwentySecondsOfALiveChannelThroughASiteCache() async throws {
        // The site owns 127.0.0.0/24: ffmpeg connects from 127.0.0.1, the load players from .100 up.
        let site = SiteConfiguration(name: "site1", clientPrefix: "127.0.0.0/24", instanceBase: "127.0.171.10")
        let stack = try await TestStack(
            octet: 171, origin: DemoOriginConfiguration(channels: 1, segmentDuration: 1, windowSegments: 6), volumeSize: 128 << 20,
            siteConfigurations: [site]
        )
        let client = HTTPClientForTests()
        let playlist = stack.router.url + "/live/1/index.m3u8"
        // The first viewer starts the site's cache; the players come once it is ready.
        _ = try await client.get(playlist, from: "127.0.0.5")
        let ready = await TestStack.eventually { stack.controller.liveInstances().contains { $0.state == .ready } }
        try #require(ready)
        let redirect = try await client.get(playlist, from: "127.0.0.5")
        #expect(redirect.headers.first(name: "Location")?.hasPrefix("http://127.0.171.10:") == true)

        let ffmpeg = ["-hide_banner", "-nostats", "-v", "warning", "-i", playlist, "-t", "20", "-f", "null", "-"]
        let load = try LoadGenerator(
            configuration: LoadConfiguration(
                router: stack.router.url, sitePrefixes: ["127.0.0.0/24"], channels: 1, profile: .constant(1, sites: 1), duration: 2,
                watch: 20...20, player: PlayerConfiguration(startupBuffer: 2, maxBuffer: 4, bitrate: 1_000_000)
            ),
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        async let first = MediaTools.run("ffmpeg", ffmpeg)
        async let report = load.generate()
        // A later viewer reads the segments the first one brought into the cache.
        try await Task.sleep(for: .seconds(3))
        async let second = MediaTools.run("ffmpeg", ffmpeg)

        for player in try await [first, second] {
            #expect(player.status == 0)
            #expect(player.stderr.isEmpty, "ffmpeg said: \(player.stderr)")
        }
        let players = await report
        #expect(players.viewers >= 1)
        #expect(players.withErrors == 0, "\(players.results.compactMap(\.error))")
        #expect(players.badSegments == 0)
        #expect(players.toCache == players.viewers)
        #expect(players.results.allSatisfy { $0.watchSeconds > 15 })

        // The cache answered from what it stored, and the origin saw every segment once.
        let instance = try #require(stack.controller.liveInstances().first { $0.state == .ready })
        let status = try await client.get(instance.adminURL + "/admin/status")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.body.readableBytesView)) as? [String: Any])
        let cache = try #require(json["cache"] as? [String: Any])
        #expect((cache["hits"] as? Int ?? 0) > 0, "cache counters: \(cache)")
        let segments = stack.origin.segmentCounters
        #expect(segments.distinct >= 20)
        #expect(segments.repeated == 0)
        await stack.stop()
    }
}

extension LivePlaybackTests {
    /// A VoD MP4 whose moov is at the end: ffprobe needs a range request, which the cache answers.
    @Test(.enabled(if: MediaTools.available, "needs ffprobe (apt-get install ffmpeg)"))
    func ffprobeReadsAVoDObjectThroughASiteCacheWithARangeRequest() async throws {
        let site = SiteConfiguration(name: "site1", clientPrefix: "127.0.0.0/24", instanceBase: "127.0.172.10")
        let stack = try await TestStack(
            octet: 172, origin: DemoOriginConfiguration(vodObjects: ["movie.mp4": 6 << 20]), volumeSize: 64 << 20, siteConfigurations: [site]
        )
        let client = HTTPClientForTests()
        let url = stack.router.url + "/vod/movie.mp4"
        _ = try await client.get(url, from: "127.0.0.5")
        let ready = await TestStack.eventually { stack.controller.liveInstances().contains { $0.state == .ready } }
        try #require(ready)
        for _ in 0..<2 {
            let probe = try await MediaTools.run("ffprobe", [
                "-v", "warning", "-show_entries", "format=duration,size:stream=codec_name,width", "-of", "csv=p=0", url,
            ])
            #expect(probe.status == 0)
            #expect(probe.stderr.isEmpty, "ffprobe said: \(probe.stderr)")
            let lines = probe.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains("h264,1280"))
            #expect(lines.contains("aac"))
            #expect(lines.contains("10.000000,6291456"))
        }
        let instance = try #require(stack.controller.liveInstances().first { $0.state == .ready })
        let status = try await client.get(instance.adminURL + "/admin/status")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.body.readableBytesView)) as? [String: Any])
        let cache = try #require(json["cache"] as? [String: Any])
        #expect((cache["hits"] as? Int ?? 0) > 0, "cache counters: \(cache)")
        await stack.stop()
    }
}
