import ArgumentParser
import ElasticControl
import Foundation
import Logging

/// `ecdn up`, named from inside commands that have an `Up` of their own.
typealias ECDNUp = Up

/// `ecdn testbed`: the multi-host test bed in network namespaces on this machine.
struct TestbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "Build (up) or remove (down) a multi-host elastic CDN in network namespaces on this machine (root).",
        discussion: """
            up: a bridge and one namespace per host: a 3-member etcd cluster, controllers, \
            routers, the origin, one agent per site host, one client namespace per site \
            (viewers come from 10.77.(100+N).0/24, site N's caches get 10.77.N.10 and up). \
            Prints router:, api:, dashboard:, origin: and store: for the distributed deployment. \
            Viewers from a site: ip netns exec ecdntb-view1 curl -sL http://10.77.0.31:8000/live/1/index.m3u8
            down: kills every process in the bed's namespaces, deletes them, their links and the \
            bridge, and removes its folder; it leaves nothing behind.
            """,
        subcommands: [Up.self, Down.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "Prefix of the bed's namespaces, links and folder (at most 6 characters).")
        var name = "ecdntb"

        func validate() throws {
            guard (1...6).contains(name.count), name.allSatisfy({ $0.isLetter || $0.isNumber }) else {
                throw ValidationError("--name must be 1 to 6 letters or digits")
            }
        }
    }

    static func testbed(_ options: Options, sites: Int = 3, logLevel: String = "warning", controllerArguments: [String] = []) -> Testbed {
        let logger = ECDNUp.bootstrapLogging(logLevel)
        return Testbed(
            configuration: TestbedConfiguration(
                name: options.name, sites: sites, ecdn: ECDNUp.siblingExecutable("ecdn"), minicache: ECDNUp.siblingExecutable("minicache"),
                controllerArguments: controllerArguments
            ),
            logger: logger
        )
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build the test bed and start every process in it.")

        @OptionGroup var options: Options

        @Option(help: "Site hosts (each with an agent and a client namespace).")
        var sites = 3

        @Option(help: ArgumentHelp("Seconds without viewers before a cache stops.", valueName: "S"))
        var idleTimeout: Double = 30

        func validate() throws {
            guard (1...9).contains(sites) else { throw ValidationError("--sites must be 1...9") }
        }

        func run() async throws {
            let bed = TestbedCommand.testbed(options, sites: sites, controllerArguments: ["--idle-timeout", "\(idleTimeout)"])
            do {
                let urls = try await bed.up { FileHandle.standardError.write(Data("testbed: \($0)\n".utf8)) }
                print("router: \(urls.routers[0])")
                print("api: \(urls.apis[0])/api")
                print("dashboard: \(urls.apis[0])/")
                print("origin: \(urls.origin)")
                print("store: \(urls.store)")
                for (k, url) in urls.routers.enumerated().dropFirst() { print("router\(k + 1): \(url)") }
                for (k, url) in urls.apis.enumerated().dropFirst() { print("api\(k + 1): \(url)/api") }
                print("try: ip netns exec \(options.name)-view1 curl -sL \(urls.routers[0])/live/1/index.m3u8   (ecdn testbed down removes it all)")
            } catch {
                ECDNUp.fail("\(error)")
            }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every process of the test bed and remove its namespaces, links and folder.")

        @OptionGroup var options: Options

        func run() async throws {
            let bed = TestbedCommand.testbed(options)
            await bed.down()
            let left = bed.leftovers()
            guard left.namespaces.isEmpty, left.links.isEmpty, left.processes == 0 else {
                ECDNUp.fail("left behind: namespaces \(left.namespaces), links \(left.links), \(left.processes) processes")
            }
            print("testbed \(options.name): down")
        }
    }
}
