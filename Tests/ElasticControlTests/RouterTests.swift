@testable import ElasticControl
import Foundation
import HTTPToolkit
import MediaOrigin
import NIOCore
import NIOHTTP1
import Testing

struct PrefixTableTests {
    @Test func longestPrefixWinsAndCommentsAreIgnored() throws {
        let table = try PrefixTable(parsing: """
            # site map
            127.0.0.0/8 fallback
            127.0.1.0/24 site1   # the first site
            127.0.1.128/25 site1b

            10.0.0.0/8\tsite2
            """)
        #expect(table.site(for: "127.0.1.5") == "site1")
        #expect(table.site(for: "127.0.1.200") == "site1b")
        #expect(table.site(for: "127.0.9.1") == "fallback")
        #expect(table.site(for: "::ffff:10.1.2.3") == "site2")
        #expect(table.site(for: "192.168.0.1") == nil)
        #expect(table.site(for: "not an address") == nil)
    }

    @Test(arguments: ["127.0.1.0 site1", "127.0.1.0/33 site1", "127.0.1/24 site1", "127.0.1.0/24"])
    func badLinesAreRefusedWithTheirNumber(_ line: String) {
        #expect {
            try PrefixTable(parsing: "# ok\n\(line)\n")
        } throws: { error in
            (error as? ControlError)?.code == .badPrefixTable && "\(error)".contains("line 2")
        }
    }

    @Test func tenantsByHostNameThenLongestPathPrefix() {
        let tenants = [
            TenantConfiguration(name: "default", origin: "http://127.0.0.1:1"),
            TenantConfiguration(name: "vod", origin: "http://127.0.0.1:2", pathPrefix: "/vod/"),
            TenantConfiguration(name: "news", origin: "http://127.0.0.1:3", hostnames: ["news.example"]),
        ]
        func request(_ path: String, host: String = "cdn.example") -> HTTPRequest {
            HTTPRequest(method: .GET, uri: path, headers: ["Host": host])
        }
        #expect(Router.tenantFor(request("/live/1/index.m3u8"), tenants: tenants)?.name == "default")
        #expect(Router.tenantFor(request("/vod/movie1.mp4"), tenants: tenants)?.name == "vod")
        #expect(Router.tenantFor(request("/vod/movie1.mp4", host: "NEWS.example:8000"), tenants: tenants)?.name == "news")
    }
}

/// The router and controller with real `minicache` children on 127.0.N.x.
struct RouterTests {
    @Test func firstViewerAtAColdSiteIsSentToItsNewCache() async throws {
        let began = ContinuousClock.now
        let stack = try await TestStack(octet: 111, sites: 2)
        let client = stack.client
        let first = try await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.111.5")
        #expect(first.status == 302)
        let location = try #require(first.headers.first(name: "Location"))
        #expect(location == "http://127.0.111.10:18080/live/1/index.m3u8")
        #expect(first.headers.first(name: "X-ECDN-Site") == "site1")
        let instance = try #require(first.headers.first(name: "X-ECDN-Instance"))
        #expect(instance.hasPrefix("site1-default-"))

        // The cache answers, filled from the origin.
        let answer = try await client.get(location, from: "127.0.111.5")
        #expect(answer.status == 200)
        #expect(String(buffer: answer.body).hasPrefix("#EXTM3U"))

        // Another viewer of the same site goes to the same ready cache at once.
        let second = try await client.get(stack.router.url + "/live/2/index.m3u8", from: "127.0.111.6")
        #expect(second.headers.first(name: "X-ECDN-Instance") == instance)

        // A viewer of the second site gets that site's own cache.
        let other = try await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.112.9")
        #expect(other.headers.first(name: "Location")?.hasPrefix("http://127.0.112.10:18080/") == true)
        #expect(other.headers.first(name: "X-ECDN-Site") == "site2")

        // A viewer outside every site goes to the origin.
        let outside = try await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.0.1")
        #expect(outside.status == 302)
        #expect(outside.headers.first(name: "Location") == stack.origin.url + "/live/1/index.m3u8")
        #expect(outside.headers.first(name: "X-ECDN-Site") == "none")

        let site1 = stack.controller.contentRequests()[DesiredKey(site: "site1", tenant: "default")]
        #expect(site1 == ["/live/1": 1, "/live/2": 1])
        #expect(Router.content(of: "/vod/movie1.mp4") == "/vod/movie1.mp4")

        let ready = stack.controller.liveInstances().filter { $0.state == .ready }
        #expect(ready.count == 2)
        // Each boot is measured, and within this test's run.
        let ran = (ContinuousClock.now - began) / .milliseconds(1)
        #expect(ready.allSatisfy { $0.bootMilliseconds.map { $0 > 0 && $0 <= ran } ?? false }, "\(ready.map(\.bootMilliseconds)) in \(ran) ms")
        await stack.stop()
        #expect(stack.controller.liveInstances().allSatisfy { $0.state == .stopped })
    }

    @Test func routerAnswersOnlyGetAndHead() async throws {
        let stack = try await TestStack(octet: 113)
        let response = try await stack.client.client.request(.POST, try HTTPURL(stack.router.url + "/live/1/index.m3u8"))
        #expect(response.status == 405)
        #expect(response.headers.first(name: "Allow") == "GET, HEAD")
        await stack.stop()
    }

    @Test func whileTheCacheBootsViewersGoToTheOriginWhenTheRouterMustNotWait() async throws {
        let stack = try await TestStack(octet: 114) { $0.routerWait = 0 }
        let first = try await stack.client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.114.5")
        #expect(first.headers.first(name: "Location") == stack.origin.url + "/live/1/index.m3u8")
        #expect(first.headers.first(name: "X-ECDN-Origin-Reason") == "cache booting")
        let ready = await TestStack.eventually { stack.controller.liveInstances().contains { $0.state == .ready } }
        #expect(ready)
        let later = try await stack.client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.114.5")
        #expect(later.headers.first(name: "Location")?.hasPrefix("http://127.0.114.10:18080/") == true)
        await stack.stop()
    }

    @Test func idleCacheIsDrainedAndStopped() async throws {
        let stack = try await TestStack(octet: 115) {
            $0.idleTimeout = 0.5
            $0.viewerLease = 0.3
        }
        _ = try await stack.client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.115.5")
        #expect(stack.controller.liveInstances().first?.state == .ready)
        let stopped = await TestStack.eventually { stack.controller.liveInstances().isEmpty }
        #expect(stopped)
        let kinds = stack.controller.events().map(\.kind)
        #expect(kinds.contains("drain"))
        #expect(kinds.contains("stop"))
        let records = try await stack.controller.store.instances()
        #expect(records.count == 1)
        #expect(records.first?.state == .stopped)
        #expect(records.first?.reason?.hasPrefix("idle") == true)
        await stack.stop()
    }
}
