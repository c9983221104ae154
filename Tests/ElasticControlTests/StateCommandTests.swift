@testable import ElasticControl
import EtcdClient
import Foundation
import MiniCacheTesting
import Testing

/// `ecdn state` (the real executable) against a real etcd: operators dump, watch and edit the
/// desired state; values are checked before they are written.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct StateCommandTests {
    /// Runs `ecdn state ARGUMENTS`; its exit status, standard output and standard error.
    static func state(_ arguments: [String], input: String? = nil) async throws -> ProcessRun {
        try await ProcessRun.run(Binaries.ecdn, ["state"] + arguments, input: Array((input ?? "").utf8))
    }

    @Test func operatorsInitDumpEditAndDeleteSitesAndTenants() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let store = ["--store", etcd.url]

        let initialised = try await Self.state(["init"] + store + ["--origin", "http://127.0.0.1:9", "--sites", "2"])
        #expect(initialised.status == 0, "\(initialised.error)")
        let dump = try await Self.state(["dump"] + store)
        let keys = dump.output.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.split(separator: " ")[0]) }
        #expect(keys == ["/ecdn/sites/site1", "/ecdn/sites/site2", "/ecdn/tenants/default", "/ecdn/tenants/vod"])
        #expect(dump.output.contains("# revision "))

        // A new site from standard input; the dump of sites/ shows it, and it decodes.
        let site4 = #"{"schema":1,"name":"site4","clientPrefix":"127.0.40.0/24","instanceBase":"127.0.41.10","maxInstances":3}"#
        let set = try await Self.state(["set"] + store + ["sites/site4", "-"], input: site4)
        #expect(set.status == 0, "\(set.error)")
        #expect(set.output.hasPrefix("ok: /ecdn/sites/site4 at revision "))
        let sites = try await Self.state(["dump"] + store + ["--prefix", "sites/"])
        let line = try #require(sites.output.split(separator: "\n").first { $0.hasPrefix("/ecdn/sites/site4 ") })
        let record = try #require(ClusterRecords.decode(SiteRecord.self, from: Array(line.dropFirst("/ecdn/sites/site4 ".count).utf8)))
        #expect(record.maxInstances == 3 && record.clientPrefix == "127.0.40.0/24")

        // Bad values are refused before anything is written, and say what is expected.
        let misnamed = try await Self.state(["set"] + store + ["sites/site5", site4])
        #expect(misnamed.status != 0)
        #expect(misnamed.error.contains("name matches the key"))
        let badPrefix = try await Self.state(["set"] + store + ["sites/site6", site4.replacingOccurrences(of: "site4", with: "site6").replacingOccurrences(of: "127.0.40.0/24", with: "nonsense")])
        #expect(badPrefix.status != 0)
        let notJSON = try await Self.state(["set"] + store + ["tenants/news", "{not json"])
        #expect(notJSON.status != 0)
        #expect(notJSON.error.contains("tenants/<name>"))
        let placement = try await Self.state(["set"] + store + ["placements/site1/x", "{}"])
        #expect(placement.status != 0)
        #expect(placement.error.contains("belongs to the controllers"))
        let afterRefusals = try await Self.state(["dump"] + store)
        #expect(!afterRefusals.output.contains("site5") && !afterRefusals.output.contains("site6") && !afterRefusals.output.contains("news"))
        #expect(!afterRefusals.output.contains("/ecdn/placements/"))

        let deleted = try await Self.state(["delete"] + store + ["sites/site4"])
        #expect(deleted.output.hasPrefix("deleted /ecdn/sites/site4"))
        #expect(try await Self.state(["delete"] + store + ["sites/site4"]).output.hasPrefix("no such key"))
        #expect(try await Self.state(["delete"] + store + ["placements/site1"]).status != 0)
        #expect(!(try await Self.state(["dump"] + store)).output.contains("site4"))
    }

    @Test func setIsACompareAndSwapSoAnEditNeverUndoesAnotherOperators() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let store = ["--store", etcd.url]
        func site(_ maxInstances: Int) -> String {
            #"{"schema":1,"name":"site4","clientPrefix":"127.0.40.0/24","instanceBase":"127.0.41.10","maxInstances":\#(maxInstances)}"#
        }
        func stored() async throws -> Int? {
            let line = try await Self.state(["dump"] + store + ["--prefix", "sites/site4"]).output.split(separator: "\n").first { $0.hasPrefix("/ecdn/sites/site4 ") }
            return line.flatMap { ClusterRecords.decode(SiteRecord.self, from: Array($0.dropFirst("/ecdn/sites/site4 ".count).utf8))?.maxInstances }
        }
        func dumpRevision() async throws -> Int64? {
            let output = try await Self.state(["dump"] + store).output
            return output.split(separator: "\n").last { $0.hasPrefix("# revision ") }
                .flatMap { Int64($0.dropFirst("# revision ".count).split(separator: ",").first ?? "") }
        }

        // A new key is created; setting it again without a revision is refused and says how.
        #expect(try await Self.state(["set"] + store + ["sites/site4", site(1)]).status == 0)
        let again = try await Self.state(["set"] + store + ["sites/site4", site(2)])
        #expect(again.status != 0)
        #expect(again.error.contains("exists") && again.error.contains("--revision") && again.error.contains("--force"), "\(again.error)")
        #expect(try await stored() == 1)

        // Two operators edit what one dump showed: the first write wins, the second is refused
        // with what the key holds now, and the first one's change is kept.
        let seen = try #require(try await dumpRevision())
        let first = try await Self.state(["set"] + store + ["sites/site4", site(5), "--revision", "\(seen)"])
        #expect(first.status == 0, "\(first.error)")
        let second = try await Self.state(["set"] + store + ["sites/site4", site(7), "--revision", "\(seen)"])
        #expect(second.status != 0)
        #expect(second.error.contains("changed after revision \(seen)") && second.error.contains(#""maxInstances":5"#), "\(second.error)")
        #expect(try await stored() == 5)
        // Redone on a fresh dump, it goes through.
        let fresh = try #require(try await dumpRevision())
        #expect(try await Self.state(["set"] + store + ["sites/site4", site(7), "--revision", "\(fresh)"]).status == 0)
        #expect(try await stored() == 7)

        // Racing writers on the same revision: exactly one wins, and the key holds its value.
        let base = try #require(try await dumpRevision())
        let racers = try (0..<4).map { k -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Binaries.ecdn)
            process.arguments = ["state", "set"] + store + ["sites/site4", site(10 + k), "--revision", "\(base)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for racer in racers { await racer.exited() }
        let winners = racers.indices.filter { racers[$0].terminationStatus == 0 }
        #expect(winners.count == 1)
        #expect(try await stored() == winners.first.map { 10 + $0 })

        // A delete on a stale revision is refused and deletes nothing; on a fresh one it goes through.
        let staleDelete = try await Self.state(["delete"] + store + ["sites/site4", "--revision", "\(seen)"])
        #expect(staleDelete.status != 0 && staleDelete.error.contains("changed after revision \(seen)"), "\(staleDelete.error)")
        #expect(try await stored() != nil)
        let current = try #require(try await dumpRevision())
        #expect(try await Self.state(["delete"] + store + ["sites/site4", "--revision", "\(current)"]).output.hasPrefix("deleted /ecdn/sites/site4"))

        // A revision for a key that is gone is refused; --force writes whatever the key holds.
        let gone = try await Self.state(["set"] + store + ["sites/site4", site(3), "--revision", "\(base)"])
        #expect(gone.status != 0 && gone.error.contains("does not exist"))
        #expect(try await stored() == nil)
        #expect(try await Self.state(["set"] + store + ["sites/site4", site(3)]).status == 0)
        let forced = try await Self.state(["set"] + store + ["sites/site4", site(9), "--force"])
        #expect(forced.status == 0 && forced.output.contains("(forced)"))
        #expect(try await stored() == 9)
        #expect(try await Self.state(["set"] + store + ["sites/site4", site(9), "--force", "--revision", "1"]).status != 0)
    }

    @Test func watchPrintsEveryChangeAsItHappens() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: Binaries.ecdn)
        watcher.arguments = ["state", "watch", "--store", etcd.url, "--prefix", "tenants/"]
        let output = Pipe()
        watcher.standardOutput = output
        watcher.standardError = FileHandle.nullDevice
        try watcher.run()
        defer { if watcher.isRunning { watcher.terminate() } }
        let printed = ChildOutput(output.fileHandleForReading)
        func read(until text: String) async -> Bool { await printed.wait(for: text) }
        #expect(await read(until: "# 0 keys at revision"))
        let tenant = #"{"schema":1,"name":"news","origin":"http://127.0.0.1:9","hostnames":[],"pathPrefix":"/","quotaPerSite":1}"#
        #expect(try await Self.state(["set", "--store", etcd.url, "tenants/news", tenant]).status == 0)
        #expect(await read(until: "put /ecdn/tenants/news {"))
        #expect(try await Self.state(["delete", "--store", etcd.url, "tenants/news"]).status == 0)
        #expect(await read(until: "delete /ecdn/tenants/news"))
        // Changes outside the prefix are not shown.
        #expect(try await Self.state(["init", "--store", etcd.url, "--origin", "http://127.0.0.1:9", "--sites", "1"]).status == 0)
        #expect(await read(until: "put /ecdn/tenants/vod"))
        #expect(!printed.text.contains("/ecdn/sites/"))
    }
}
