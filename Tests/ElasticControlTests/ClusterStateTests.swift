@testable import ElasticControl
import Testing

struct ClusterStateTests {
    @Test func sitesAppliedAtOnceAreIndexedAsWhenAppliedOneByOne() {
        let keys = ClusterKeys(root: "/test/")
        func put(_ state: inout ClusterState, site number: Int) {
            let site = SiteConfiguration(name: "s\(number)", clientPrefix: "10.0.\(number).0/24", instanceBase: "172.16.\(number).10")
            state.apply(key: keys.site(site.name), keys: keys, value: ClusterRecords.encode(SiteRecord(site)), createRevision: 1, modRevision: 1)
        }
        let order = (0..<50).map { $0 * 37 % 50 }
        var oneByOne = ClusterState()
        for number in order { put(&oneByOne, site: number) }
        var atOnce = ClusterState()
        let tenantsStamp = atOnce.tenantsStamp
        var stamp = atOnce.sitesStamp
        atOnce.applyAll { state in
            for number in order { put(&state, site: number) }
        }
        #expect(atOnce.siteIndex == oneByOne.siteIndex)
        #expect(atOnce.siteIndex["s10"] == 2)
        #expect(atOnce.sitesStamp != stamp)
        // Tenants untouched: a router keeps its tenant table.
        #expect(atOnce.tenantsStamp == tenantsStamp)

        stamp = atOnce.sitesStamp
        atOnce.applyAll { state in
            state.apply(key: keys.site("s0"), keys: keys, value: nil, createRevision: 1, modRevision: 2)
        }
        #expect(atOnce.siteIndex["s0"] == nil)
        #expect(atOnce.siteIndex["s1"] == 0)
        #expect(atOnce.sitesStamp != stamp)
    }
}
