import ArgumentParser
import ElasticControl
import Foundation
import NIOCore
import NIOPosix
import PlayerLoad

/// `ecdn load`: viewers that behave like live HLS players.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Play live channels through the router like real viewers, from chosen site prefixes.",
        discussion: """
            Each viewer asks the router for /live/<n>/index.m3u8 from an address in its site's \
            prefix (so the router sees the site), follows the 302, then fetches the media \
            playlist and segments at the playback rate, buffering before it starts and counting \
            stalls. Arrivals are Poisson with --rate or a --profile; --trace replays the CSV that \
            `ecdn simulate --trace` writes (arrival_s,asn,content,bitrate_bps,view_s; ASes are \
            spread over the sites). Prints a summary; --json writes every viewer.
            """
    )

    @Option(help: ArgumentHelp("The router.", valueName: "URL"))
    var router = "http://127.0.0.1:8000"

    @Option(help: ArgumentHelp("Client prefixes, one per site.", valueName: "P,P,..."))
    var sites = "127.0.1.0/24,127.0.2.0/24,127.0.3.0/24"

    @Option(help: ArgumentHelp("Viewers per second at each site.", valueName: "R"))
    var rate: Double = 0.2

    @Option(help: ArgumentHelp("Rate steps, e.g. 0:0.2,60:1,120:0 (seconds:viewers per second per site).", valueName: "T:R,..."))
    var profile: String?

    @Option(help: ArgumentHelp("Seconds of arrivals, then viewers finish watching (default 60; with --trace: the whole trace).", valueName: "S"))
    var duration: Double?

    @Option(help: ArgumentHelp("Watch time range in seconds.", valueName: "MIN-MAX"))
    var watch = "20-60"

    @Option(help: "Live channels to pick from (Zipf popularity).")
    var channels = 4

    @Option(help: ArgumentHelp("Wanted bitrate, bits per second.", valueName: "BPS"))
    var bitrate = 2_500_000

    @Option(help: ArgumentHelp("Replay a viewer trace CSV from `ecdn simulate --trace`.", valueName: "FILE"))
    var trace: String?

    @Option(help: "Replay the trace this many times faster.")
    var traceSpeed: Double = 1

    @Option(help: "Viewers at once, at most.")
    var maxViewers = 200

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Write the report with every viewer as JSON.", valueName: "FILE"))
    var json: String?

    @Option(help: ArgumentHelp("Check https:// servers against the CA certificates in this PEM file (the `ca:` of ecdn up --tls) instead of the system's roots.", valueName: "FILE"))
    var cacert: String?

    func validate() throws {
        guard (duration ?? 1) > 0, rate >= 0, traceSpeed > 0, maxViewers >= 1, channels >= 1 else {
            throw ValidationError("--duration, --trace-speed, --max-viewers and --channels must be positive, --rate not negative")
        }
        guard parsedWatch != nil else { throw ValidationError("--watch must be MIN-MAX seconds, e.g. 20-60") }
    }

    var parsedWatch: ClosedRange<Double>? {
        let parts = watch.split(separator: "-").compactMap { Double($0) }
        guard parts.count == 2, parts[0] > 0, parts[0] <= parts[1] else { return nil }
        return parts[0]...parts[1]
    }

    func run() async throws {
        let logger = Up.bootstrapLogging("warning")
        let prefixes = sites.split(separator: ",").map(String.init)
        var configuration = LoadConfiguration(
            router: router, sitePrefixes: prefixes, channels: channels,
            profile: .constant(rate, sites: prefixes.count), duration: trace == nil ? (duration ?? 60) : duration, watch: parsedWatch ?? 20...60,
            maxViewers: maxViewers, player: PlayerConfiguration(bitrate: bitrate), seed: seed, caFile: cacert
        )
        do {
            if let profile { configuration.profile = try LoadProfile.parse(profile, sites: prefixes.count) }
            if let trace {
                configuration.trace = try TraceArrival.parse(csv: try String(contentsOfFile: trace, encoding: .utf8))
                configuration.traceSpeed = traceSpeed
            }
        } catch {
            Up.fail("\(error)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let generator: LoadGenerator
        do {
            generator = try LoadGenerator(configuration: configuration, group: group, logger: logger)
        } catch {
            Up.fail("\(error)")
        }
        let progress = Task {
            let start = Date()
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                FileHandle.standardError.write(Data("ecdn load: \(Int(Date().timeIntervalSince(start))) s, \(generator.activeViewers) viewers playing\n".utf8))
            }
        }
        let report = await generator.generate()
        progress.cancel()
        print(Self.summary(report))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            } catch {
                Up.fail("cannot write \(json): \(error)")
            }
        }
        try? await group.shutdownGracefully()
    }

    static func summary(_ r: LoadReport) -> String {
        func s(_ v: Double?) -> String { v.map { String(format: "%.3f s", $0) } ?? "–" }
        return """
            viewers: \(r.viewers) (\(r.started) started, \(r.withErrors) with errors, \(r.dropped) dropped)
            routed: \(r.toCache) to caches, \(r.toOrigin) to the origin
            startup delay: p50 \(s(r.startupDelayP50)), p95 \(s(r.startupDelayP95)); first playlist byte p50 \(s(r.firstResponseP50))
            buffering ratio: mean \(String(format: "%.4f", r.bufferingRatioMean)), p95 \(String(format: "%.4f", r.bufferingRatioP95)); stalls \(r.stalls)
            bytes: \(r.bytes) (\(r.bytesViaCache) via caches, \(r.bytesViaOrigin) via the origin); segments failing the MPEG-TS check: \(r.badSegments)
            """
    }
}
