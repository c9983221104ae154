import ArgumentParser
import ElasticControl
import EtcdClient
import Foundation
import HTTPToolkit
import NIOPosix

/// `ecdn state`: read and edit the distributed control plane's state in etcd.
struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Dump, watch or edit the cluster's state in etcd (docs/distributed.md has the key layout).",
        subcommands: [Dump.self, Watch.self, Set.self, Delete.self, Init.self]
    )

    static func client(_ options: StoreOptions) -> EtcdClient {
        options.connect(group: MultiThreadedEventLoopGroup.singleton)
    }

    static func line(_ key: String, _ value: [UInt8]) -> String { "\(key) \(String(decoding: value, as: UTF8.self))" }

    struct Dump: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every key under the root as `KEY JSON`, one a line.")

        @OptionGroup var store: StoreOptions

        @Option(help: "Only keys under this part of the root, e.g. placements/ or sites/.")
        var prefix = ""

        func run() async throws {
            let client = StateCommand.client(store)
            do {
                let snapshot = try await client.snapshot(prefix: ClusterKeys().root + prefix)
                for kv in snapshot.keyValues { print(StateCommand.line(kv.key, kv.value)) }
                print("# revision \(snapshot.revision), \(snapshot.keyValues.count) keys")
            } catch {
                Up.fail("\(error)")
            }
            await client.close()
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every change under the root as it happens (`put KEY JSON`, `delete KEY`), until Ctrl-C.")

        @OptionGroup var store: StoreOptions

        @Option(help: "Only keys under this part of the root.")
        var prefix = ""

        func run() async throws {
            let client = StateCommand.client(store)
            for await update in client.observe(prefix: ClusterKeys().root + prefix) {
                switch update {
                case .snapshot(let snapshot):
                    print("# \(snapshot.keyValues.count) keys at revision \(snapshot.revision)")
                case .events(let events, _):
                    for event in events {
                        print(event.kind == .put ? "put " + StateCommand.line(event.keyValue.key, event.keyValue.value) : "delete \(event.keyValue.key)")
                    }
                case .disconnected(let error):
                    print("# etcd unreachable (\(error.message)); resuming when it is back")
                }
                fflush(nil)
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one key (relative to the root) with a JSON value, e.g. sites/site4 or tenants/news.",
            discussion: """
                The value is checked against the key's record type before it is written: \
                sites/<name> takes {"schema":1,"name":...,"clientPrefix":"A.B.C.D/LEN","instanceBase":"A.B.C.D","maxInstances":N}, \
                tenants/<name> {"schema":1,"name":...,"origin":"http://...","hostnames":[],"pathPrefix":"/","quotaPerSite":N}. \
                Placements, status and demand belong to the controllers, agents and routers.

                Writes are compare-and-swap, so an edit never silently undoes another operator's: \
                a new key is created only if it is still absent; an existing key is replaced only \
                with --revision R, and only if it has not changed since revision R (the revision \
                `ecdn state dump` printed under the value you edited). --force replaces it whatever it holds.
                """
        )

        @OptionGroup var store: StoreOptions

        @Argument(help: "The key under the root, e.g. sites/site4.")
        var key: String

        @Argument(help: "The JSON value (- reads it from standard input).")
        var value: String

        @Option(help: ArgumentHelp("Replace the key only if it exists and has not changed since this revision (from `ecdn state dump`).", valueName: "R"))
        var revision: Int64?

        @Flag(help: "Write whatever the key holds now (no compare-and-swap).")
        var force = false

        func validate() throws {
            if revision != nil && force { throw ValidationError("--revision and --force exclude each other: --force writes whatever the key holds") }
            if let revision, revision <= 0 { throw ValidationError("--revision must be positive (the revision `ecdn state dump` printed)") }
        }

        func run() async throws {
            let text = value == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : value
            let bytes = Array(text.utf8)
            let kind = key.split(separator: "/").first.map(String.init) ?? ""
            let parts = key.split(separator: "/")
            switch kind {
            case "sites":
                guard parts.count == 2, let site = ClusterRecords.decode(SiteRecord.self, from: bytes), site.name == parts[1],
                      PrefixTable.parsePrefix(site.clientPrefix[...]) != nil, site.configuration.instanceAddress(slot: 0) != nil else {
                    Up.fail("sites/<name> needs a site record whose name matches the key, with a valid clientPrefix and instanceBase (see --help)")
                }
            case "tenants":
                guard parts.count == 2, let tenant = ClusterRecords.decode(TenantRecord.self, from: bytes), tenant.name == parts[1],
                      (try? HTTPURL(tenant.origin)) != nil else {
                    Up.fail("tenants/<name> needs a tenant record whose name matches the key, with an http:// origin (see --help)")
                }
            default:
                Up.fail("only sites/<name> and tenants/<name> are edited by hand; the rest belongs to the controllers, agents and routers")
            }
            let client = StateCommand.client(store)
            let full = ClusterKeys().root + key
            do {
                if force {
                    let written = try await client.put(full, value: bytes)
                    print("ok: \(full) at revision \(written) (forced)")
                } else {
                    let conditions: [EtcdCompare] = revision.map {
                        [EtcdCompare(key: full, .greater, .version(0)), EtcdCompare(key: full, .less, .modRevision($0 + 1))]
                    } ?? [.absent(full)]
                    let result = try await client.transaction(if: conditions, then: [.put(key: full, value: bytes)], else: [.get(key: full)])
                    guard result.succeeded else { Up.fail(refusal(full, now: result.reads.first?.first)) }
                    print("ok: \(full) at revision \(result.revision)")
                }
            } catch {
                Up.fail("\(error)")
            }
            await client.close()
        }

        /// Why the compare-and-swap failed, given what the key holds now, and what to do.
        private func refusal(_ key: String, now: EtcdKeyValue?) -> String {
            guard let now else {
                return "\(key) does not exist (deleted since revision \(revision ?? 0)?); nothing written. Set it without --revision to create it."
            }
            let current = "it holds \(String(decoding: now.value, as: UTF8.self)), last changed at revision \(now.modRevision)"
            guard let revision else {
                return "\(key) exists (\(current)); nothing written. To replace it only if nobody changes it first, pass --revision \(now.modRevision) "
                    + "(or the revision of the `ecdn state dump` you edited); --force replaces it whatever it holds."
            }
            return "\(key) changed after revision \(revision) (\(current)); nothing written, so that change is not lost. "
                + "Dump it again, redo your edit on what it holds now and set it with --revision \(now.modRevision), or --force to overwrite it."
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete one site or tenant (sites/<name>, tenants/<name>).",
            discussion: "With --revision R, only if the key has not changed since revision R (from `ecdn state dump`): a change made meanwhile is not deleted unseen."
        )

        @OptionGroup var store: StoreOptions

        @Argument(help: "The key under the root, e.g. sites/site4.")
        var key: String

        @Option(help: ArgumentHelp("Delete the key only if it has not changed since this revision (from `ecdn state dump`).", valueName: "R"))
        var revision: Int64?

        func validate() throws {
            if let revision, revision <= 0 { throw ValidationError("--revision must be positive (the revision `ecdn state dump` printed)") }
        }

        func run() async throws {
            guard key.hasPrefix("sites/") || key.hasPrefix("tenants/"), key.split(separator: "/").count == 2 else {
                Up.fail("only sites/<name> and tenants/<name> are deleted by hand")
            }
            let client = StateCommand.client(store)
            let full = ClusterKeys().root + key
            do {
                if let revision {
                    let result = try await client.transaction(
                        if: [EtcdCompare(key: full, .greater, .version(0)), EtcdCompare(key: full, .less, .modRevision(revision + 1))],
                        then: [.delete(key: full)], else: [.get(key: full)]
                    )
                    if !result.succeeded {
                        guard let now = result.reads.first?.first else { Up.fail("no such key: \(full)") }
                        Up.fail(
                            "\(full) changed after revision \(revision) (it holds \(String(decoding: now.value, as: UTF8.self)), last changed at revision "
                                + "\(now.modRevision)); nothing deleted. Look at it again, and delete it with --revision \(now.modRevision) if it should still go."
                        )
                    }
                    print("deleted \(full)")
                } else {
                    let deleted = try await client.delete(full)
                    print(deleted > 0 ? "deleted \(full)" : "no such key: \(full)")
                }
            } catch {
                Up.fail("\(error)")
            }
            await client.close()
        }
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write loopback sites and the default tenants (keys that exist are kept unless --overwrite)."
        )

        @OptionGroup var store: StoreOptions

        @Option(help: "Sites (site N owns 127.0.(N-1+first).0/24).")
        var sites = 3

        @Option(help: ArgumentHelp("Site N owns 127.0.(N-1+this).0/24.", valueName: "OCTET"))
        var firstSiteOctet = 1

        @Option(help: ArgumentHelp("The tenants' origin.", valueName: "URL"))
        var origin: String

        @Flag(help: "Replace existing sites and tenants.")
        var overwrite = false

        func run() async throws {
            let client = StateCommand.client(store)
            let tenants = [
                TenantConfiguration(name: "default", origin: origin, pathPrefix: "/", quotaPerSite: 2),
                TenantConfiguration(name: "vod", origin: origin, pathPrefix: "/vod/", quotaPerSite: 1),
            ]
            do {
                try await ClusterSeed.write(client: client, sites: SiteConfiguration.loopbackSites(sites, firstOctet: firstSiteOctet), tenants: tenants, overwrite: overwrite)
                print("ok: \(sites) sites, \(tenants.count) tenants")
            } catch {
                Up.fail("\(error)")
            }
            await client.close()
        }
    }
}
