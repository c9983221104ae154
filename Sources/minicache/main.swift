import Dispatch

// Taken first, so the start-up log line measures from (almost) exec.
let processStart = ContinuousClock.now

// The main thread waits here instead of handing itself to `dispatch_main`, which ends it with
// `pthread_exit`: unwinding it makes a static executable sort every unwind table entry first,
// tens of milliseconds of start-up.
let finished = DispatchSemaphore(value: 0)
Task.detached {
    await Minicache.start(CommandLine.arguments.dropFirst())
    finished.signal()
}
// Half a second on, a server is past its start-up: hand back the pages of code only start-up ran.
if finished.wait(timeout: .now() + .milliseconds(500)) == .timedOut {
    ExecutablePages.releaseCode()
    finished.wait()
}
