import ArgumentParser
import ElasticControl
import Foundation
import HTTPToolkit
import NIOCore
import NIOHTTP1
import NIOPosix

extension ClusterBench {
    /// Viewers that poll a live playlist through the routers and retry a failure once, for the
    /// fault measurements: what a player that retries once would have shown its viewer.
    struct Viewers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Viewers polling a live playlist through the routers; a failure is retried once through the next router.",
            discussion: """
                Each viewer asks a router for --path (round robin over --routers), follows the 302 and \
                fetches the playlist there every --interval seconds, from its own address in --prefix. \
                A failed fetch (no answer, not 200) is retried once: back through the next router, \
                then the new location. A viewer-visible error is a fetch whose retry failed too. \
                Prints one summary line; --json writes it with the times of the visible errors.
                """
        )

        @Option(help: ArgumentHelp("The routers.", valueName: "URL,URL,..."))
        var routers = "http://127.0.0.1:8000"

        @Option(help: ArgumentHelp("Client prefix to send from (the first --count addresses after .0; they must be local).", valueName: "A.B.C.0/24"))
        var prefix = "127.0.1.0/24"

        @Option(help: "Viewers.")
        var count = 10

        @Option(help: "Seconds to run.")
        var seconds = 20.0

        @Option(help: "Seconds between fetches of one viewer.")
        var interval = 1.0

        @Option(help: "What the viewers play.")
        var path = "/live/1/index.m3u8"

        @Option(help: ArgumentHelp("Write the summary as JSON.", valueName: "FILE"))
        var json: String?

        struct Summary: Codable {
            var viewers = 0
            var fetches = 0
            /// Fetches that failed at the first attempt (retried).
            var retried = 0
            /// Fetches whose retry failed too.
            var visibleErrors = 0
            /// Seconds since the start of each visible error.
            var visibleErrorTimes: [Double] = []
            /// Fetches answered by a cache (the router's 302 named an instance) and by the origin.
            var fromCache = 0
            var fromOrigin = 0
            var firstError: String?
        }

        func run() async throws {
            let routerURLs = try routers.split(separator: ",").map { try HTTPURL(String($0)) }
            guard !routerURLs.isEmpty, count > 0, seconds > 0, interval > 0 else {
                throw ValidationError("--routers, --count, --seconds and --interval must be given and positive")
            }
            let base = prefix.split(separator: "/").first.map { $0.split(separator: ".").dropLast().joined(separator: ".") } ?? "127.0.1"
            let client = HTTPClient(group: MultiThreadedEventLoopGroup.singleton, connectTimeout: .seconds(1), timeout: .seconds(2))
            let (path, interval, count) = (self.path, self.interval, self.count)
            let start = ContinuousClock.now
            let end = start + .seconds(seconds)
            let summaries = await withTaskGroup(of: Summary.self) { group in
                for k in 0..<count {
                    group.addTask {
                        await Self.viewer(
                            address: "\(base).\(k + 1)", routers: routerURLs, first: k, path: path, client: client, interval: interval, start: start, end: end
                        )
                    }
                    try? await Task.sleep(for: .seconds(interval / Double(count)))
                }
                var total = Summary()
                for await s in group {
                    total.viewers += 1
                    total.fetches += s.fetches
                    total.retried += s.retried
                    total.visibleErrors += s.visibleErrors
                    total.visibleErrorTimes += s.visibleErrorTimes
                    total.fromCache += s.fromCache
                    total.fromOrigin += s.fromOrigin
                    total.firstError = total.firstError ?? s.firstError
                }
                total.visibleErrorTimes.sort()
                return total
            }
            print(
                "viewers: \(summaries.viewers), fetches \(summaries.fetches) (\(summaries.fromCache) from a cache, \(summaries.fromOrigin) from the origin), "
                    + "retried \(summaries.retried), visible errors after one retry \(summaries.visibleErrors)"
                    + (summaries.firstError.map { "; first error: \($0)" } ?? "")
            )
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                try encoder.encode(summaries).write(to: URL(fileURLWithPath: json))
            }
        }

        /// One viewer: where it plays from, refreshed through a router when a fetch fails.
        static func viewer(
            address: String, routers: [HTTPURL], first: Int, path: String, client: HTTPClient, interval: Double, start: ContinuousClock.Instant,
            end: ContinuousClock.Instant
        ) async -> Summary {
            var summary = Summary()
            var next = first
            var location: (url: HTTPURL, cache: Bool)?
            func route() async throws -> (url: HTTPURL, cache: Bool) {
                let router = routers[next % routers.count]
                next += 1
                let response = try await client.request(.GET, router.with(path: path), localAddress: address)
                guard response.status == 302, let target = response.headers.first(name: "Location") else {
                    throw ControlError(.httpFailed, "\(router) answered \(response.status) without a redirect")
                }
                return (try HTTPURL(target), response.headers.first(name: "X-ECDN-Instance") != nil)
            }
            func fetch() async throws {
                let here: (url: HTTPURL, cache: Bool)
                if let known = location { here = known } else { here = try await route() }
                location = here
                let response = try await client.request(.GET, here.url, keepBody: false, localAddress: address)
                guard response.status == 200 else { throw ControlError(.httpFailed, "\(here.url) answered \(response.status)") }
                if here.cache { summary.fromCache += 1 } else { summary.fromOrigin += 1 }
            }
            while ContinuousClock.now < end {
                let began = ContinuousClock.now
                summary.fetches += 1
                do {
                    try await fetch()
                } catch {
                    summary.retried += 1
                    summary.firstError = summary.firstError ?? "\(error)"
                    location = nil
                    do {
                        try await fetch()
                    } catch {
                        summary.visibleErrors += 1
                        summary.visibleErrorTimes.append((ContinuousClock.now - start).seconds)
                        location = nil
                    }
                }
                let due = began + .seconds(interval)
                if ContinuousClock.now < due { try? await Task.sleep(until: due, clock: .continuous) }
            }
            return summary
        }
    }
}
