#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import HTTPToolkit
import MiniCacheServer

/// `minicache ctl`: the admin API from the command line.
struct Ctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Talk to a running server's admin listener.",
        discussion: """
            Actions: status (uptime, volume, connections, requests, bytes), objects (per-object \
            hits, bytes, completed transfers, 0-100 % progress counters, misses), metrics \
            (Prometheus text), remount (switch to the volume file's current table now), \
            prefetch [OBJECT...] (keep objects, by digest or name, in memory; all when none given), \
            purge PATH... or purge --prefix P (with --origin: drop the cached responses for these \
            paths, or for every path starting with P; prints how many objects went).
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

    func run() throws {
        let admin: HostPort
        do { admin = try HostPort(listenAddress: self.admin) } catch { throw ValidationError("--admin \(error); give ADDR:PORT") }
        let (host, port) = (admin.host, admin.port)
        let (method, path): (String, String)
        switch self.action {
        case .status: (method, path) = ("GET", "/admin/status")
        case .objects: (method, path) = ("GET", "/admin/objects")
        case .metrics: (method, path) = ("GET", "/metrics")
        case .remount: (method, path) = ("POST", "/admin/remount")
        case .prefetch:
            let query = self.objects.map { "object=" + PercentCoding.encode($0) }.joined(separator: "&")
            (method, path) = ("POST", "/admin/prefetch" + (query.isEmpty ? "" : "?" + query))
        case .purge:
            guard !self.objects.isEmpty || !self.prefix.isEmpty else {
                throw ValidationError("give the cached paths to purge (e.g. /live/seg1.ts) or --prefix /live/")
            }
            guard (self.objects + self.prefix).allSatisfy({ $0.hasPrefix("/") }) else {
                throw ValidationError("cached paths and prefixes start with /, e.g. /live/seg1.ts or --prefix /live/")
            }
            let items = self.objects.map { "url=" + PercentCoding.encode($0) } + self.prefix.map { "prefix=" + PercentCoding.encode($0) }
            (method, path) = ("POST", "/admin/purge?" + items.joined(separator: "&"))
        }
        let token: String?
        do {
            token = try self.adminTokenFile.map { path throws(MiniCacheError) in try AdminToken.read(path) }
        } catch {
            Self.printError("minicache ctl: \(error)")
            throw ExitCode.failure
        }
        let (status, body) = try Self.request(host: host, port: port, method: method, path: path, token: token)
        print(body, terminator: body.hasSuffix("\n") ? "" : "\n")
        if status != 200 { throw ExitCode.failure }
    }

    static func printError(_ message: String) {
        let line = message + "\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }

    /// One HTTP/1.0 exchange over a blocking socket.
    static func request(host: String, port: Int, method: String, path: String, token: String? = nil) throws -> (Int, String) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else {
            throw ValidationError("cannot resolve the admin address \(host)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw ValidationError("cannot create a socket") }
        defer { close(fd) }
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            printError("minicache ctl: cannot connect to the admin listener at \(host):\(port); is `minicache serve` running with --admin \(host):\(port)?")
            throw ExitCode.failure
        }
        let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        let request = "\(method) \(path) HTTP/1.0\r\nHost: \(host):\(port)\r\n\(authorization)Content-Length: 0\r\n\r\n"
        _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, 0) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        guard let split = (0..<max(0, response.count - 3)).first(where: { response[$0..<$0 + 4].elementsEqual([13, 10, 13, 10]) }) else {
            throw ValidationError("the admin listener sent no HTTP response")
        }
        let statusLine = String(decoding: response[..<split], as: UTF8.self).split(separator: " ")
        let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
        return (status, String(decoding: response[(split + 4)...], as: UTF8.self))
    }
}
