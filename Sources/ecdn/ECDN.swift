import ArgumentParser

/// `ecdn`: the elastic-CDN control plane and simulator.
@main
struct ECDN: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecdn",
        abstract: "Elastic CDNs: build a CDN on the fly, or simulate one at country scale.",
        subcommands: [
            Up.self, ControllerCommand.self, AgentCommand.self, RouterCommand.self, StateCommand.self, TestbedCommand.self,
            Origin.self, Load.self, Simulate.self, Density.self, Image.self,
        ]
    )
}
