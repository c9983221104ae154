#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import HTTPToolkit
import MiniCacheServer
import NIOPosix

/// `minicache ctl`: the admin API from the command line.
struct Ctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Talk to a running server's admin listener.",
        discussion: """
            Actions: status (uptime, volume, connections, requests, bytes), objects (per-object \
            hits, bytes, completed transfers, 0-100 % progress counters, misses), metrics \
            (Prometheus text), remount (switch to the volume file's current table now), \
            prefetch [OBJECT...] (keep objects, by digest or name, in memory; all when none given), \
            purge PATH... or purge --prefix P (with --origin: drop the cached responses for these \
            paths, or for every path starting with P; prints how many objects went). Answers are \
            printed as JSON (the admin API's documents, docs/minicache.md).
            """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case status, objects, metrics, remount, prefetch, purge
    }

    @Argument(help: "status | objects | metrics | remount | prefetch | purge")
    var action: Action

    @Argument(help: "Objects to prefetch (hex digests or names); for purge, the cached paths (/path?query).")
    var objects: [String] = []

    @Option(help: ArgumentHelp("For purge: drop every cached path starting with this prefix (repeatable).", valueName: "PREFIX"))
    var prefix: [String] = []

    @Option(help: ArgumentHelp("The server's admin listener.", valueName: "ADDR:PORT"))
    var admin = "127.0.0.1:9080"

    @Option(help: ArgumentHelp("The file with the admin token, when the server was started with --admin-token-file.", valueName: "FILE"))
    var adminTokenFile: String?

    func validate() throws {
        do { _ = try HostPort(listenAddress: admin) } catch { throw ValidationError("--admin \(error); give ADDR:PORT") }
        if action == .purge {
            guard !objects.isEmpty || !prefix.isEmpty else {
                throw ValidationError("give the cached paths to purge (e.g. /live/seg1.ts) or --prefix /live/")
            }
            guard (objects + prefix).allSatisfy({ $0.hasPrefix("/") }) else {
                throw ValidationError("cached paths and prefixes start with /, e.g. /live/seg1.ts or --prefix /live/")
            }
        }
    }

    func run() async throws {
        let address = try HostPort(listenAddress: admin)
        let token: String?
        do {
            token = try adminTokenFile.map { path throws(MiniCacheError) in try AdminToken.read(path) }
        } catch {
            Self.printError("minicache ctl: \(error)")
            throw ExitCode.failure
        }
        let client = OriginClient(group: MultiThreadedEventLoopGroup.singleton)
        defer { client.shutdown() }
        let admin = AdminClient(base: HTTPURL(host: address.host, port: address.port), client: client, token: token)
        do {
            switch action {
            case .status: try Self.print(await admin.status())
            case .objects: try Self.print(await admin.objects())
            case .metrics: Swift.print(try await admin.metrics(), terminator: "")
            case .remount: try Self.print(await admin.remount())
            case .prefetch: try Self.print(await admin.prefetch(objects))
            case .purge: try Self.print(await admin.purge(urls: objects, prefixes: prefix))
            }
        } catch {
            Self.printError("minicache ctl: \(error)")
            throw ExitCode.failure
        }
    }

    private static func print(_ document: some Encodable) throws {
        Swift.print(try JSON.string(document, style: .pretty), terminator: "")
    }

    static func printError(_ message: String) {
        let line = message + "\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }
}
