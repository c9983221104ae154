import HTTPToolkit
import NIOCore
import NIOHTTP1

/// What one viewer experienced.
public struct PlayerResult: Sendable, Codable, Equatable {
    public var site: String
    public var channel: Int
    public var clientAddress: String
    /// Arrival, monotonic seconds relative to the load run.
    public var arrival: Double
    /// Seconds from arrival to playback start; nil if playback never started.
    public var startupDelay: Double?
    public var stalls: Int
    public var stallSeconds: Double
    /// Seconds from playback start to leaving.
    public var watchSeconds: Double
    public var bytes: Int
    /// The viewer was sent to a cache (true) or the origin (false) by the router.
    public var servedByCache: Bool
    public var instance: String?
    public var bitrate: Int
    public var errors: Int
    /// Segments that failed the MPEG-TS check (also counted in ``errors``).
    public var badSegments: Int
    /// The first error, if any.
    public var error: String?
    /// Time from the first request to the first byte of the playlist from wherever it was sent.
    public var firstResponseSeconds: Double?

    /// Stall time over watch time.
    public var bufferingRatio: Double { watchSeconds > 0 ? stallSeconds / watchSeconds : 0 }
}

/// How players behave.
public struct PlayerConfiguration: Sendable {
    /// Seconds of media buffered before playback starts. Default 4.
    public var startupBuffer: Double
    /// A player does not fetch ahead more than this many seconds. Default 12.
    public var maxBuffer: Double
    /// Start this many segments behind the live edge. Default 3.
    public var liveEdgeOffset: Int
    /// The variant (index into the master playlist) or nil for the one closest to `bitrate`.
    public var variant: Int?
    /// Wanted bitrate when `variant` is nil. Default 2.5 Mb/s.
    public var bitrate: Int
    /// Check every segment as MPEG-TS (sync bytes, PAT first, continuity counters across
    /// segments) and count failures as errors. Default true.
    public var checkSegments: Bool

    public init(
        startupBuffer: Double = 4, maxBuffer: Double = 12, liveEdgeOffset: Int = 3, variant: Int? = nil, bitrate: Int = 2_500_000,
        checkSegments: Bool = true
    ) {
        self.startupBuffer = startupBuffer
        self.maxBuffer = maxBuffer
        self.liveEdgeOffset = liveEdgeOffset
        self.variant = variant
        self.bitrate = bitrate
        self.checkSegments = checkSegments
    }
}

/// A live HLS player: master playlist through the router (following its 302), then the media
/// playlist and segments at the playback rate from wherever it was sent, with buffer and stall
/// accounting.
struct Player {
    var client: ViewerClient
    var configuration: PlayerConfiguration
    var router: HTTPURL
    var path: String
    var site: String
    var channel: Int
    var address: String
    var watch: Double
    var runStart: Double

