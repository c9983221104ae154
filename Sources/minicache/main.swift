import ArgumentParser

// Taken first, so the start-up log line measures from (almost) exec.
let processStart = ContinuousClock.now

func runCommand() async {
    await Minicache.main()
}

await runCommand()
