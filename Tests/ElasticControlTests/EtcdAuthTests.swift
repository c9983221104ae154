import Crypto
import EtcdClient
import Foundation
import HTTPToolkit
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The etcd client against a real etcd with authentication on (`root` with a password): it
/// authenticates, sends its token with every request and stream, gets a new token when etcd no
/// longer knows the old one (a restart forgets them), and says what to do when the password is
/// wrong or missing.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct EtcdAuthTests {
    static let password = "s3cret pass"

    /// One call of etcd's JSON gateway: its status and JSON answer.
    static func gateway(_ etcd: EtcdTestServer, _ path: String, _ body: String, token: String? = nil) async throws -> (ok: Bool, answer: [String: Any]) {
        let client = OriginClient(group: MultiThreadedEventLoopGroup.singleton)
        defer { client.shutdown() }
        var headers: HTTPHeaders = ["Content-Type": "application/json"]
        if let token { headers.add(name: "Authorization", value: token) }
        let url = try HTTPURL("http://127.0.0.1:\(etcd.clientPort)/v3/\(path)", schemes: [.http])
        let response = try await client.request(.POST, url, headers: headers, body: ByteBuffer(string: body))
        let answer = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
        return (response.status == .ok, answer)
    }

    /// Creates the root role and user and turns authentication on (what `etcdctl user add root`
    /// and `etcdctl auth enable` do).
    static func enableAuthentication(_ etcd: EtcdTestServer) async throws {
        let steps = [
            ("auth/role/add", #"{"name":"root"}"#),
            ("auth/user/add", #"{"name":"root","password":"\#(password)"}"#),
            ("auth/user/grant", #"{"user":"root","role":"root"}"#),
            ("auth/enable", "{}"),
        ]
        for (path, body) in steps {
            let (ok, answer) = try await gateway(etcd, path, body)
            try #require(ok, "\(path): \(answer)")
        }
    }

    /// root's token from the gateway.
    static func token(_ etcd: EtcdTestServer) async throws -> String {
        let (ok, answer) = try await gateway(etcd, "auth/authenticate", #"{"name":"root","password":"\#(password)"}"#)
        try #require(ok, "\(answer)")
        return try #require(answer["token"] as? String)
    }

    /// Whether etcd takes `token` for a read.
    static func accepts(_ etcd: EtcdTestServer, token: String) async throws -> Bool {
        try await gateway(etcd, "kv/range", #"{"key":"Lw=="}"#, token: token).ok
    }

    /// Waits until etcd has forgotten every simple token last used before this call (unused
    /// for `--auth-token-ttl`; etcd drops them on its next sweep, once a second). A token etcd
    /// takes is used, and so lives a TTL longer, so each probe is tried once: one made every
    /// 250 ms and tried a second later, until etcd refuses one. etcd drops every expired token in
    /// the same sweep, so a refused probe means the older tokens went with it or before it.
    /// `timeout` is a safety margin for a stuck etcd, not a claim about its speed.
    static func waitUntilTokensBeforeNowAreForgotten(_ etcd: EtcdTestServer, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        var probes: [String] = []
        while ContinuousClock.now < deadline {
            probes.append(try await token(etcd))
            if probes.count > 4, try await !accepts(etcd, token: probes.removeFirst()) { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("etcd still took tokens unused for \(timeout)")
    }

    static func client(_ etcd: EtcdTestServer, password: String? = Self.password) throws -> EtcdClient {
        var configuration = EtcdConfiguration(endpoints: [etcd.endpoint])
        configuration.credentials = password.map { EtcdConfiguration.Credentials(user: "root", password: $0) }
        return try EtcdClient(configuration: configuration)
    }

    @Test(arguments: EtcdTestServer.executables) func aUserWithItsPasswordReadsWritesWatchesAndLeases(etcd executable: String) async throws {
        let etcd = try await EtcdTestServer.start(executable: executable)
        defer { etcd.destroy() }
        try await Self.enableAuthentication(etcd)
        let client = try Self.client(etcd)
        var iterator = client.observe(prefix: "/a/").makeAsyncIterator()
        guard case .snapshot = await iterator.next() else { Issue.record("no snapshot first"); return }
        let revision = try await client.put("/a/k", value: Array("1".utf8))
        #expect(try await client.get("/a/k")?.text == "1")
        guard case .events(let events, let reached) = await iterator.next() else { Issue.record("no event for a user's watch"); return }
        #expect(events.map(\.keyValue.key) == ["/a/k"])
        #expect(reached == revision)
        let lease = try await client.grantLease(ttl: 5)
        try await client.put("/a/leased", value: [1], lease: lease.id)
        try await client.revokeLease(lease.id)
        #expect(try await client.get("/a/leased") == nil)
        await client.close()
    }

    @Test func aWrongOrMissingPasswordIsRefusedWithWhatToDo() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        try await Self.enableAuthentication(etcd)
        let wrong = try Self.client(etcd, password: "not it")
        let refused = await #expect(throws: EtcdError.self) { try await wrong.put("/a/k", value: [1]) }
        #expect(refused?.code == .rejected)
        #expect(refused?.message.contains("refused user root's password") == true, "\(refused?.message ?? "")")
        await wrong.close()
        let anonymous = try Self.client(etcd, password: nil)
        let missing = await #expect(throws: EtcdError.self) { try await anonymous.get("/a/k") }
        #expect(missing?.message.contains("etcd requires a user and password") == true, "\(missing?.message ?? "")")
        await anonymous.close()
    }

    /// etcd forgets a token unused for its TTL (`--auth-token-ttl`, 300 s by default; 1 s
    /// here): a watch started with such a token is refused and started again with a new one,
    /// and a request after a quiet spell gets a new one too.
    @Test(.timeLimit(.minutes(1))) func aTokenEtcdForgotIsReplacedForTheWatchAndForRequests() async throws {
        let etcd = try await EtcdTestServer.start(arguments: ["--auth-token-ttl", "1"])
        defer { etcd.destroy() }
        try await Self.enableAuthentication(etcd)
        let client = try Self.client(etcd)
        let first = try await client.put("/a/before", value: [1])
        let old = try await Self.token(etcd)
        #expect(try await Self.accepts(etcd, token: old))
        try await Self.waitUntilTokensBeforeNowAreForgotten(etcd)
        // Both tokens, the gateway's and the client's, are forgotten now.
        #expect(try await !Self.accepts(etcd, token: old))
        var iterator = client.observe(prefix: "/a/", from: first + 1).makeAsyncIterator()
        guard case .disconnected(let refused) = await iterator.next() else { Issue.record("the watch's old token was not refused"); return }
        #expect(refused.message.contains("invalid auth token"), "\(refused.message)")
        let revision = try await client.put("/a/after", value: [2])
        var seen: [String] = []
        while let update = await iterator.next() {
            if case .events(let events, let reached) = update {
                seen += events.map(\.keyValue.key)
                if reached >= revision { break }
            }
        }
        #expect(seen == ["/a/after"])
        try await Self.waitUntilTokensBeforeNowAreForgotten(etcd)
        try await client.put("/a/late", value: [3])
        #expect(try await client.get("/a/late")?.value == [3])
        await client.close()
    }

    /// With JWT tokens (`--auth-token jwt,…`) a token expires a fixed time after etcd signed it
    /// (`ttl`, 1 s here), however often it is used, unlike the simple tokens above: requests that
    /// go on across an expiry keep succeeding (the client signs in again when etcd refuses the
    /// token), and a watch keeps delivering.
    @Test(.timeLimit(.minutes(1))) func jwtTokensThatExpireWhileInUseAreRenewed() async throws {
        let directory = TestEnvironment.temporaryDirectory("etcd-jwt")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = P256.Signing.PrivateKey()
        try key.pemRepresentation.write(toFile: directory + "/jwt.key", atomically: true, encoding: .utf8)
        try key.publicKey.pemRepresentation.write(toFile: directory + "/jwt.pub", atomically: true, encoding: .utf8)
        let jwt = "jwt,pub-key=\(directory)/jwt.pub,priv-key=\(directory)/jwt.key,sign-method=ES256,ttl=1s"
        let etcd = try await EtcdTestServer.start(arguments: ["--auth-token", jwt])
        defer { etcd.destroy() }
        try await Self.enableAuthentication(etcd)
        let client = try Self.client(etcd)
        let first = try await client.put("/a/first", value: [0])
        var iterator = client.observe(prefix: "/a/", from: first + 1).makeAsyncIterator()
        // A token signed after the client's: once etcd refuses it, the client's has expired too.
        let probe = try await Self.token(etcd)
        var round = 0
        var expired = false
        while !expired {
            round += 1
            try await client.put("/a/k", value: Array(String(round).utf8))
            #expect(try await client.get("/a/k")?.text == String(round))
            expired = try await !Self.accepts(etcd, token: probe)
            try await Task.sleep(for: .milliseconds(100))
        }
        let after = try await client.put("/a/after", value: [1])
        #expect(try await client.get("/a/after")?.value == [1])
        var seen: [String] = []
        while let update = await iterator.next() {
            if case .events(let events, let reached) = update {
                seen += events.map(\.keyValue.key)
                if reached >= after { break }
            }
        }
        #expect(seen.last == "/a/after")
        #expect(Set(seen) == ["/a/k", "/a/after"])
        await client.close()
    }

    /// `ecdn state` (the real executable) with `--etcd-user` and `--etcd-password-file`, and its
    /// refusals of a password file it cannot use: one line naming the file.
    @Test func ecdnStateAuthenticatesWithAUserAndAPasswordFile() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        try await Self.enableAuthentication(etcd)
        let directory = TestEnvironment.temporaryDirectory("etcd-auth")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/password"
        try (Self.password + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let user = ["--store", etcd.url, "--etcd-user", "root", "--etcd-password-file", file]
        let initialised = try await StateCommandTests.state(["init"] + user + ["--origin", "http://127.0.0.1:9", "--sites", "1"])
        #expect(initialised.status == 0, "\(initialised.error)")
        let dump = try await StateCommandTests.state(["dump"] + user)
        #expect(dump.status == 0, "\(dump.error)")
        #expect(dump.output.contains("/ecdn/sites/site1 "))

        let anonymous = try await StateCommandTests.state(["dump", "--store", etcd.url])
        #expect(anonymous.status != 0)
        #expect(anonymous.error.contains("etcd requires a user and password"), "\(anonymous.error)")
        let missing = directory + "/absent"
        let unreadable = try await StateCommandTests.state(["dump", "--store", etcd.url, "--etcd-user", "root", "--etcd-password-file", missing])
        #expect(unreadable.status != 0)
        #expect(unreadable.error.contains("cannot read the etcd password file \(missing): No such file or directory"), "\(unreadable.error)")
        let noFile = try await StateCommandTests.state(["dump", "--store", etcd.url, "--etcd-user", "root"])
        #expect(noFile.error.contains("--etcd-user needs --etcd-password-file"), "\(noFile.error)")
    }
}
