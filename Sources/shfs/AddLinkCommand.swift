import ArgumentParser
import SHFS

extension LinkType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

struct AddLinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-link",
        abstract: "Add a link to a remote object: http://host[:port]/path.",
        discussion: "redirect answers 307 with the URL; raw and auto fetch it from the remote. The digest is the SHA-256 of the URL."
    )

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Argument(help: "The remote URL, http://host[:port]/path.")
    var url: String

    @Option(name: .shortAndLong, help: "How the link is served: redirect, raw or auto.")
    var type: LinkType = .redirect

    @Option(name: .shortAndLong, help: "Link name.")
    var name: String = ""

    @Option(name: .shortAndLong, help: "Hex digest to store instead of the SHA-256 of the URL.")
    var digest: String?

    @Flag(help: "Hide the link from listings.")
    var hidden = false

    func run() throws {
        let link = try Link(url: url, type: type)
        let w = try VolumeWriter(path: volume)
        let d = try digest.map { (hex) throws(SHFSError) in try w.digest(fromHex: hex) }
        let e = try w.addLink(url: url, type: type, name: name, digest: d, hidden: hidden)
        print("\(e.hexDigest)  \(type) -> \(link.url)  \(e.name)")
    }
}