    func play() async -> PlayerResult {
        let arrival = HTTPDate.monotonic()
        var result = PlayerResult(
            site: site, channel: channel, clientAddress: address, arrival: arrival - runStart, startupDelay: nil,
            stalls: 0, stallSeconds: 0, watchSeconds: 0, bytes: 0, servedByCache: false, instance: nil, bitrate: 0, errors: 0,
            badSegments: 0
        )
        let leaveAt = arrival + watch
        func fail(_ error: LoadError) {
            result.errors += 1
            if result.error == nil { result.error = error.message }
        }
        // Master playlist via the router.
        let masterURL: HTTPURL
        let master: String
        do throws(LoadError) {
            let routed = try await client.get(router.with(path: path), from: address)
            guard routed.status == .found, let location = routed.headers.first(name: "Location") else {
                throw LoadError(.httpFailed, "the router answered \(routed.status.code) without a redirect")
            }
            result.instance = routed.headers.first(name: "X-ECDN-Instance")
            result.servedByCache = result.instance != nil
            masterURL = try Self.parse(location)
            let response = try await client.get(masterURL, from: address)
            result.firstResponseSeconds = HTTPDate.monotonic() - arrival
            guard response.status == .ok else { throw LoadError(.httpFailed, "\(masterURL) answered \(response.status.code)") }
            master = String(buffer: response.body)
            result.bytes += response.bodyLength
        } catch {
            fail(error)
            return result
        }
        let variants = Self.variants(master)
        guard !variants.isEmpty else {
            fail(LoadError(.httpFailed, "\(masterURL) is not a master playlist"))
            return result
        }
        let choice = configuration.variant.map { min(max(0, $0), variants.count - 1) }
            ?? variants.indices.min { abs(variants[$0].bandwidth - configuration.bitrate) < abs(variants[$1].bandwidth - configuration.bitrate) } ?? 0
        result.bitrate = variants[choice].bandwidth
        guard let mediaURL = try? masterURL.resolving(variants[choice].uri) else {
            fail(LoadError(.badURL, "bad variant URI \(variants[choice].uri)"))
            return result
        }

        var next: Int?
        var known: [(sequence: Int, uri: String, duration: Double)] = []
        var downloaded = 0.0
        var played = 0.0
        var playing = false
        var started: Double?
        var stallStart = 0.0
        var clock = HTTPDate.monotonic()
        var check = TransportStreamCheck()

        func advance(to now: Double) {
            if playing {
                let dt = now - clock
                if played + dt >= downloaded {
                    stallStart = clock + (downloaded - played)
                    played = downloaded
                    playing = false
                    result.stalls += 1
                } else {
                    played += dt
                }
            }
            clock = now
        }

        while HTTPDate.monotonic() < leaveAt {
            advance(to: HTTPDate.monotonic())
            if downloaded - played >= configuration.maxBuffer {
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            if next == nil || !known.contains(where: { $0.sequence == next }) {
                do throws(LoadError) {
                    let response = try await client.get(mediaURL, from: address)
                    guard response.status == .ok else { throw LoadError(.httpFailed, "\(mediaURL) answered \(response.status.code)") }
                    result.bytes += response.bodyLength
                    known = Self.segments(String(buffer: response.body))
                } catch {
                    fail(error)
                    try? await Task.sleep(for: .milliseconds(500))
                    continue
                }
                if let last = known.last {
                    if next == nil { next = max(known[0].sequence, last.sequence - configuration.liveEdgeOffset + 1) }
                    if let n = next, n < known[0].sequence { next = known[0].sequence }
                }
                if !known.contains(where: { $0.sequence == next }) {
                    let wait = (known.last?.duration ?? 2) / 2
                    try? await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
                    continue
                }
            }
            guard let n = next, let segment = known.first(where: { $0.sequence == n }), let url = try? mediaURL.resolving(segment.uri) else { continue }
            do throws(LoadError) {
                let response = try await client.get(url, keepBody: configuration.checkSegments, from: address)
                guard response.status == .ok else { throw LoadError(.httpFailed, "\(url) answered \(response.status.code)") }
                result.bytes += response.bodyLength
                // A bad segment plays as a glitch: counted, not fetched again.
                if configuration.checkSegments, let problem = check.check(response.body, sequence: n) {
                    result.badSegments += 1
                    fail(LoadError(.httpFailed, "\(url): \(problem)"))
                }
            } catch {
                fail(error)
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            next = n + 1
            let now = HTTPDate.monotonic()
            advance(to: now)
            downloaded += segment.duration
            if !playing, downloaded - played >= (started == nil ? configuration.startupBuffer : segment.duration) {
                playing = true
                if started == nil {
                    started = now
                    result.startupDelay = now - arrival
                } else {
                    result.stallSeconds += now - stallStart
                }
            }
        }
        let end = HTTPDate.monotonic()
        advance(to: end)
        if !playing, started != nil { result.stallSeconds += end - stallStart }
        if let started { result.watchSeconds = end - started }
        return result
    }

    /// Parses an `http://` or `https://` URL (the router's, a redirect's).
    /// - Throws: ``LoadError`` `badURL` saying what is wrong.
    static func parse(_ text: String) throws(LoadError) -> HTTPURL {
        do {
            return try HTTPURL(text, schemes: [.http, .https])
        } catch {
            throw LoadError(.badURL, "\(error)", underlying: error)
        }
    }

    static func variants(_ text: String) -> [(bandwidth: Int, uri: String)] {
        var result: [(Int, String)] = []
        var bandwidth: Int?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("#EXT-X-STREAM-INF:") {
                bandwidth = line.split(separator: ":", maxSplits: 1).last?.split(separator: ",")
                    .first { $0.hasPrefix("BANDWIDTH=") }.flatMap { Int($0.dropFirst("BANDWIDTH=".count)) }
            } else if !line.hasPrefix("#"), let b = bandwidth {
                result.append((b, String(line.trimmingOWS())))
                bandwidth = nil
            }
        }
        return result
    }

    static func segments(_ text: String) -> [(sequence: Int, uri: String, duration: Double)] {
        var sequence = 0
        var duration = 0.0
        var result: [(Int, String, Double)] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("#EXT-X-MEDIA-SEQUENCE:") {
                sequence = Int(line.dropFirst("#EXT-X-MEDIA-SEQUENCE:".count).trimmingOWS()) ?? 0
            } else if line.hasPrefix("#EXTINF:") {
                duration = Double(line.dropFirst("#EXTINF:".count).split(separator: ",").first ?? "") ?? 0
            } else if !line.hasPrefix("#"), !line.trimmingOWS().isEmpty {
                result.append((sequence, String(line.trimmingOWS()), duration))
                sequence += 1
            }
        }
        return result
    }
}
