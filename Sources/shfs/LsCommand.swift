import ArgumentParser
import SHFS

struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List a volume's objects and links by name: digest, size, MIME type, flags (D default, H hidden, L link), date, name."
    )

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Flag(name: .shortAndLong, help: "Also list hidden entries.")
    var all = false

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    func run() throws {
        let v = try Volume(path: volume)
        let entries = v.entries.filter { all || !$0.isHidden }.sorted { ($0.name, $0.hexDigest) < ($1.name, $1.hexDigest) }
        if json {
            print("[")
            for (i, e) in entries.enumerated() {
                var fields = [
                    "\"slot\": \(e.slot)", "\"digest\": \(Output.json(e.hexDigest))", "\"name\": \(Output.json(e.name))",
                    "\"flags\": \(e.flags.rawValue)", "\"default\": \(e.isDefault)", "\"hidden\": \(e.isHidden)",
                    "\"created\": \(e.creationTime)",
                ]
                switch e.content {
                case .object(let x):
                    fields += ["\"offset\": \(x.byteOffset)", "\"size\": \(x.length)", "\"mime\": \(Output.json(x.mimeType))", "\"encoding\": \(Output.json(x.encoding))"]
                case .link(let l):
                    fields += ["\"link\": {\"type\": \(Output.json(l.type.description)), \"host\": \(Output.json(l.host)), \"port\": \(l.port), \"path\": \(Output.json(l.path)), \"url\": \(Output.json(l.url))}"]
                }
                print("  {" + fields.joined(separator: ", ") + "}" + (i == entries.count - 1 ? "" : ","))
            }
            print("]")
            return
        }
        let digestWidth = v.header.digestLength * 2
        print(Output.pad("DIGEST", digestWidth) + "  " + Output.pad("SIZE", 7, left: true) + "  " + Output.pad("MIME", 29) + "  FLG  " + Output.pad("CREATED", 16) + "  NAME")
        for e in entries {
            let size: String, mime: String, name: String
            switch e.content {
            case .object(let x):
                size = Output.size(x.length)
                mime = x.mimeType.isEmpty ? "-" : x.mimeType
                name = e.name
            case .link(let l):
                size = "-"
                mime = "link/\(l.type)"
                name = e.name + (e.name.isEmpty ? "" : " ") + "-> \(l.url)"
            }
            print(e.hexDigest + "  " + Output.pad(size, 7, left: true) + "  " + Output.pad(mime, 29) + "  " + Output.flags(e.flags) + "  " + Output.date(e.creationTime) + "  " + name)
        }
    }
}
