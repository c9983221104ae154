import ArgumentParser

/// `minicache`: serve SHFS volumes over HTTP, and talk to a running server.
struct Minicache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minicache",
        abstract: "A tiny, fast content cache serving SHFS volumes over HTTP/1.1.",
        discussion: """
            Start with `minicache serve VOLUME`; it prints the URL it serves on. Objects are at \
            /?<hex digest>, /<name>, and / for the default object. `minicache ctl` speaks to a \
            running server's admin listener.
            """,
        subcommands: [Serve.self, Ctl.self]
    )

    /// Runs the command line: a well-formed `serve` through ``Serve/quickParse(_:)`` (start-up
    /// time), everything else — other commands, help, every error — through ArgumentParser.
    static func start(_ arguments: ArraySlice<String>) async {
        guard arguments.first == "serve", let serve = Serve.quickParse(arguments.dropFirst()) else {
            await Self.main(Array(arguments))
            return
        }
        do {
            try await serve.run()
        } catch {
            Self.exit(withError: error)
        }
    }
}
