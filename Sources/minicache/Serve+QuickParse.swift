import ArgumentParser
import MiniCacheServer
import NIOCore

extension Serve {
    /// `Serve`'s stored properties as ``quickParse(_:)`` knows them, in declaration order. A
    /// property added to `Serve` changes its size, which turns the quick path off (ArgumentParser
    /// then parses everything) until it and the switch below know the new option;
    /// `StartupArgumentsTests` fails meanwhile.
    typealias QuickParseLayout = (
        Argument<String>, Option<String?>, Option<String?>, Option<[String]>, Option<[String]>, Option<String>,
        Option<String>, Option<Int>, Option<Double?>, Option<Int>, Option<Int>, Option<Double>, Option<Double>, Option<String>,
        Option<String?>, Option<String?>, Flag<Bool>, Option<String>, Option<Int>, Option<String?>, Option<String?>, Option<String?>,
        Option<Int>, Option<String>, Flag<Bool>, Option<Int>, Option<String>
    )

    /// Parses the arguments after `serve` without ArgumentParser, for the common, well-formed case.
    ///
    /// ArgumentParser reads a command's options through reflection; in a static executable every
    /// first cast it makes scans all protocol-conformance records of the binary: 2.4 ms of an
    /// 8.5 ms start-up (CPU time) here. This recognises exactly the spellings ArgumentParser accepts for `serve`
    /// (`--name value`, `--name=value`, the flag, one positional volume, any order, defaults as
    /// declared) and returns nil for anything else — help, unknown or repeated options, values
    /// that look like options, `--`, values that do not convert, a failed `validate()` — so
    /// ArgumentParser parses those and reports errors and help exactly as before.
    static func quickParse(_ arguments: some Collection<String>) -> Serve? {
        guard MemoryLayout<Serve>.size == MemoryLayout<QuickParseLayout>.size else { return nil }
        var volume: String?
        var listen: String?
        var listenTls: String?
        var tlsCert: [String] = []
        var tlsKey: [String] = []
        var tlsUnknownName = TLSListenerConfiguration.UnknownServerName.defaultCertificate.rawValue
        var tlsMinVersion = TLSListenerConfiguration.MinimumVersion.tls12.rawValue
        var h2MaxStreams = 100
        var tlsTicketRotation: Double?
        var threads: Int?
        var maxConnections = 10_000
        var idleTimeout: Double = 60
        var headerTimeout: Double = 10
        var admin = "127.0.0.1:9080"
        var readyFile: String?
        var adminTokenFile: String?
        var accessLog = false
        var surrogateControl = false
        var largeObjects = LargeObjectStrategy.sendfile.rawValue
        var smallObjectLimit = 64 * 1024
        var origin: String?
        var origins: String?
        var originCa: String?
        var maxStoredObject = 64 << 20
        var eviction = EvictionKind.lru.rawValue
        var memoryBudget = 256 << 20
        var logLevel = "info"

        var seen: [Substring] = []
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            guard argument.hasPrefix("-") else {
                guard volume == nil else { return nil }
                volume = argument
                continue
            }
            var name = Substring(argument)
            var value: String?
            if let equals = argument.firstIndex(of: "=") {
                name = argument[..<equals]
                value = String(argument[argument.index(after: equals)...])
            }
            guard !seen.contains(name) else { return nil }
            seen.append(name)
            if name == "--access-log" || name == "--surrogate-control" {
                guard value == nil else { return nil }
                if name == "--access-log" { accessLog = true } else { surrogateControl = true }
                continue
            }
            if value == nil {
                guard let next = iterator.next(), !next.hasPrefix("-") else { return nil }
                value = next
            }
            guard let value else { return nil }
            switch name {
            case "--listen": listen = value
            case "--listen-tls": listenTls = value
            case "--tls-cert": tlsCert = [value]
            case "--tls-key": tlsKey = [value]
            case "--tls-unknown-name": tlsUnknownName = value
            case "--tls-min-version": tlsMinVersion = value
            case "--h2-max-streams": guard let n = Int(value) else { return nil }; h2MaxStreams = n
            case "--tls-ticket-rotation": guard let s = Double(value) else { return nil }; tlsTicketRotation = s
            case "--threads": guard let n = Int(value) else { return nil }; threads = n
            case "--max-connections": guard let n = Int(value) else { return nil }; maxConnections = n
            case "--idle-timeout": guard let s = Double(value) else { return nil }; idleTimeout = s
            case "--header-timeout": guard let s = Double(value) else { return nil }; headerTimeout = s
            case "--admin": admin = value
            case "--ready-file": readyFile = value
            case "--admin-token-file": adminTokenFile = value
            case "--large-objects": largeObjects = value
            case "--small-object-limit": guard let n = Int(value) else { return nil }; smallObjectLimit = n
            case "--origin": origin = value
            case "--origins": origins = value
            case "--origin-ca": originCa = value
            case "--max-stored-object": guard let n = Int(value) else { return nil }; maxStoredObject = n
            case "--eviction": eviction = value
            case "--memory-budget": guard let n = Int(value) else { return nil }; memoryBudget = n
            case "--log-level": logLevel = value
            default: return nil
            }
        }
        guard let volume else { return nil }
        var serve = Serve()
        serve.volume = volume
        serve.listen = listen
        serve.listenTls = listenTls
        serve.tlsCert = tlsCert
        serve.tlsKey = tlsKey
        serve.tlsUnknownName = tlsUnknownName
        serve.tlsMinVersion = tlsMinVersion
        serve.h2MaxStreams = h2MaxStreams
        serve.tlsTicketRotation = tlsTicketRotation
        serve.threads = threads ?? System.coreCount
        serve.maxConnections = maxConnections
        serve.idleTimeout = idleTimeout
        serve.headerTimeout = headerTimeout
        serve.admin = admin
        serve.readyFile = readyFile
        serve.adminTokenFile = adminTokenFile
        serve.accessLog = accessLog
        serve.surrogateControl = surrogateControl
        serve.largeObjects = largeObjects
        serve.smallObjectLimit = smallObjectLimit
        serve.origin = origin
        serve.origins = origins
        serve.originCa = originCa
        serve.maxStoredObject = maxStoredObject
        serve.eviction = eviction
        serve.memoryBudget = memoryBudget
        serve.logLevel = logLevel
        guard (try? serve.validate()) != nil else { return nil }
        return serve
    }
}
